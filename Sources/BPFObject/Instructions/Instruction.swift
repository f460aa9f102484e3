import ByteParsing

/// One eBPF instruction slot: the kernel's `struct bpf_insn`, 8 bytes.
///
/// A 64-bit immediate load (`LD_IMM64`, opcode 0x18) takes two slots, as in the kernel: the first holds the
/// low 32 bits in `imm`, the second has opcode 0 and the high 32 bits in its `imm`. Keeping both slots as
/// values keeps instruction indices equal to the kernel's (relocations, jumps, func_info and line_info
/// all count slots); ``imm64(low:high:)`` and ``setImm64(_:high:)`` read and write the pair.
///
/// Byte layout: opcode (1 byte), registers (1 byte), offset (2 bytes, signed), immediate (4 bytes,
/// signed); offset and immediate are in the object's byte order. In `bpfel` objects the register byte holds
/// `dst` in its low nibble and `src` in its high nibble; `bpfeb` swaps the nibbles.
public struct Instruction: Hashable, Sendable {
    /// The opcode byte.
    public var opcode: Opcode
    /// Destination register, 0...15 (only the low 4 bits are encoded).
    public var dst: UInt8
    /// Source register, 0...15 (only the low 4 bits are encoded); for `LD_IMM64` and `call` a pseudo
    /// source (``LoadImm64Source``, ``CallKind``).
    public var src: UInt8
    /// Signed 16-bit offset: memory displacement, jump distance, or an operation modifier.
    public var offset: Int16
    /// Signed 32-bit immediate.
    public var imm: Int32

    /// Size of one instruction slot in bytes.
    public static let byteCount = 8
    /// The frame pointer register, `r10` (read-only).
    public static let framePointer: UInt8 = 10
    /// The offset that turns `div`/`mod` into their signed forms (`SDIV`, `SMOD`).
    public static let signedOffset: Int16 = 1
    /// The offset that turns an ALU64 register `mov` into an address-space cast.
    public static let addressSpaceCastOffset: Int16 = 1
    /// The helper id libbpf writes into an instruction whose CO-RE relocation failed (`call 0xbad2310`).
    public static let poisonedCoreHelperID: Int32 = 0xbad2310

    /// An instruction from its fields.
    public init(opcode: Opcode, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
        self.opcode = opcode
        self.dst = dst
        self.src = src
        self.offset = offset
        self.imm = imm
    }

    /// The instruction in the 8 bytes at `byteOffset` of `view`, read in the view's byte order; `nil` when
    /// the 8 bytes are not all inside the view.
    public init?(_ view: ByteView, at byteOffset: Int) {
        guard view.contains(byteOffset, Instruction.byteCount) else { return nil }
        self.init(unchecked: view, at: byteOffset)
    }

    @inline(__always)
    init(unchecked view: ByteView, at byteOffset: Int) {
        let registers = view.u8(unchecked: byteOffset + 1)
        opcode = Opcode(view.u8(unchecked: byteOffset))
        if view.order == .little {
            dst = registers & 0x0f
            src = registers >> 4
        } else {
            dst = registers >> 4
            src = registers & 0x0f
        }
        offset = Int16(bitPattern: view.u16(unchecked: byteOffset + 2))
        imm = Int32(bitPattern: view.u32(unchecked: byteOffset + 4))
    }

    // MARK: Encoding

    /// Appends the 8 bytes of this instruction in `order` to `bytes`.
    public func append(to bytes: inout [UInt8], order: ByteOrder) {
        let dstBits = dst & 0x0f
        let srcBits = src & 0x0f
        let registers = order == .little ? dstBits | srcBits << 4 : dstBits << 4 | srcBits
        let off = UInt16(bitPattern: offset)
        let value = UInt32(bitPattern: imm)
        bytes.append(opcode.rawValue)
        bytes.append(registers)
        if order == .little {
            bytes.append(UInt8(truncatingIfNeeded: off))
            bytes.append(UInt8(truncatingIfNeeded: off >> 8))
            for shift in stride(from: 0, through: 24, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
            }
        } else {
            bytes.append(UInt8(truncatingIfNeeded: off >> 8))
            bytes.append(UInt8(truncatingIfNeeded: off))
            for shift in stride(from: 24, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
            }
        }
    }

