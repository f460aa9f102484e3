import BTF
import ELF

/// What libbpf's BTF fix-ups read from the ELF file, recorded when the object is parsed (an
/// ``ObjectSpec`` keeps no ELF bytes).
struct BTFFixupFacts: Sendable {
    /// A global or weak `STT_OBJECT` symbol.
    struct ObjectSymbol: Sendable {
        /// `st_value`: the variable's offset in its section.
        var value: UInt64
        /// Whether the visibility is hidden or internal (the variable is then static for BTF).
        var isHidden: Bool
    }

    /// Section size by name, first section of each name (as libbpf's `elf_sec_by_name` finds it).
    var sectionSizes: [String: Int] = [:]
    /// Global and weak variable symbols by name, first of each name in symbol table order.
    var objectSymbols: [String: ObjectSymbol] = [:]
    /// Functions of `.text` that are global or weak with hidden or internal visibility: libbpf marks
    /// their BTF FUNC static so that the verifier checks them with their callers' context.
    var hiddenSubprograms: Set<String> = []

    /// No facts (an object built in memory).
    init() {}

    /// Reads the facts from the parsed file.
    init(file: ELFFile, symbols: [ELFSymbol], textIndex: Int?) {
        for section in file.sections where section.index != 0 && sectionSizes[section.name] == nil {
            sectionSizes[section.name] = section.size
        }
        for symbol in symbols where symbol.index != 0 && symbol.binding != .local {
            let hidden = Self.isHidden(symbol.visibility)
            if symbol.type == .object, symbol.binding == .global || symbol.binding == .weak,
               objectSymbols[symbol.name] == nil {
                objectSymbols[symbol.name] = ObjectSymbol(value: symbol.value, isHidden: hidden)
            } else if symbol.type == .function, hidden, let textIndex, Int(symbol.sectionIndex) == textIndex {
                hiddenSubprograms.insert(symbol.name)
            }
        }
    }

    /// `STV_INTERNAL` (1) or `STV_HIDDEN` (2).
    static func isHidden(_ visibility: SymbolVisibility) -> Bool {
        visibility.rawValue & 3 == 1 || visibility.rawValue & 3 == 2
    }
}

extension ObjectSpec {
    /// The name of the VAR that stands for extern functions in the `.ksyms` DATASEC (libbpf's name).
    public static let kernelSymbolPlaceholderName = "dummy_ksym"

    /// The bytes to hand to `BPF_BTF_LOAD` for a kernel with the given BTF features: the object's BTF
    /// after ``fixedUpBTF()``, sanitised for the kernel (``BTFImage/sanitize(for:)``), in host byte order;
    /// `nil` when the object has no `.BTF`.
    /// - Throws: ``ObjectError`` when the fix-ups find the BTF and the ELF file disagreeing (see
    ///   ``fixedUpBTF()``).
    public func kernelBTF(support: BTFKernelSupport) throws(ObjectError) -> [UInt8]? {
        try kernelBTF { _ in support }
    }

    /// Same as ``kernelBTF(support:)``, with the kernel's support decided once the fixed-up BTF is known:
    /// `supportFor` gets the features it uses (``BTFImage/neededFeatures``), so that a loader probes the
    /// kernel for those only.
    public func kernelBTF(supportFor: (_ needed: BTFKernelSupport) -> BTFKernelSupport) throws(ObjectError) -> [UInt8]? {
        guard var image = try fixedUpBTF() else { return nil }
        let support = supportFor(image.neededFeatures)
        do { try image.sanitize(for: support) } catch {
            throw ObjectError(.btf, "the object's BTF cannot be sanitised for the kernel", cause: error)
        }
        return image.bytes()
    }

