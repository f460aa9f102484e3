// The eBPF opcode byte and the vocabulary of its fields, as the kernel defines them in
// include/uapi/linux/bpf_common.h and bpf.h (Documentation/bpf/standardization/instruction-set.rst).

/// The class of an instruction: the low three bits of its opcode.
public enum InstructionClass: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `BPF_LD`: non-standard loads (`LD_IMM64`, legacy packet access `LD_ABS`/`LD_IND`).
    case ld = 0x00
    /// `BPF_LDX`: loads from memory into a register.
    case ldx = 0x01
    /// `BPF_ST`: stores of an immediate into memory.
    case st = 0x02
    /// `BPF_STX`: stores of a register into memory, and atomic operations.
    case stx = 0x03
    /// `BPF_ALU`: 32-bit arithmetic.
    case alu = 0x04
    /// `BPF_JMP`: 64-bit comparisons and jumps, calls, exit.
    case jmp = 0x05
    /// `BPF_JMP32`: 32-bit comparisons, and `gotol` (JA with a 32-bit offset).
    case jmp32 = 0x06
    /// `BPF_ALU64`: 64-bit arithmetic.
    case alu64 = 0x07

    /// Mask of the class bits in the opcode.
    public static let mask: UInt8 = 0x07

    /// Whether this is an arithmetic class (ALU or ALU64).
    public var isArithmetic: Bool { self == .alu || self == .alu64 }
    /// Whether this is a jump class (JMP or JMP32).
    public var isJump: Bool { self == .jmp || self == .jmp32 }
    /// Whether this is a load or store class (LD, LDX, ST, STX).
    public var isLoadStore: Bool { rawValue <= InstructionClass.stx.rawValue }

    /// The kernel's name without `BPF_`: `LD`, `ALU64`, ...
    public var description: String {
        switch self {
        case .ld: "LD"
        case .ldx: "LDX"
        case .st: "ST"
        case .stx: "STX"
        case .alu: "ALU"
        case .jmp: "JMP"
        case .jmp32: "JMP32"
        case .alu64: "ALU64"
        }
    }
}

/// Where the second operand of an ALU or jump instruction comes from: bit 3 of the opcode.
public enum OperandSource: UInt8, Sendable, Hashable {
    /// `BPF_K`: the 32-bit immediate.
    case immediate = 0x00
    /// `BPF_X`: the source register.
    case register = 0x08

    /// Mask of the source bit in the opcode.
    public static let mask: UInt8 = 0x08
}

/// The access size of a load or store: bits 3-4 of the opcode.
public enum MemorySize: UInt8, Sendable, Hashable, CaseIterable {
    /// `BPF_W`: 4 bytes.
    case word = 0x00
    /// `BPF_H`: 2 bytes.
    case halfWord = 0x08
    /// `BPF_B`: 1 byte.
    case byte = 0x10
    /// `BPF_DW`: 8 bytes.
    case doubleWord = 0x18

    /// Mask of the size bits in the opcode.
    public static let mask: UInt8 = 0x18

    /// Number of bytes accessed.
    public var byteCount: Int {
        switch self {
        case .byte: 1
        case .halfWord: 2
        case .word: 4
        case .doubleWord: 8
        }
    }

    /// The size accessing `byteCount` bytes, if it is 1, 2, 4 or 8.
    public init?(byteCount: Int) {
        switch byteCount {
        case 1: self = .byte
        case 2: self = .halfWord
        case 4: self = .word
        case 8: self = .doubleWord
        default: return nil
        }
    }
}

/// The addressing mode of a load or store: bits 5-7 of the opcode.
public enum MemoryMode: UInt8, Sendable, Hashable, CaseIterable {
    /// `BPF_IMM`: with `LD` and `DW`, the two-slot 64-bit immediate load (`LD_IMM64`).
    case immediate = 0x00
    /// `BPF_ABS`: legacy packet load at a constant offset.
    case absolute = 0x20
    /// `BPF_IND`: legacy packet load at a register offset.
    case indirect = 0x40
    /// `BPF_MEM`: ordinary memory access.
    case memory = 0x60
    /// `BPF_MEMSX`: sign-extending load (LDX only).
    case signExtendingMemory = 0x80
    /// `BPF_ATOMIC` (formerly `BPF_XADD`): atomic operation selected by the immediate (STX only).
    case atomic = 0xc0