    /// The 8 bytes of this instruction in `order`.
    public func encoded(order: ByteOrder) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Instruction.byteCount)
        append(to: &bytes, order: order)
        return bytes
    }

    /// The bytes of `instructions` in `order`, 8 per slot: the inverse of ``decode(_:)``.
    ///
    /// An array rather than any collection: a generic walk looks its iterator's witnesses up at run time
    /// on first use, which costs more than the whole encoding of a small program.
    public static func encode(_ instructions: [Instruction], order: ByteOrder) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(instructions.count * Instruction.byteCount)
        for instruction in instructions { instruction.append(to: &bytes, order: order) }
        return bytes
    }

    // MARK: Decoding

    /// The instructions of a code section, read in the view's byte order, one value per slot.
    ///
    /// The count is bounded by the input (`view.count / 8`). Throws when the length is not a multiple of 8
    /// or when the last slot starts an `LD_IMM64` that has no second slot; the error carries the byte
    /// offset (relative to the view) of the offending bytes.
    public static func decode(_ view: ByteView) throws(InstructionDecodingError) -> [Instruction] {
        let remainder = view.count % Instruction.byteCount
        guard remainder == 0 else {
            throw InstructionDecodingError(
                .lengthNotMultipleOfInstructionSize(length: view.count), offset: view.count - remainder)
        }
        let count = view.count / Instruction.byteCount
        var instructions: [Instruction] = []
        instructions.reserveCapacity(count)
        var index = 0
        while index < count {
            let instruction = Instruction(unchecked: view, at: index * Instruction.byteCount)
            instructions.append(instruction)
            index += 1
            if instruction.isLoadImm64 {
                guard index < count else {
                    throw InstructionDecodingError(.truncatedLoadImm64, offset: (index - 1) * Instruction.byteCount)
                }
                instructions.append(Instruction(unchecked: view, at: index * Instruction.byteCount))
                index += 1
            }
        }
        return instructions
    }

    // MARK: Classification

    /// The instruction class.
    public var instructionClass: InstructionClass { opcode.instructionClass }

    /// Whether this is the first slot of a 64-bit immediate load (opcode 0x18).
    public var isLoadImm64: Bool { opcode == .loadImm64 }

    /// What the immediate of an `LD_IMM64` means, or `nil` if this is not one or `src` is not a known
    /// pseudo source.
    public var loadImm64Source: LoadImm64Source? {
        isLoadImm64 ? LoadImm64Source(rawValue: src) : nil
    }

    /// Whether this is a `call` (opcode 0x85) of any kind.
    public var isCall: Bool { opcode == .call }

    /// What a `call` calls, or `nil` if this is not a call or `src` is not a known kind.
    public var callKind: CallKind? { isCall ? CallKind(rawValue: src) : nil }

    /// Whether this calls a kernel helper (`src_reg` 0); `imm` is the helper id.
    public var isHelperCall: Bool { isCall && src == CallKind.helper.rawValue }

    /// Whether this calls a BPF function (`BPF_PSEUDO_CALL`); `imm` is the relative slot offset.
    public var isFunctionCall: Bool { isCall && src == CallKind.bpfFunction.rawValue }

    /// Whether this calls a kernel function (`BPF_PSEUDO_KFUNC_CALL`); `imm` is its BTF id.
    public var isKfuncCall: Bool { isCall && src == CallKind.kfunc.rawValue }

    /// Whether this loads the address of a BPF function (`LD_IMM64` with `BPF_PSEUDO_FUNC`).
    public var isFunctionReference: Bool { isLoadImm64 && src == LoadImm64Source.bpfFunction.rawValue }

    /// Whether this is `exit` (opcode 0x95).
    public var isExit: Bool { opcode == .exit }

    /// Whether this transfers control within the function: `goto`, `gotol`, `may_goto` and the
    /// conditional jumps (not calls, not exit).
    public var isJump: Bool {
        guard instructionClass.isJump, let operation = opcode.jumpOperation else { return false }
        switch operation {
        case .call, .exit: return false
        case .ja: return opcode.source == .immediate
        case .jcond: return instructionClass == .jmp && opcode.source == .immediate
        default: return true
        }
    }

    /// The distance in slots from the next instruction to the target of a jump (`imm` for `gotol`,
    /// `offset` otherwise), or of a function call / function reference (`imm`); `nil` for other
    /// instructions.
    public var relativeTarget: Int? {
        if isFunctionCall || isFunctionReference { return Int(imm) }
        guard isJump else { return nil }
        return opcode == .longJump ? Int(imm) : Int(offset)
    }

    /// The slot a jump, function call or function reference at `slot` targets (`slot + 1 + distance`).
    public func target(from slot: Int) -> Int? {
        relativeTarget.map { slot + 1 + $0 }
    }

    // MARK: 64-bit immediates

    /// The 64-bit immediate of an `LD_IMM64` pair: low 32 bits from the first slot, high from the second.
    public static func imm64(low: Instruction, high: Instruction) -> UInt64 {
        UInt64(UInt32(bitPattern: low.imm)) | UInt64(UInt32(bitPattern: high.imm)) << 32
    }

    /// Stores `value` as the 64-bit immediate of the pair whose first slot is `self` and second `high`.
    public mutating func setImm64(_ value: UInt64, high: inout Instruction) {
        imm = Int32(bitPattern: UInt32(truncatingIfNeeded: value))
        high.imm = Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))
    }

    /// The two slots of `dst = value ll` with the given pseudo source.
    public static func loadImm64(dst: UInt8, source: LoadImm64Source = .constant, value: UInt64) -> [Instruction] {
        var low = Instruction(opcode: .loadImm64, dst: dst, src: source.rawValue)
        var high = Instruction(opcode: Opcode(0))
        low.setImm64(value, high: &high)
        return [low, high]
    }

    // MARK: Common instructions

    /// `exit`.
    public static let exit = Instruction(opcode: .exit)

    /// `call` of helper `id`.
    public static func call(helper id: Int32) -> Instruction {
        Instruction(opcode: .call, src: CallKind.helper.rawValue, imm: id)
    }

    /// `dst = imm` (64-bit move of a sign-extended immediate).
    public static func move(dst: UInt8, imm: Int32) -> Instruction {
        Instruction(opcode: .move64Immediate, dst: dst, imm: imm)
    }
}