    /// The object's BTF with the fix-ups libbpf makes before loading it (`bpf_object__collect_externs`,
    /// `bpf_object_fixup_btf`, the static marking in `bpf_object__sanitize_and_load_btf`), not yet
    /// sanitised; `nil` without `.BTF`. In order:
    ///
    /// 1. `.ksyms`: when it lists an extern function, a VAR ``kernelSymbolPlaceholderName`` (of the first
    ///    32-bit INT) is appended. When some extern is a ksym or kfunc, every entry becomes 4 bytes at
    ///    offset 4×index (the DATASEC size their sum); a function entry points at the placeholder VAR,
    ///    its FUNC becomes global and its prototype's unnamed parameters take the placeholder's name; a
    ///    variable entry becomes a global VAR of the 32-bit INT.
    /// 2. `.kconfig`: when some extern is a kconfig value, its DATASEC takes the `.kconfig` map's size,
    ///    each entry the offset of its value there, each VAR global linkage.
    /// 3. Every other DATASEC of size 0 (clang leaves sizes and offsets 0) takes its ELF section's size,
    ///    and its global variables their symbol's value as offset; a variable whose symbol is hidden
    ///    becomes static (whatever the size). Every DATASEC's entries are then sorted by offset.
    /// 4. A hidden global function of `.text` gets a static FUNC.
    ///
    /// - Throws: ``ObjectError`` when a DATASEC names no ELF section (or an empty one), lists something
    ///   other than a VAR, or a global VAR without a symbol; when `.ksyms` or `.kconfig` lists a name
    ///   with no extern; or when the BTF is malformed where the fix-ups read it.
    public func fixedUpBTF() throws(ObjectError) -> BTFImage? {
        guard let btf else { return nil }
        var image = BTFImage(btf)
        do {
            try fixUpKernelSymbols(&image, btf)
            try fixUpKconfig(&image, btf)
            try fixUpDataSections(&image, btf)
            try markHiddenSubprogramsStatic(&image, btf)
        } catch let error as ObjectError {
            throw error
        } catch let error as BTFError {
            throw ObjectError(.btf, "the object's BTF cannot be fixed up for loading", cause: error)
        } catch {
            throw ObjectError(.btf, "the object's BTF cannot be fixed up for loading: \(error)")
        }
        return image
    }

    // MARK: - Externs

    /// The first INT of 32 bits (libbpf's `find_int_btf_id`), 0 when there is none.
    func firstInt32(_ btf: TypeGraph) throws -> UInt32 {
        for id in btf.ownIDs {
            if case .int(let info) = try btf.type(id).payload, info.bits == 32 { return id }
        }
        return 0
    }

    func extern(named name: String, in section: String, _ kind: BTFKind) throws(ObjectError) -> ExternSpec {
        guard let extern = externs.first(where: { $0.name == name }) else {
            throw ObjectError(.extern, "\(kind) '\(name)' of the \(section) DATASEC has no extern symbol")
        }
        return extern
    }

    func fixUpKernelSymbols(_ image: inout BTFImage, _ btf: TypeGraph) throws {
        guard let section = btf.firstID(named: ".ksyms", kind: .dataSection) else { return }
        let entries = try btf.dataSectionVariables(of: section)
        // Found at most once: it walks every type.
        var foundInt32: UInt32?
        func int32() throws -> UInt32 {
            if let foundInt32 { return foundInt32 }
            let found = try firstInt32(btf)
            foundInt32 = found
            return found
        }
        var placeholder: UInt32 = 0
        if try entries.contains(where: { try btf.kind(of: $0.type) == .function }) {
            placeholder = try image.addVariable(named: Self.kernelSymbolPlaceholderName, type: try int32(),
                                                linkage: .global)
        }
        let used = externs.contains {
            switch $0.kind {
            case .ksym, .kfunc: true
            default: false
            }
        }
        guard used else { return }
        var fixed: [BTFDataSectionVariable] = []
        for (index, entry) in entries.enumerated() {
            let kind = try btf.kind(of: entry.type)
            let name = try btf.name(of: entry.type)
            _ = try extern(named: name, in: ".ksyms", kind)
            var entry = entry
            if kind == .function {
                let prototype = try btf.type(entry.type).sizeOrType
                let placeholderName = try image.nameOffset(of: placeholder)
                for (position, parameter) in try image.parameters(ofPrototype: prototype).enumerated()
                where parameter.type != 0 && parameter.nameOffset == 0 {
                    try image.setParameterName(placeholderName, at: position, ofPrototype: prototype)
                }
                try image.setLinkage(.global, ofFunction: entry.type)
                entry.type = placeholder
            } else {
                try image.setVariable(entry.type, type: try int32(), linkage: .global)
            }
            entry.offset = UInt32(index * 4)
            entry.size = 4
            fixed.append(entry)
        }
        try image.setDataSection(section, size: UInt32(entries.count * 4), variables: fixed)
    }