    /// Mask of the mode bits in the opcode.
    public static let mask: UInt8 = 0xe0
}

/// An arithmetic operation: the high four bits of an ALU or ALU64 opcode.
public enum ALUOperation: UInt8, Sendable, Hashable, CaseIterable {
    /// `BPF_ADD`: `dst += src`.
    case add = 0x00
    /// `BPF_SUB`: `dst -= src`.
    case sub = 0x10
    /// `BPF_MUL`: `dst *= src`.
    case mul = 0x20
    /// `BPF_DIV`: unsigned division; signed (`SDIV`) when the offset is ``Instruction/signedOffset``.
    case div = 0x30
    /// `BPF_OR`: `dst |= src`.
    case or = 0x40
    /// `BPF_AND`: `dst &= src`.
    case and = 0x50
    /// `BPF_LSH`: `dst <<= src`.
    case lsh = 0x60
    /// `BPF_RSH`: logical `dst >>= src`.
    case rsh = 0x70
    /// `BPF_NEG`: `dst = -dst`.
    case neg = 0x80
    /// `BPF_MOD`: unsigned modulo; signed (`SMOD`) when the offset is ``Instruction/signedOffset``.
    case mod = 0x90
    /// `BPF_XOR`: `dst ^= src`.
    case xor = 0xa0
    /// `BPF_MOV`: `dst = src`; with offset 8/16/32 a sign-extending move (`MOVSX`); in ALU64 with a register
    /// source and offset 1 an address-space cast.
    case mov = 0xb0
    /// `BPF_ARSH`: arithmetic (sign-extending) `dst >>= src`.
    case arsh = 0xc0
    /// `BPF_END`: byte swap of the low `imm` (16, 32, 64) bits; in ALU the source bit selects to-little
    /// (`K`) or to-big (`X`) endian, in ALU64 (`K`) it is an unconditional `BSWAP`.
    case end = 0xd0

    /// Mask of the operation bits in the opcode.
    public static let mask: UInt8 = 0xf0
}

/// A jump operation: the high four bits of a JMP or JMP32 opcode.
public enum JumpOperation: UInt8, Sendable, Hashable, CaseIterable {
    /// `BPF_JA`: unconditional jump (`goto`; in JMP32 `gotol` with the offset in the immediate).
    case ja = 0x00
    /// `BPF_JEQ`: `==`.
    case jeq = 0x10
    /// `BPF_JGT`: unsigned `>`.
    case jgt = 0x20
    /// `BPF_JGE`: unsigned `>=`.
    case jge = 0x30
    /// `BPF_JSET`: `dst & src != 0`.
    case jset = 0x40
    /// `BPF_JNE`: `!=`.
    case jne = 0x50
    /// `BPF_JSGT`: signed `>`.
    case jsgt = 0x60
    /// `BPF_JSGE`: signed `>=`.
    case jsge = 0x70
    /// `BPF_CALL`: call a helper, a BPF function or a kfunc (see ``CallKind``).
    case call = 0x80
    /// `BPF_EXIT`: return from the function.
    case exit = 0x90
    /// `BPF_JLT`: unsigned `<`.
    case jlt = 0xa0
    /// `BPF_JLE`: unsigned `<=`.
    case jle = 0xb0
    /// `BPF_JSLT`: signed `<`.
    case jslt = 0xc0
    /// `BPF_JSLE`: signed `<=`.
    case jsle = 0xd0
    /// `BPF_JCOND`: `may_goto`, a bounded-loop jump the verifier may take.
    case jcond = 0xe0

    /// Mask of the operation bits in the opcode.
    public static let mask: UInt8 = 0xf0

