import ByteParsing

/// One program's final instruction stream, every relocation applied, with what `BPF_PROG_LOAD` needs
/// besides: `func_info` and `line_info` in the kernel's layout, the module BTFs behind `fd_array`, and
/// what explains a poisoned instruction.
///
/// Produced offline by ``ObjectSpec/finalProgram(_:mapDescriptor:externs:)`` from a ``LinkedProgram``.
/// Map fds are known then (the caller created the maps); module BTF fds usually are not, so the two
/// places that need them are described instead of filled:
/// - kfunc calls into a module carry an `fd_array` index in their `off`; ``fdArrayModules`` says which
///   module's BTF fd goes at which index, and ``fdArray(moduleBTFDescriptor:)`` builds the array.
/// - `LD_IMM64` loads of a typed ksym (or a kfunc's address) that lives in a module need that module's BTF
///   fd in the second slot's `imm`; ``moduleBTFReferences`` lists them with 0 written there, and
///   ``instructions(moduleBTFDescriptor:)`` / ``instructionBytes(moduleBTFDescriptor:)`` fill them in.
/// A program without module references (``needsModuleBTFDescriptors`` false) is ready as it is.
public struct FinalProgram: Sendable {
    /// A `func_info` record as the kernel takes it (`struct bpf_func_info`, 8 bytes).
    public struct FunctionInfo: Sendable, Hashable {
        /// Instruction index of the function's first instruction (`insn_off`, in instructions).
        public var instructionOffset: UInt32
        /// BTF `FUNC` type id in the object's BTF (`type_id`).
        public var typeID: UInt32
    }

    /// A `line_info` record as the kernel takes it (`struct bpf_line_info`, 16 bytes).
    public struct LineInfo: Sendable, Hashable {
        /// Instruction index (`insn_off`, in instructions).
        public var instructionOffset: UInt32
        /// String offset of the file name in the object's BTF (`file_name_off`).
        public var fileNameOffset: UInt32
        /// String offset of the source line in the object's BTF (`line_off`).
        public var lineOffset: UInt32
        /// `line << 10 | column` (`line_col`).
        public var lineColumn: UInt32
        /// The line number.
        public var line: UInt32 { lineColumn >> 10 }
        /// The column.
        public var column: UInt32 { lineColumn & 0x3ff }
    }

    /// An `LD_IMM64` of a BTF id that lives in a module: its second slot's `imm` must hold the module's
    /// BTF object fd (0 is written until the fd is known).
    public struct ModuleBTFReference: Sendable, Hashable {
        /// Slot of the `LD_IMM64`'s first half.
        public var slot: Int
        /// Index into ``ExternValueSource/moduleBTFs``.
        public var module: Int
        /// The extern loaded.
        public var extern: String
    }

    /// An instruction turned into a call of an invalid helper, as libbpf does, so the verifier rejects it
    /// only if it is reachable; its log then says `invalid func unknown#<helperID>`.
    public struct Poison: Sendable, Hashable {
        /// Why the instruction is poisoned.
        public enum Cause: Sendable, Hashable {
            /// An `LD_IMM64` of a map that was not created (no fd given): both slots are poisoned.
            case mapNotCreated(map: String, index: Int)
            /// A call of a weak kfunc the kernel does not have (or whose prototype disagrees).
            case kfuncAbsent(extern: String, index: Int)
        }
        /// The poisoned slot (for a map load, the first of the two).
        public var slot: Int
        /// Why.
        public var cause: Cause
        /// The invalid helper id written (`2001000000 + map index`, `2002000000 + extern index`).
        public var helperID: Int32
    }

    /// libbpf's base of the helper id written over a load of a map that was not created.
    public static let poisonedMapHelperBase: Int32 = 2_001_000_000
    /// libbpf's base of the helper id written over a call of an absent weak kfunc.
    public static let poisonedKfuncHelperBase: Int32 = 2_002_000_000
    /// Size of one `func_info` record in ``functionInfoBytes`` (`func_info_rec_size`).
    public static let functionInfoRecordSize = 8
    /// Size of one `line_info` record in ``lineInfoBytes`` (`line_info_rec_size`).
    public static let lineInfoRecordSize = 16

