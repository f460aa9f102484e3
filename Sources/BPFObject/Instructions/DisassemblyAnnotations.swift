/// What an instruction refers to, as a relocation or the object's symbols tell: used by the annotated
/// disassembly to print names instead of numbers.
public enum DisassemblyReference: Hashable, Sendable {
    /// An `LD_IMM64` of a map (`r1 = map[counts] ll`).
    case map(name: String)
    /// An `LD_IMM64` of an address inside a map's value: global data (`r1 = map[.rodata] + 0x8 ll`).
    case mapValue(name: String, offset: Int64)
    /// A call of a BPF function, or an `LD_IMM64` of its address (a callback).
    case function(name: String)
    /// A call of a kernel function.
    case kfunc(name: String)
    /// An `LD_IMM64` of a kernel variable (`__ksym`).
    case kernelSymbol(name: String)
    /// Any other symbol, with an addend.
    case symbol(name: String, addend: Int64)
}

/// Extra knowledge about a sequence of instructions that the annotated disassembly prints: names of what
/// instructions refer to, source lines, notes and labels, all keyed by slot index.
///
/// The object model fills this from its relocations, symbols and BTF line_info; the disassembler knows
/// nothing of the object model. Every requirement has a default that knows nothing.
public protocol DisassemblyAnnotations {
    /// What the `LD_IMM64` or `call` at `slot` refers to.
    func reference(at slot: Int) -> DisassemblyReference?
    /// The source line (BTF line_info text) that starts at `slot`, printed as `; text` before it.
    func sourceLine(at slot: Int) -> String?
    /// Notes about the instruction at `slot` (relocations, CO-RE), printed as trailing `; note` comments.
    func notes(at slot: Int) -> [String]
    /// Names of functions or labels that start at `slot`, printed as `name:` lines before it; the first
    /// also names jump and call targets.
    func labels(at slot: Int) -> [String]
}

extension DisassemblyAnnotations {
    /// No reference.
    public func reference(at slot: Int) -> DisassemblyReference? { nil }
    /// No source line.
    public func sourceLine(at slot: Int) -> String? { nil }
    /// No notes.
    public func notes(at slot: Int) -> [String] { [] }
    /// No labels.
    public func labels(at slot: Int) -> [String] { [] }
}

/// Annotations held in dictionaries: the ready-made ``DisassemblyAnnotations`` the object model fills.
public struct DisassemblyAnnotationTable: DisassemblyAnnotations, Sendable, Hashable {
    /// References by slot.
    public var references: [Int: DisassemblyReference]
    /// Source lines by slot.
    public var sourceLines: [Int: String]
    /// Notes by slot, in the order added.
    public var notesBySlot: [Int: [String]]
    /// Labels by slot, in the order added.
    public var labelsBySlot: [Int: [String]]

    /// An empty table.
    public init() {
        references = [:]
        sourceLines = [:]
        notesBySlot = [:]
        labelsBySlot = [:]
    }

    /// Adds a note to the instruction at `slot`.
    public mutating func addNote(_ note: String, at slot: Int) { notesBySlot[slot, default: []].append(note) }

    /// Adds a label (function or jump target name) at `slot`.
    public mutating func addLabel(_ label: String, at slot: Int) { labelsBySlot[slot, default: []].append(label) }

    /// What the instruction at `slot` refers to.
    public func reference(at slot: Int) -> DisassemblyReference? { references[slot] }
    /// The source line starting at `slot`.
    public func sourceLine(at slot: Int) -> String? { sourceLines[slot] }
    /// The notes for `slot`.
    public func notes(at slot: Int) -> [String] { notesBySlot[slot] ?? [] }
    /// The labels at `slot`.
    public func labels(at slot: Int) -> [String] { labelsBySlot[slot] ?? [] }
}

/// One line of a disassembly: an instruction (one slot, or two for `LD_IMM64`) with what is printed around it.
public struct DisassemblyLine: Hashable, Sendable {
    /// Index of the instruction's first slot.
    public var slot: Int
    /// Number of slots the instruction takes (2 for `LD_IMM64`, else 1).
    public var slotCount: Int
    /// The instruction text (`r1 = *(u64 *)(r2 + 0x8)`).
    public var text: String
    /// Trailing comments (annotated style only).
    public var notes: [String]
    /// Source line printed before the instruction (annotated style only).
    public var sourceLine: String?
    /// Labels printed before the instruction (annotated style only).
    public var labels: [String]

    /// A line from its parts.
    public init(slot: Int, slotCount: Int, text: String, notes: [String] = [], sourceLine: String? = nil, labels: [String] = []) {
        self.slot = slot
        self.slotCount = slotCount
        self.text = text
        self.notes = notes
        self.sourceLine = sourceLine
        self.labels = labels
    }
}
