import BTF

/// A function in an executable section: an entry program (outside `.text`) or a subprogram (in `.text`).
public struct FunctionSpec: Sendable {
    /// Symbol name.
    public var name: String
    /// Name of the ELF section holding the code.
    public var sectionName: String
    /// ELF section index.
    public var sectionIndex: Int
    /// First instruction slot of the function within its section.
    public var sectionSlot: Int
    /// The function's instructions (an `LD_IMM64` takes two slots), as in the file.
    public var instructions: [Instruction]
    /// Whether the symbol is global (callable across objects; the verifier checks global functions alone).
    public var isGlobal: Bool
    /// Relocations whose instruction lies in this function, ordered by slot.
    public var relocations: [RelocationSpec]
    /// CO-RE relocation records of this function (`.BTF.ext`), slots relative to the function.
    public var coreRelocations: [CoreRelocationSpec]
    /// `func_info` records, slots relative to the function.
    public var functionInfo: [FunctionInfoRecord]
    /// `line_info` records, slots relative to the function.
    public var lineInfo: [LineInfoRecord]
}

/// An entry program: what the kernel loads and the user attaches.
public struct ProgramSpec: Sendable {
    /// The function (name, code, relocations, BTF.ext records).
    public var function: FunctionSpec
    /// The section name without a leading `?` (as libbpf reports it); the ELF name is in
    /// `function.sectionName`.
    public var sectionName: String
    /// Program type decided by the section name.
    public var type: ProgramType
    /// Expected attach type decided by the section name (`nil` when the program type has none).
    public var expectedAttachType: AttachType?
    /// Whether the program is sleepable (`.s` sections).
    public var isSleepable: Bool
    /// Whether the program is loaded by default: false for `?`-prefixed sections; the user may change it.
    public var autoload: Bool
    /// The attach target the section name spells out, if it names one.
    public var attachTarget: AttachTarget?
    /// The matched section definition; `nil` for a section the loader does not know (such a program
    /// can be inspected but not loaded).
    public var section: SectionDefinition?

    /// The program's name (its symbol name).
    public var name: String { function.name }
    /// The program's own instructions (before subprograms are linked in).
    public var instructions: [Instruction] { function.instructions }
}

/// A `.BTF.ext` record tied to an instruction slot, which linking moves with its function.
/// (A protocol rather than key paths: a key path's classes are instantiated at run time on first use.)
protocol SlotRecord {
    /// Instruction slot, relative to the owning function until linked.
    var slot: Int { get set }
}

/// A `func_info` record: the BTF `FUNC` type of the function starting at a slot.
public struct FunctionInfoRecord: Sendable, Hashable, SlotRecord {
    /// Instruction slot, relative to the owning function.
    public var slot: Int
    /// BTF type id of the `FUNC`.
    public var typeID: UInt32
}

/// A `line_info` record: the source line of the instruction at a slot.
public struct LineInfoRecord: Sendable, Hashable, SlotRecord {
    /// Instruction slot, relative to the owning function.
    public var slot: Int
    /// Source file name.
    public var fileName: String
    /// The source line's text.
    public var lineText: String
    /// Line number.
    public var line: UInt32
    /// Column number.
    public var column: UInt32
    /// Raw string offsets, kept so the record can be handed to the kernel unchanged.
    public var fileNameOffset: UInt32, lineTextOffset: UInt32
}

/// A CO-RE relocation record from `.BTF.ext`, to be resolved against a target kernel's BTF.
public struct CoreRelocationSpec: Sendable, Hashable {
    /// Instruction slot, relative to the owning function.
    public var slot: Int
    /// Local BTF type id of the root type.
    public var typeID: UInt32
    /// The access string (`0:1:2`).
    public var accessString: String
    /// Relocation kind (0 `byte_off` … 12 `type_matches`).
    public var kind: UInt32
    /// String offset of the access string in the object's BTF.
    public var accessStringOffset: UInt32 = 0
    /// Position of the record's section block in `.BTF.ext`: with ``recordIndex``, libbpf's processing
    /// order, which candidate pruning depends on.
    public var extSectionOrder: Int = 0
    /// Index of the record in its section block (libbpf's `relo #N`).
    public var recordIndex: Int = 0

    /// The record as the CO-RE engine takes it (byte offset relative to the owning function).
    public var record: BTFCoreRelocation {
        BTFCoreRelocation(instructionOffset: UInt32(truncatingIfNeeded: slot * Instruction.byteCount), typeID: typeID,
                          accessStringOffset: accessStringOffset, kind: kind)
    }
}