    /// The entry program (type, expected attach type, attach target, name).
    public var program: ProgramSpec
    /// The program's name.
    public var name: String { program.name }
    /// The final instructions; module BTF fds of ``moduleBTFReferences`` are 0 here.
    public var instructions: [Instruction]
    /// The functions of the stream in layout order (to name the function holding an instruction).
    public var functions: [LinkedFunction]
    /// `func_info` records in instruction order; empty when the program has none.
    public var functionInfo: [FunctionInfo]
    /// `line_info` records in instruction order; empty when the program has none.
    public var lineInfo: [LineInfo]
    /// The CO-RE records at their final slots, to explain a rejected CO-RE poison (`call 0xbad2310`).
    public var coreRelocations: [LinkedCoreRelocation]
    /// Module BTFs for `fd_array`: `fdArrayModules[i]` (an index into ``ExternValueSource/moduleBTFs``)
    /// goes at `fd_array[i + 1]`. The object's whole list, as libbpf passes one array for every program.
    public var fdArrayModules: [Int]
    /// `LD_IMM64` loads whose second slot needs a module's BTF fd.
    public var moduleBTFReferences: [ModuleBTFReference]
    /// Instructions poisoned by missing maps or absent weak kfuncs, in slot order.
    public var poisons: [Poison]

    /// Whether module BTF fds are needed (for `fd_array` or an `LD_IMM64`).
    public var needsModuleBTFDescriptors: Bool { !fdArrayModules.isEmpty || !moduleBTFReferences.isEmpty }

    /// The instructions in the host's byte order, for `BPF_PROG_LOAD`'s `insns` (module BTF fds 0).
    public var instructionBytes: [UInt8] { Instruction.encode(instructions, order: .host) }

    /// The instructions with each module reference's second slot set to the module's BTF fd.
    /// - Parameter moduleBTFDescriptor: the BTF object fd of a module (an index into
    ///   ``ExternValueSource/moduleBTFs``).
    public func instructions(moduleBTFDescriptor: (Int) -> Int32) -> [Instruction] {
        var result = instructions
        for reference in moduleBTFReferences where reference.slot + 1 < result.count {
            result[reference.slot + 1].imm = moduleBTFDescriptor(reference.module)
        }
        return result
    }

    /// ``instructions(moduleBTFDescriptor:)`` in the host's byte order, for `BPF_PROG_LOAD`'s `insns`.
    public func instructionBytes(moduleBTFDescriptor: (Int) -> Int32) -> [UInt8] {
        Instruction.encode(instructions(moduleBTFDescriptor: moduleBTFDescriptor), order: .host)
    }

    /// `BPF_PROG_LOAD`'s `fd_array`: 0 at index 0 (vmlinux needs no fd), then each module's BTF fd at the
    /// index its kfunc calls carry; empty when no kfunc lives in a module (pass no array then).
    public func fdArray(moduleBTFDescriptor: (Int) -> Int32) -> [Int32] {
        guard !fdArrayModules.isEmpty else { return [] }
        return [0] + fdArrayModules.map(moduleBTFDescriptor)
    }

    /// ``functionInfo`` as `BPF_PROG_LOAD`'s `func_info`, host byte order, ``functionInfoRecordSize`` each.
    public var functionInfoBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(functionInfo.count * Self.functionInfoRecordSize)
        for record in functionInfo {
            Self.append(record.instructionOffset, to: &bytes)
            Self.append(record.typeID, to: &bytes)
        }
        return bytes
    }

    /// ``lineInfo`` as `BPF_PROG_LOAD`'s `line_info`, host byte order, ``lineInfoRecordSize`` each.
    public var lineInfoBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(lineInfo.count * Self.lineInfoRecordSize)
        for record in lineInfo {
            for word in [record.instructionOffset, record.fileNameOffset, record.lineOffset, record.lineColumn] {
                Self.append(word, to: &bytes)
            }
        }
        return bytes
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// The poison recorded for `slot`, if the instruction there was poisoned by the loader.
    public func poison(at slot: Int) -> Poison? { poisons.first { $0.slot == slot } }
}

