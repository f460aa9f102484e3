import BTF
import ByteParsing
import ELF

/// Turns an ELF image into an ``ObjectSpec``: one pass over sections, symbols and relocations.
struct ObjectParser {
    let file: ELFFile
    let name: String
    var symbols: [ELFSymbol] = []
    var btf: TypeGraph?
    var notes: [String] = []

    /// Section indices by role.
    var textIndex: Int?
    var mapsIndex: Int?
    var legacyMapsIndex: Int?
    var dataSections: [Int] = []
    /// Static (`STB_LOCAL`) functions outside `.text`: libbpf refuses them as entry programs; we accept
    /// them, with a note, or link them as subprograms when other functions call them.
    var staticFunctions: Set<SectionSlot> = []

    /// A function's start: its ELF section index and first slot there.
    struct SectionSlot: Hashable {
        var section: Int
        var slot: Int
    }

    /// A function's start as relocations name it: its section's name and first slot there.
    struct CallTarget: Hashable {
        var section: String
        var slot: Int
    }

    init(bytes: ByteView, name: String) throws(ObjectError) {
        do { file = try ELFFile(bytes: bytes) } catch { throw ObjectError(.elf, "not a valid BPF object", cause: error) }
        self.name = name
    }

    mutating func parse() throws(ObjectError) -> ObjectSpec {
        do { symbols = try file.symbols() } catch { throw ObjectError(.elf, "cannot read the symbol table", cause: error) }
        try readBTF()
        classifySections()
        let license = try readLicense()
        let version = try readVersion()
        var maps = try BTFMapParser(parser: self).parse()
        maps += try readLegacyMaps()
        let (dataMaps, variables) = try readGlobalData()
        maps += dataMaps
        let (externs, externNotes) = try ExternClassifier(parser: self).classifyWithNotes()
        notes += externNotes
        if let kconfig = ExternClassifier.kconfigMap(externs: externs, objectName: name, dataSection: dataSection(named: ".kconfig")) { maps.append(kconfig) }
        let ext = try readBTFExt()
        var functions = try readFunctions()
        try attachRelocations(to: &functions, maps: maps, variables: variables, externs: externs)
        attachExtRecords(ext, to: &functions)

        var programs: [ProgramSpec] = []
        var subprograms: [FunctionSpec] = []
        let called = Self.calledFunctions(functions)
        for function in functions {
            if function.sectionIndex == textIndex {
                subprograms.append(function)
            } else if isCalledHelper(function, called: called) {
                notes.append("function '\(function.name)' of section '\(function.sectionName)' is called by other functions: linked into its callers as a subprogram (as cilium/ebpf does), not loaded as a program")
                subprograms.append(function)
            } else {
                if staticFunctions.contains(SectionSlot(section: function.sectionIndex, slot: function.sectionSlot)) {
                    notes.append("program '\(function.name)' in section '\(function.sectionName)' is static: accepted as cilium/ebpf does (libbpf ≥ 1.0 refuses static entry programs)")
                }
                programs.append(makeProgram(function))
            }
        }
        return ObjectSpec(
            name: name, byteOrder: file.byteOrder, license: license, kernelVersion: version,
            programs: programs, subprograms: subprograms, maps: maps, variables: variables,
            externs: externs, btf: btf, notes: notes)
    }

    // MARK: - Sections

    mutating func classifySections() {
        for section in file.sections where section.index != 0 {
            let name = section.name
            switch section.type {
            case .progbits where section.isExecutable:
                if name == ".text" { textIndex = section.index }
            case .progbits, .nobits:
                if name == ".maps" {
                    mapsIndex = section.index
                } else if name == "maps" {
                    legacyMapsIndex = section.index
                } else if Self.isDataSection(name) {
                    dataSections.append(section.index)
                } else if name == "license" || name == "version" || name == ".BTF" || name == ".BTF.ext"
                            || name.hasPrefix(".debug") || name == ".eh_frame" || name == ".llvm_addrsig" {
                    continue
                } else if section.size > 0 || section.type == .nobits {
                    notes.append("skipped section \(section.index) '\(name)': not a program, map or data section")
                }
            default:
                continue
            }
        }
    }

