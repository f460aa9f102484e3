/// One entry program with every subprogram it calls appended: the instruction stream the kernel loads.
///
/// Produced by ``ObjectSpec/link(_:)``. Slots count 8-byte instruction slots from the entry program's
/// first instruction; the entry program is at slot 0 and each called function follows once, in the order
/// libbpf appends them (depth-first, in order of discovery). Calls and callback loads are rewritten for
/// this layout; map, global data and extern relocations are not applied yet: ``relocations`` says where
/// they are.
public struct LinkedProgram: Sendable {
    /// The entry program this stream was linked for.
    public var program: ProgramSpec
    /// The program's name (its symbol name).
    public var name: String { program.name }
    /// The program's section name, without a leading `?`.
    public var sectionName: String { program.sectionName }
    /// The final instructions: the entry program, then the appended functions.
    public var instructions: [Instruction]
    /// The functions of the stream in layout order, the entry program first at slot 0.
    public var functions: [LinkedFunction]
    /// `func_info` records with slots in the final stream, sorted: one per function when the object has
    /// BTF, the entry program's at slot 0. Empty when the entry program has none (libbpf then drops all).
    public var functionInfo: [FunctionInfoRecord]
    /// `line_info` records with slots in the final stream, sorted. Empty when the entry program has none.
    public var lineInfo: [LineInfoRecord]
    /// Every relocation of every appended function, moved to its final slot, in slot order.
    public var relocations: [LinkedRelocation]
    /// Every CO-RE record of every appended function, moved to its final slot, in slot order. The loader
    /// needs them to explain a verifier rejection of a poisoned instruction by its final index.
    public var coreRelocations: [LinkedCoreRelocation]
    /// Every bpf-to-bpf call and callback load of the stream (relocated or pc-relative in the file), with
    /// its final target, in slot order.
    public var calls: [LinkedCall]
    /// What the linker dropped and why (a function without `func_info` while the entry program has none).
    public var notes: [String]

    /// The function whose instructions hold `slot`, or `nil` for a slot outside the stream.
    public func function(containing slot: Int) -> LinkedFunction? {
        functions.last(startingAtOrBefore: slot, start: { $0.startSlot }).flatMap { $0.slots.contains(slot) ? $0 : nil }
    }
}

extension Array {
    /// The last element whose `start` is at most `position`, by binary search: the array is sorted by
    /// `start`. Of functions laid out by start slot, the only one that can hold `position`.
    func last(startingAtOrBefore position: Int, start: (Element) -> Int) -> Element? {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if start(self[middle]) <= position { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? self[low - 1] : nil
    }
}

/// Where one function landed in a ``LinkedProgram``.
public struct LinkedFunction: Sendable, Hashable {
    /// The function's symbol name.
    public var name: String
    /// The ELF section the code came from (`.text` for subprograms).
    public var sectionName: String
    /// The ELF section index the code came from.
    public var sectionIndex: Int
    /// The function's first slot in its ELF section.
    public var sectionSlot: Int
    /// The function's first slot in the linked stream.
    public var startSlot: Int
    /// Number of slots the function takes.
    public var slotCount: Int
    /// Whether this is the entry program (always the first function, at slot 0).
    public var isEntry: Bool

    /// The function's slots in the linked stream.
    public var slots: Range<Int> { startSlot..<(startSlot + slotCount) }
}

/// A relocation of a linked program: the function's record, where it now is and, for calls and callbacks,
/// the final slot of the called function.
public struct LinkedRelocation: Sendable, Hashable {
    /// The relocation as the object declares it (its `slot` is relative to ``function``).
    public var relocation: RelocationSpec
    /// Name of the function holding the instruction.
    public var function: String
    /// The instruction's slot in the linked stream.
    public var slot: Int
    /// For `call` and `callback` relocations: the slot in the linked stream where the target function
    /// starts; `nil` for other relocations.
    public var targetSlot: Int?
}

/// A CO-RE relocation record of a linked program, moved to its final slot.
public struct LinkedCoreRelocation: Sendable, Hashable {
    /// The record as the object declares it (its `slot` is relative to ``function``).
    public var record: CoreRelocationSpec
    /// Name of the function holding the instruction.
    public var function: String
    /// The instruction's slot in the linked stream.
    public var slot: Int
}

/// A bpf-to-bpf call or a callback load in a linked program, after linking.
public struct LinkedCall: Sendable, Hashable {
    /// A call instruction, or an `LD_IMM64` of a function's address.
    public enum Kind: String, Sendable, Hashable {
        /// `call` with `src_reg` `BPF_PSEUDO_CALL`.
        case call
        /// `LD_IMM64` with `src_reg` `BPF_PSEUDO_FUNC` (for `bpf_loop` and friends).
        case callback
    }

    /// Call or callback.
    public var kind: Kind
    /// The instruction's slot in the linked stream.
    public var slot: Int
    /// The slot where the called function starts in the linked stream (`slot + 1 + imm`).
    public var targetSlot: Int
    /// The called function's name.
    public var callee: String
    /// Name of the function holding the instruction.
    public var caller: String
    /// Whether the object carried a relocation for it (calls to global functions, calls across sections
    /// and all callbacks); static calls within `.text` are pc-relative and have none.
    public var isRelocated: Bool
}