    /// Whether this operation compares two operands (everything but JA, CALL, EXIT, JCOND).
    public var isConditional: Bool {
        switch self {
        case .ja, .call, .exit, .jcond: false
        default: true
        }
    }
}

/// The atomic operation of a `STX | ATOMIC` instruction, held in its immediate.
public enum AtomicOperation: Int32, Sendable, Hashable, CaseIterable {
    /// `BPF_ADD`: `lock *ptr += src`.
    case add = 0x00
    /// `BPF_ADD | BPF_FETCH`: `src = atomic_fetch_add(ptr, src)`.
    case fetchAdd = 0x01
    /// `BPF_OR`.
    case or = 0x40
    /// `BPF_OR | BPF_FETCH`.
    case fetchOr = 0x41
    /// `BPF_AND`.
    case and = 0x50
    /// `BPF_AND | BPF_FETCH`.
    case fetchAnd = 0x51
    /// `BPF_XOR`.
    case xor = 0xa0
    /// `BPF_XOR | BPF_FETCH`.
    case fetchXor = 0xa1
    /// `BPF_XCHG` (always fetches): `src = xchg(ptr, src)`.
    case exchange = 0xe1
    /// `BPF_CMPXCHG` (always fetches): `r0 = cmpxchg(ptr, r0, src)`.
    case compareExchange = 0xf1
    /// `BPF_LOAD_ACQ`: `dst = load_acquire(src + off)` (Linux 6.15).
    case loadAcquire = 0x100
    /// `BPF_STORE_REL`: `store_release(dst + off, src)` (Linux 6.15).
    case storeRelease = 0x110

    /// `BPF_FETCH`: the flag that makes an operation return the old value.
    public static let fetchFlag: Int32 = 0x01

    /// Whether the operation writes the old memory value back to a register.
    public var fetches: Bool { rawValue & AtomicOperation.fetchFlag != 0 }

    /// Whether the operation is valid with 1- and 2-byte accesses (only load-acquire and store-release).
    public var allowsNarrowAccess: Bool { self == .loadAcquire || self == .storeRelease }
}

/// What the immediate of an `LD_IMM64` means: its `src_reg`.
public enum LoadImm64Source: UInt8, Sendable, Hashable, CaseIterable {
    /// A plain 64-bit constant.
    case constant = 0
    /// `BPF_PSEUDO_MAP_FD`: `imm` is a map file descriptor.
    case mapFD = 1
    /// `BPF_PSEUDO_MAP_VALUE`: `imm` is a map fd, the second slot's `imm` an offset into its value.
    case mapValue = 2
    /// `BPF_PSEUDO_BTF_ID`: `imm` is a BTF id of a kernel variable, the second slot's `imm` a BTF object
    /// fd (0 for vmlinux).
    case btfID = 3
    /// `BPF_PSEUDO_FUNC`: `imm` is the relative instruction offset of a function (a callback).
    case bpfFunction = 4
    /// `BPF_PSEUDO_MAP_IDX`: like `mapFD`, with an index into `fd_array`.
    case mapIndex = 5
    /// `BPF_PSEUDO_MAP_IDX_VALUE`: like `mapValue`, with an index into `fd_array`.
    case mapIndexValue = 6
}

/// What a `call` calls: its `src_reg`.
public enum CallKind: UInt8, Sendable, Hashable, CaseIterable {
    /// A kernel helper, `imm` = helper id (see ``HelperFunctions``).
    case helper = 0
    /// `BPF_PSEUDO_CALL`: a BPF function, `imm` = relative instruction offset.
    case bpfFunction = 1
    /// `BPF_PSEUDO_KFUNC_CALL`: a kernel function, `imm` = BTF FUNC id, `off` = `fd_array` index of its BTF.
    case kfunc = 2
}