    /// `.data*`, `.rodata*`, `.bss*`: each becomes a one-entry array map.
    static func isDataSection(_ name: String) -> Bool {
        for prefix in [".data", ".rodata", ".bss"] where name.utf8.starts(with: prefix.utf8) {
            let rest = name.utf8.dropFirst(prefix.utf8.count)
            if rest.isEmpty || rest.first == UInt8(ascii: ".") { return true }
        }
        return false
    }

    func symbolsDefined(in sectionIndex: Int) -> [ELFSymbol] {
        symbols.filter { Int($0.sectionIndex) == sectionIndex && $0.index != 0 }
    }

    func readLicense() throws(ObjectError) -> String {
        guard let section = file.section(named: "license") else { return "" }
        let bytes = file.contents(of: section)
        guard let text = bytes.cString(at: 0) else {
            throw ObjectError(.section, "the license section (\(section.size) bytes at 0x\(String(section.offset, radix: 16))) is not a NUL-terminated string")
        }
        return text
    }

    func readVersion() throws(ObjectError) -> UInt32 {
        guard let section = file.section(named: "version") else { return 0 }
        guard section.size == 4, let value = file.contents(of: section).u32(0) else {
            throw ObjectError(.section, "the version section is \(section.size) bytes; expected a 4-byte kernel version")
        }
        return value
    }

    // MARK: - BTF

    mutating func readBTF() throws(ObjectError) {
        guard let section = file.section(named: ".BTF") else { return }
        do {
            btf = try TypeGraph(data: file.contents(of: section))
        } catch {
            throw ObjectError(.btf, "section .BTF at byte 0x\(String(section.offset, radix: 16)) is malformed", cause: error)
        }
    }

    func readBTFExt() throws(ObjectError) -> BTFExt? {
        guard let section = file.section(named: ".BTF.ext"), let btf else { return nil }
        do {
            return try BTFExt(data: file.contents(of: section), strings: btf)
        } catch {
            throw ObjectError(.btf, "section .BTF.ext at byte 0x\(String(section.offset, radix: 16)) is malformed", cause: error)
        }
    }

    /// The DATASEC of the object's BTF named `name`, if any.
    func dataSection(named name: String) -> UInt32? {
        btf?.firstID(named: name, kind: .dataSection)
    }

    // MARK: - Legacy maps

    func readLegacyMaps() throws(ObjectError) -> [MapSpec] {
        guard let index = legacyMapsIndex else { return [] }
        let section = file.sections[index]
        let definitions = symbolsDefined(in: index).filter { $0.type != .section && !$0.name.isEmpty }
            .sorted { $0.value < $1.value }
        guard !definitions.isEmpty else { return [] }
        guard section.size % definitions.count == 0 else {
            throw ObjectError(.map, "legacy maps section: \(section.size) bytes do not divide into \(definitions.count) map definitions")
        }
        let recordSize = section.size / definitions.count
        guard recordSize >= 20, recordSize % 4 == 0 else {
            throw ObjectError(.map, "legacy maps section: a \(recordSize)-byte record is too small for struct bpf_map_def (20 bytes)")
        }
        let bytes = file.contents(of: section)
        var maps: [MapSpec] = []
        for symbol in definitions {
            let at = Int(clamping: symbol.value)
            guard at % recordSize == 0, section.type != .nobits, bytes.contains(at, recordSize) else {
                throw ObjectError(.map, "legacy map '\(symbol.name)' at offset \(symbol.value) is not a whole \(recordSize)-byte record of the maps section")
            }
            var fields: [UInt32] = []
            for i in 0..<(recordSize / 4) { fields.append(bytes.u32(unchecked: at + i * 4)) }
            let extra = Array(fields.dropFirst(5))
            // iproute2's bpf_elf_map: id, pinning, inner_id, inner_idx follow map_flags.
            let pinning: MapPinning = extra.count >= 2 && extra[1] != 0 ? .iproute2(extra[1]) : .none
            maps.append(MapSpec(
                name: symbol.name, kernelName: KernelName.sanitized(symbol.name),
                type: MapType(rawValue: fields[0]), keySize: fields[1], valueSize: fields[2],
                maxEntries: fields[3], flags: fields[4], numaNode: 0, pinning: pinning, mapExtra: 0,
                keyTypeID: 0, valueTypeID: 0, innerMap: nil, initialSlots: [], origin: .legacy(extraFields: extra),
                initialValue: nil, sectionIndex: index, sectionOffset: symbol.value))
        }
        return maps
    }