    func fixUpKconfig(_ image: inout BTFImage, _ btf: TypeGraph) throws {
        guard let section = btf.firstID(named: ".kconfig", kind: .dataSection) else { return }
        var end: UInt32?
        for extern in externs {
            if case .kconfig(let offset, let size, _) = extern.kind { end = max(end ?? 0, offset + size) }
        }
        // Without kconfig externs libbpf leaves the section alone.
        guard let end else { return }
        var fixed: [BTFDataSectionVariable] = []
        for entry in try btf.dataSectionVariables(of: section) {
            let kind = try btf.kind(of: entry.type)
            let name = try btf.name(of: entry.type)
            guard case .kconfig(let offset, _, _) = try extern(named: name, in: ".kconfig", kind).kind else {
                throw ObjectError(.extern, "\(kind) '\(name)' of the .kconfig DATASEC is not a kconfig extern")
            }
            try image.setVariable(entry.type, linkage: .global)
            var entry = entry
            entry.offset = offset
            fixed.append(entry)
        }
        try image.setDataSection(section, size: end, variables: fixed)
    }

    // MARK: - Data sections

    func fixUpDataSections(_ image: inout BTFImage, _ btf: TypeGraph) throws {
        for id in btf.ownIDs where try btf.kind(of: id) == .dataSection {
            let name = try btf.name(of: id)
            var entries = try image.dataSectionVariables(of: id)
            var size = try image.dataSectionSize(of: id)
            // Extern sections were laid out above, and not every extern keeps an ELF symbol.
            if name != ".kconfig" && name != ".ksyms" {
                let fixOffsets = size == 0
                if fixOffsets {
                    guard let sectionSize = elfSectionSize(name), sectionSize > 0 else {
                        throw ObjectError(.btf, "DATASEC '\(name)' has size 0 and no non-empty ELF section of that name gives one")
                    }
                    size = sectionSize
                }
                for index in entries.indices {
                    let type = try btf.type(entries[index].type)
                    guard case .variable(_, let linkage) = type.payload else {
                        throw ObjectError(.btf, "DATASEC '\(name)' lists type \(type.id) (\(type.kind)), not a VAR")
                    }
                    if linkage == .static || linkage == .external { continue }
                    let variable = try btf.name(of: type.id)
                    guard let symbol = btfFixupFacts.objectSymbols[variable] else {
                        throw ObjectError(.btf, "DATASEC '\(name)': no global variable symbol '\(variable)' gives VAR [\(type.id)] its offset")
                    }
                    if fixOffsets { entries[index].offset = UInt32(truncatingIfNeeded: symbol.value) }
                    if symbol.isHidden { try image.setVariable(type.id, linkage: .static) }
                }
            }
            entries = Self.sortedByOffset(entries)
            try image.setDataSection(id, size: size, variables: entries)
        }
    }

    /// The ELF section size for a DATASEC, when it fits the 32-bit size field.
    func elfSectionSize(_ name: String) -> UInt32? {
        btfFixupFacts.sectionSizes[name].flatMap { UInt32(exactly: $0) }
    }

    /// Entries in ascending offset order; equal offsets keep their order.
    static func sortedByOffset(_ entries: [BTFDataSectionVariable]) -> [BTFDataSectionVariable] {
        entries.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element)
    }

    // MARK: - Functions

    func markHiddenSubprogramsStatic(_ image: inout BTFImage, _ btf: TypeGraph) throws {
        for name in btfFixupFacts.hiddenSubprograms.sorted() {
            for id in btf.ids(named: name).sorted() {
                if case .function(_, .global) = try btf.type(id).payload {
                    try image.setLinkage(.static, ofFunction: id)
                    break
                }
            }
        }
    }
}