extension ObjectSpec {
    /// Applies every data relocation of a linked program, as libbpf's `bpf_object__relocate_data` does:
    ///
    /// | relocation | becomes |
    /// |---|---|
    /// | map (`.maps`, legacy `maps`) | `LD_IMM64` `src` `BPF_PSEUDO_MAP_FD` (1), `imm` = fd |
    /// | global data | `src` `BPF_PSEUDO_MAP_VALUE` (2), `imm` = fd, second `imm` = offset in the value |
    /// | `__kconfig` extern | `BPF_PSEUDO_MAP_VALUE` into `.kconfig`, second `imm` = the extern's offset |
    /// | typed `__ksym`, kfunc address | `src` `BPF_PSEUDO_BTF_ID` (3), `imm` = BTF id, second `imm` = BTF object fd (0 vmlinux; a module's in ``FinalProgram/moduleBTFReferences``) |
    /// | typeless `__ksym`, absent weak `__ksym` | plain `LD_IMM64` of the address (0) |
    /// | kfunc call | `src` `BPF_PSEUDO_KFUNC_CALL` (2), `imm` = BTF FUNC id, `off` = `fd_array` index |
    /// | absent weak kfunc | `call 2002000000 + extern index` (libbpf's poison) |
    /// | map with no fd | both slots `call 2001000000 + map index` (libbpf's poison for maps not created) |
    ///
    /// Calls and callbacks were rewritten by the linker; CO-RE was applied before linking.
    ///
    /// - Parameters:
    ///   - linked: a program of this spec, linked (``link(_:)``).
    ///   - mapDescriptor: the fd of the map with a given ``MapSpec/name`` (`.rodata`, `.data`, `.kconfig`, a
    ///     user map's name), or `nil` when that map was not created (its loads are poisoned).
    ///   - externs: this spec's externs, resolved.
    /// - Throws: ``ObjectError`` naming the program, the instruction and the relocation when a relocation
    ///   cannot be applied: a map, variable or extern the spec does not have, an extern no BTF describes
    ///   or whose value does not fit the instruction, an instruction of the wrong kind, a global data
    ///   offset outside its map's value.
    public func finalProgram(_ linked: LinkedProgram, mapDescriptor: (String) -> Int32?,
                             externs: ResolvedExterns) throws(ObjectError) -> FinalProgram {
        var instructions = linked.instructions
        var references: [FinalProgram.ModuleBTFReference] = []
        var poisons: [FinalProgram.Poison] = []
        // The first map and extern of each name, as the relocations name them.
        let mapIndices = Dictionary(maps.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let resolvedExterns = Dictionary(externs.externs.map { ($0.extern.name, $0) }, uniquingKeysWith: { a, _ in a })

        for item in linked.relocations {
            let slot = item.slot
            let relocation = item.relocation
            func failure(_ what: String) -> ObjectError {
                ObjectError(.relocation, "program '\(linked.name)': instruction \(slot) (slot \(relocation.slot) of function '\(item.function)'), \(relocation.kindName) relocation against '\(relocation.symbol)': \(what)")
            }
            func requireLoad() throws(ObjectError) {
                guard slot >= 0, slot + 1 < instructions.count, instructions[slot].isLoadImm64 else {
                    throw failure("the instruction is not a 64-bit immediate load (LD_IMM64)")
                }
            }
            /// Sets an LD_IMM64 to a map (fd or value), or poisons it when the map was not created.
            func loadMap(_ name: String, source: LoadImm64Source, offset: Int32) throws(ObjectError) {
                guard let index = mapIndices[name] else { throw failure("the object has no map '\(name)'") }
                guard let fd = mapDescriptor(name) else {
                    let helper = FinalProgram.poisonedMapHelperBase &+ Int32(clamping: index)
                    instructions[slot] = .call(helper: helper)
                    instructions[slot + 1] = .call(helper: helper)
                    poisons.append(.init(slot: slot, cause: .mapNotCreated(map: name, index: index), helperID: helper))
                    return
                }
                instructions[slot].src = source.rawValue
                instructions[slot].imm = fd
                instructions[slot + 1].imm = source == .mapValue ? offset : 0
            }
            func loadBTFID(_ id: UInt32, object: KernelBTFObject, extern: String) {
                instructions[slot].src = LoadImm64Source.btfID.rawValue
                instructions[slot].imm = Int32(bitPattern: id)
                instructions[slot + 1].imm = 0
                if case .module(let module) = object {
                    references.append(.init(slot: slot, module: module, extern: extern))
                }
            }

            switch relocation.target {
            case .call, .callback:
                continue  // rewritten by the linker
            case .map(let name):
                try requireLoad()
                try loadMap(name, source: .mapFD, offset: 0)
            case .globalData(let name, let addend, _):
                try requireLoad()
                guard let map = mapIndices[name].map({ maps[$0] }) else { throw failure("the object has no map '\(name)'") }
                guard addend >= 0, addend < Int64(map.valueSize), let offset = Int32(exactly: addend) else {
                    throw failure("offset \(addend) lies outside the \(map.valueSize)-byte value of map '\(name)'")
                }
                try loadMap(name, source: .mapValue, offset: offset)
            case .externVariable(let name):
                try requireLoad()
                guard let resolved = resolvedExterns[name] else {
                    throw failure("extern '\(name)' is not among the resolved externs (resolved for another object?)")
                }
                if case .kconfig(let offset, _, _) = resolved.extern.kind {
                    guard let mapOffset = Int32(exactly: offset) else { throw failure("kconfig offset \(offset) does not fit") }
                    try loadMap(".kconfig", source: .mapValue, offset: mapOffset)
                    continue
                }
                switch resolved.value {
                case .kernelVariable(let id, let object), .kernelFunction(let id, let object, _):
                    loadBTFID(id, object: object, extern: name)
                case .address(let address):
                    instructions.setLoadImm64Value(address, at: slot)
                case .absent:
                    instructions.setLoadImm64Value(0, at: slot)
                case .unresolvable(let reason):
                    throw ObjectError(.extern, "program '\(linked.name)': instruction \(slot) loads extern '\(name)', which cannot be resolved: \(reason)")
                case .kconfig:
                    throw failure("extern '\(name)' has a kconfig value but is not a __kconfig extern")
                }
            case .kfunc(let name):
                guard slot >= 0, slot < instructions.count, instructions[slot].isCall else {
                    throw failure("the instruction is not a call")
                }
                guard let resolved = resolvedExterns[name] else {
                    throw failure("extern '\(name)' is not among the resolved externs (resolved for another object?)")
                }
                switch resolved.value {
                case .kernelFunction(let id, _, let index):
                    instructions[slot].src = CallKind.kfunc.rawValue
                    instructions[slot].imm = Int32(bitPattern: id)
                    instructions[slot].offset = index
                case .absent:
                    let helper = FinalProgram.poisonedKfuncHelperBase &+ Int32(clamping: resolved.index)
                    instructions[slot] = .call(helper: helper)
                    poisons.append(.init(slot: slot, cause: .kfuncAbsent(extern: name, index: resolved.index), helperID: helper))
                case .unresolvable(let reason):
                    throw ObjectError(.extern, "program '\(linked.name)': instruction \(slot) calls extern '\(name)', which cannot be resolved: \(reason)")
                case .kconfig, .kernelVariable, .address:
                    throw failure("extern '\(name)' is called but is not a kernel function")
                }
            }
        }

        let functionInfo = linked.functionInfo.map {
            FinalProgram.FunctionInfo(instructionOffset: UInt32(truncatingIfNeeded: $0.slot), typeID: $0.typeID)
        }
        let lineInfo = linked.lineInfo.map {
            FinalProgram.LineInfo(instructionOffset: UInt32(truncatingIfNeeded: $0.slot), fileNameOffset: $0.fileNameOffset,
                                  lineOffset: $0.lineTextOffset, lineColumn: $0.line << 10 | ($0.column & 0x3ff))
        }
        return FinalProgram(
            program: linked.program, instructions: instructions, functions: linked.functions,
            functionInfo: functionInfo, lineInfo: lineInfo, coreRelocations: linked.coreRelocations,
            fdArrayModules: externs.fdArrayModules, moduleBTFReferences: references,
            poisons: poisons.sorted { $0.slot < $1.slot })
    }
}