    // MARK: - Global data

    func readGlobalData() throws(ObjectError) -> ([MapSpec], [VariableSpec]) {
        var maps: [MapSpec] = []
        var variables: [VariableSpec] = []
        for index in dataSections {
            let section = file.sections[index]
            let readOnly = section.name.hasASCIIPrefix(".rodata")
            let datasec = dataSection(named: section.name)
            var variableTypes: [String: (type: UInt32, global: Bool)] = [:]
            var hasGlobal = false
            if let btf, let datasec {
                do {
                    for entry in try btf.dataSectionVariables(of: datasec) {
                        let variable = try btf.type(entry.type)
                        guard case .variable(let type, let linkage) = variable.payload else { continue }
                        let isGlobal = linkage == .global
                        hasGlobal = hasGlobal || isGlobal
                        variableTypes[try btf.name(of: entry.type)] = (type, isGlobal)
                    }
                } catch {
                    throw ObjectError(.btf, "DATASEC '\(section.name)' is malformed", cause: error)
                }
            }
            var flags: UInt32 = readOnly ? MapFlag.readOnlyForPrograms : 0
            // libbpf: mmapable when at least one variable is visible to user space.
            if hasGlobal { flags |= MapFlag.mmapable }
            let image = section.type == .nobits ? [UInt8](repeating: 0, count: section.size) : file.contents(of: section).allBytes
            maps.append(MapSpec(
                name: section.name, kernelName: KernelName.forInternalMap(object: name, section: section.name),
                type: .array, keySize: 4, valueSize: UInt32(clamping: section.size), maxEntries: 1, flags: flags,
                numaNode: 0, pinning: .none, mapExtra: 0, keyTypeID: 0, valueTypeID: datasec ?? 0,
                innerMap: nil, initialSlots: [], origin: .globalData(section: section.name),
                initialValue: image, sectionIndex: index, sectionOffset: 0))
            for symbol in symbolsDefined(in: index) where symbol.type == .object && !symbol.name.isEmpty {
                guard symbol.value <= UInt64(section.size), symbol.size <= UInt64(section.size) - symbol.value else {
                    throw ObjectError(.variable, "variable '\(symbol.name)' (\(symbol.size) bytes at offset \(symbol.value)) lies outside section '\(section.name)' (\(section.size) bytes)")
                }
                let info = variableTypes[symbol.name]
                variables.append(VariableSpec(
                    name: symbol.name, section: section.name, offset: symbol.value, size: symbol.size,
                    typeID: info?.type ?? 0,
                    isGlobal: info?.global ?? (symbol.binding != .local && symbol.visibility != .hidden),
                    isReadOnly: readOnly))
            }
        }
        return (maps, variables)
    }

    // MARK: - Functions