extension Instruction: CustomStringConvertible {
    /// The raw fields, `opcode 0x18 dst 1 src 0 off 0 imm 5` (``Disassembler`` renders the assembly).
    public var description: String {
        "opcode \(opcode) dst \(dst) src \(src) off \(offset) imm \(imm)"
    }
}

extension Collection where Element == Instruction, Index == Int {
    /// The 64-bit immediate of the `LD_IMM64` at `index`, or `nil` when there is no `LD_IMM64` pair there.
    public func loadImm64Value(at index: Int) -> UInt64? {
        guard index >= startIndex, index + 1 < endIndex, self[index].isLoadImm64 else { return nil }
        return Instruction.imm64(low: self[index], high: self[index + 1])
    }
}

extension MutableCollection where Element == Instruction, Index == Int {
    /// Sets the 64-bit immediate of the `LD_IMM64` at `index`; returns `false` (and changes nothing) when
    /// there is no `LD_IMM64` pair there.
    @discardableResult
    public mutating func setLoadImm64Value(_ value: UInt64, at index: Int) -> Bool {
        guard index >= startIndex, index + 1 < endIndex, self[index].isLoadImm64 else { return false }
        var low = self[index]
        var high = self[index + 1]
        low.setImm64(value, high: &high)
        self[index] = low
        self[index + 1] = high
        return true
    }
}

/// Why a code section could not be decoded into instructions.
public struct InstructionDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Hashable, Sendable {
        /// The section is `length` bytes long, which is not a whole number of 8-byte instructions.
        case lengthNotMultipleOfInstructionSize(length: Int)
        /// The last slot is the first half of an `LD_IMM64`, whose second half is missing.
        case truncatedLoadImm64
    }

    /// What went wrong.
    public var code: Code
    /// Byte offset in the code section of the offending bytes.
    public var offset: Int

    /// An error with a code and the byte offset where it happened.
    public init(_ code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// One line naming the problem and where it is.
    public var description: String {
        switch code {
        case .lengthNotMultipleOfInstructionSize(let length):
            "code is \(length) bytes, not a multiple of \(Instruction.byteCount): \(length % Instruction.byteCount) trailing bytes at offset \(offset)"
        case .truncatedLoadImm64:
            "64-bit immediate load at offset \(offset) (instruction \(offset / Instruction.byteCount)) has no second slot"
        }
    }
}