/// The opcode byte of an instruction.
///
/// The byte packs a class (``InstructionClass``) with, for ALU and jump classes, a source bit and an
/// operation, and, for load/store classes, a size and a mode. The accessors decode one view or the other;
/// they do not check that the view fits the class.
public struct Opcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The opcode byte.
    public var rawValue: UInt8

    /// The opcode with byte `rawValue`.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The opcode with byte `rawValue`.
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// An ALU, ALU64, JMP or JMP32 opcode from its arithmetic operation.
    public init(_ instructionClass: InstructionClass, _ operation: ALUOperation, _ source: OperandSource) {
        rawValue = instructionClass.rawValue | operation.rawValue | source.rawValue
    }

    /// A JMP or JMP32 opcode from its jump operation.
    public init(_ instructionClass: InstructionClass, _ operation: JumpOperation, _ source: OperandSource) {
        rawValue = instructionClass.rawValue | operation.rawValue | source.rawValue
    }

    /// A load or store opcode from its size and mode.
    public init(_ instructionClass: InstructionClass, _ size: MemorySize, _ mode: MemoryMode) {
        rawValue = instructionClass.rawValue | size.rawValue | mode.rawValue
    }

    /// The class, from the low three bits.
    public var instructionClass: InstructionClass {
        // Three bits always name one of the eight classes.
        InstructionClass(rawValue: rawValue & InstructionClass.mask) ?? .ld
    }

    /// The operand source bit (ALU and jump classes).
    public var source: OperandSource { rawValue & OperandSource.mask == 0 ? .immediate : .register }

    /// The arithmetic operation (meaningful for ALU and ALU64), or `nil` for the unassigned codes 0xe0, 0xf0.
    public var aluOperation: ALUOperation? { ALUOperation(rawValue: rawValue & ALUOperation.mask) }

    /// The jump operation (meaningful for JMP and JMP32), or `nil` for the unassigned code 0xf0.
    public var jumpOperation: JumpOperation? { JumpOperation(rawValue: rawValue & JumpOperation.mask) }

    /// The access size (load/store classes).
    public var size: MemorySize { MemorySize(rawValue: rawValue & MemorySize.mask) ?? .word }

    /// The addressing mode (load/store classes), or `nil` for the unassigned codes 0xa0, 0xe0.
    public var mode: MemoryMode? { MemoryMode(rawValue: rawValue & MemoryMode.mask) }

    /// `BPF_LD | BPF_DW | BPF_IMM` (0x18): the first slot of a 64-bit immediate load.
    public static let loadImm64 = Opcode(.ld, .doubleWord, .immediate)
    /// `BPF_JMP | BPF_CALL` (0x85).
    public static let call = Opcode(.jmp, .call, .immediate)
    /// `BPF_JMP | BPF_CALL | BPF_X` (0x8d): indirect call through a register (`callx`).
    public static let callRegister = Opcode(.jmp, .call, .register)
    /// `BPF_JMP | BPF_EXIT` (0x95).
    public static let exit = Opcode(.jmp, .exit, .immediate)
    /// `BPF_JMP | BPF_JA` (0x05): `goto` with a 16-bit offset.
    public static let jump = Opcode(.jmp, .ja, .immediate)
    /// `BPF_JMP32 | BPF_JA` (0x06): `gotol` with a 32-bit offset in the immediate.
    public static let longJump = Opcode(.jmp32, .ja, .immediate)
    /// `BPF_JMP | BPF_JCOND` (0xe5): `may_goto`.
    public static let mayGoto = Opcode(.jmp, .jcond, .immediate)
    /// `BPF_ALU64 | BPF_MOV | BPF_K` (0xb7): `dst = imm`.
    public static let move64Immediate = Opcode(.alu64, ALUOperation.mov, .immediate)
    /// `BPF_ALU64 | BPF_MOV | BPF_X` (0xbf): `dst = src`.
    public static let move64Register = Opcode(.alu64, ALUOperation.mov, .register)

    /// `0x` and two hex digits.
    public var description: String {
        let digits = String(rawValue, radix: 16)
        return "0x" + (digits.count < 2 ? "0" + digits : digits)
    }
}