    mutating func readFunctions() throws(ObjectError) -> [FunctionSpec] {
        var functions: [FunctionSpec] = []
        for section in file.sections where section.type == .progbits && section.isExecutable && section.size > 0 {
            guard section.size % 8 == 0 else {
                throw ObjectError(.program, "code section '\(section.name)' is \(section.size) bytes, not a whole number of 8-byte instructions")
            }
            let code: [Instruction]
            do {
                code = try Instruction.decode(file.contents(of: section))
            } catch {
                throw ObjectError(.program, "code section '\(section.name)' cannot be decoded", cause: error)
            }
            let slots = section.size / 8
            let defined = symbolsDefined(in: section.index).filter { $0.type == .function }.sorted { $0.value < $1.value }
            if defined.isEmpty {
                throw ObjectError(.program, "code section '\(section.name)' has no function symbol")
            }
            for (position, symbol) in defined.enumerated() {
                guard symbol.value % 8 == 0, symbol.value < UInt64(section.size) else {
                    throw ObjectError(.program, "function '\(symbol.name)' starts at offset \(symbol.value) of '\(section.name)', which is not an instruction inside the section")
                }
                let start = Int(symbol.value / 8)
                let next = position + 1 < defined.count ? Int(defined[position + 1].value / 8) : slots
                let end = symbol.size > 0 ? start + Int(clamping: symbol.size / 8) : next
                guard symbol.size % 8 == 0, end <= slots, end > start else {
                    throw ObjectError(.program, "function '\(symbol.name)' (\(symbol.size) bytes at offset \(symbol.value)) does not fit section '\(section.name)'")
                }
                if section.name != ".text", symbol.binding == .local {
                    staticFunctions.insert(SectionSlot(section: section.index, slot: start))
                }
                functions.append(FunctionSpec(
                    name: symbol.name, sectionName: section.name, sectionIndex: section.index, sectionSlot: start,
                    instructions: Array(code[start..<end]), isGlobal: symbol.binding != .local && symbol.visibility != .hidden,
                    relocations: [], coreRelocations: [], functionInfo: [], lineInfo: []))
            }
        }
        return functions
    }

    /// The starts of every function some other function calls or takes the address of: relocated calls
    /// and callbacks (by section name, which is how relocations name them), and pc-relative calls
    /// within a section.
    static func calledFunctions(_ functions: [FunctionSpec]) -> Set<CallTarget> {
        var called: Set<CallTarget> = []
        for function in functions {
            // Slots the relocations patch, ascending, consumed as the instruction walk below passes them.
            var relocated = function.relocations.map(\.slot).sorted()[...]
            for relocation in function.relocations {
                switch relocation.target {
                case .call(let section, let slot, _), .callback(let section, let slot, _):
                    if section != function.sectionName || slot != function.sectionSlot { called.insert(CallTarget(section: section, slot: slot)) }
                default:
                    continue
                }
            }
            for (slot, instruction) in function.instructions.enumerated() where instruction.isFunctionCall {
                while let next = relocated.first, next < slot { relocated.removeFirst() }
                if relocated.first == slot { continue }
                let target = function.sectionSlot + slot + 1 + Int(instruction.imm)
                if target != function.sectionSlot { called.insert(CallTarget(section: function.sectionName, slot: target)) }
            }
        }
        return called
    }

    /// Whether a function outside `.text` is a helper other functions call rather than an entry program:
    /// it is called, and it is static or its section names no program type. cilium/ebpf links such calls;
    /// libbpf refuses calls outside `.text` (and static functions there). A global function in a program
    /// section stays an entry program (calling it is refused at link time, as in libbpf).
    func isCalledHelper(_ function: FunctionSpec, called: Set<CallTarget>) -> Bool {
        guard called.contains(CallTarget(section: function.sectionName, slot: function.sectionSlot)) else { return false }
        if staticFunctions.contains(SectionSlot(section: function.sectionIndex, slot: function.sectionSlot)) { return true }
        return (try? ProgramSection(function.sectionName)) == nil
    }

    /// An entry program from its function; an unknown section is kept (type unspecified) so the rest of
    /// the object can be examined, and only loading that program fails, as with libbpf.
    mutating func makeProgram(_ function: FunctionSpec) -> ProgramSpec {
        let autoload = !function.sectionName.hasPrefix("?")
        let shownName = autoload ? function.sectionName : String(function.sectionName.dropFirst())
        let section: ProgramSection
        do {
            section = try ProgramSection(function.sectionName)
        } catch {
            notes.append("program '\(function.name)': \(error)")
            return ProgramSpec(function: function, sectionName: shownName, type: .unspecified, expectedAttachType: nil,
                               isSleepable: false, autoload: autoload, attachTarget: nil, section: nil)
        }
        var target: AttachTarget?
        do { target = try section.attachTarget() } catch {
            notes.append("program '\(function.name)': \(error)")
        }
        return ProgramSpec(
            function: function, sectionName: shownName, type: section.programType,
            expectedAttachType: section.expectedAttachType, isSleepable: section.isSleepable,
            autoload: section.autoload, attachTarget: target, section: section.definition)
    }

    /// The records of one ELF section in a `.BTF.ext` subsection.
    func records<Record>(_ sections: [BTFExtSection<Record>], _ name: String) -> [Record] {
        sections.first { $0.sectionName == name }?.records ?? []
    }

    func attachExtRecords(_ ext: BTFExt?, to functions: inout [FunctionSpec]) {
        guard let ext else { return }
        for index in functions.indices {
            let function = functions[index]
            let range = function.sectionSlot..<(function.sectionSlot + function.instructions.count)
            func local(_ byteOffset: UInt32) -> Int? {
                let slot = Int(byteOffset / 8)
                return range.contains(slot) ? slot - range.lowerBound : nil
            }
            let name = function.sectionName
            functions[index].functionInfo = records(ext.functionInfo, name).compactMap { record in
                local(record.instructionOffset).map { FunctionInfoRecord(slot: $0, typeID: record.typeID) }
            }
            functions[index].lineInfo = records(ext.lineInfo, name).compactMap { record in
                local(record.instructionOffset).map {
                    LineInfoRecord(slot: $0, fileName: btf?.string(at: record.fileNameOffset) ?? "",
                                   lineText: btf?.string(at: record.lineOffset) ?? "",
                                   line: record.line, column: record.column,
                                   fileNameOffset: record.fileNameOffset, lineTextOffset: record.lineOffset)
                }
            }
            guard let block = ext.coreRelocations.firstIndex(where: { $0.sectionName == name }) else { continue }
            functions[index].coreRelocations = ext.coreRelocations[block].records.enumerated().compactMap { position, record in
                local(record.instructionOffset).map {
                    CoreRelocationSpec(slot: $0, typeID: record.typeID,
                                       accessString: btf?.string(at: record.accessStringOffset) ?? "",
                                       kind: record.kind, accessStringOffset: record.accessStringOffset,
                                       extSectionOrder: block, recordIndex: position)
                }
            }
        }
    }
}

/// Kernel-side object names: at most 15 characters of `[A-Za-z0-9_.]`.
public enum KernelName {
    /// `BPF_OBJ_NAME_LEN` less the terminating NUL.
    public static let maximumLength = 15

    /// Replaces characters the kernel refuses in map and program names (all but `[A-Za-z0-9_.]`) with `_`
    /// and truncates to ``maximumLength``.
    public static func sanitized(_ name: String) -> String {
        // ASCII tests on bytes, as the kernel's check is (Character's Unicode properties are also slow to
        // load the first time).
        String(decoding: name.utf8.prefix(maximumLength).map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."): byte
            default: UInt8(ascii: "_")
            }
        }, as: UTF8.self)
    }

    /// libbpf's internal map name: a prefix of the object name plus the section name (`hello.rodata`);
    /// a section name with a second dot (`.rodata.str1.1`) keeps no prefix.
    static func forInternalMap(object: String, section: String) -> String {
        let suffixLength = min(max(7, section.utf8.count), maximumLength)
        let prefixLength = section.utf8.dropFirst().contains(UInt8(ascii: ".")) ? 0 : min(maximumLength - suffixLength, object.utf8.count)
        var bytes = Array(object.utf8.prefix(prefixLength))
        bytes += section.utf8.prefix(suffixLength)
        return sanitized(String(decoding: bytes, as: UTF8.self))
    }
}
