import BTF

/// Which instruction field a CO-RE relocation patched.
public enum CorePatchedField: String, Sendable, Hashable {
    /// `imm` of an ALU/ALU64 instruction with an immediate operand.
    case immediate = "imm"
    /// `off` of an LDX/ST/STX instruction.
    case offset = "off"
    /// The 64-bit immediate of an `LD_IMM64`.
    case immediate64 = "imm64"
}

/// What happened to one CO-RE relocation of an object: the decision and the patch, or why there is none.
public struct CoreRelocationOutcome: Sendable {
    /// The three ends of a relocation.
    public enum Status: String, Sendable, Hashable {
        /// The instruction now holds the target's value (existence kinds with no target: 0).
        case patched
        /// No target for a kind that cannot be 0 (or a load whose size cannot follow the field): the
        /// instruction became `call 0xbad2310`, which the verifier rejects only if it is reachable.
        case poisoned
        /// libbpf would refuse the object: ambiguity, an unreadable bitfield, an instruction that does not
        /// hold the expected value, a spec too deep. The instruction is left as it was.
        case failed
    }

    /// The function symbol whose instructions hold the relocated instruction.
    public var function: String
    /// Its ELF section.
    public var section: String
    /// The record, with its slot relative to the function.
    public var record: CoreRelocationSpec
    /// The engine's decision, when it reached one.
    public var result: CoreRelocationResult?
    /// How it ended.
    public var status: Status
    /// The patched field (for `patched`).
    public var field: CorePatchedField?
    /// The field's value before (imm and off sign-extended; imm64 as its bit pattern).
    public var oldValue: Int64?
    /// The field's value after (`nil` for poisoned and failed).
    public var newValue: Int64?
    /// A load/store whose memory size changed: bytes before and after.
    public var memorySize: (from: Int, to: Int)?
    /// Why it failed or was poisoned.
    public var reason: String?
    /// libbpf-style debug lines, complete (`prog 'f': relo #3: ...`).
    public var log: [String]

    /// libbpf's kind word: `byte_off`, …
    public var kindName: String { record.kindName }
}

/// Rewrites one instruction the way libbpf's `bpf_core_patch_insn` does, checking the value the local
/// spec expects first.
enum CoreInstructionPatcher {
    struct Patch {
        var field: CorePatchedField
        var old: Int64
        var new: Int64
        var memorySize: (from: Int, to: Int)?
        var log: [String]
    }

    enum Outcome {
        case patched(Patch)
        case poisoned(reason: String?, log: [String])
    }

    /// Turns the instruction (both halves of an `LD_IMM64`) into `call 0xbad2310`.
    static func poison(_ instructions: inout [Instruction], at slot: Int, log: inout [String]) {
        if instructions[slot].isLoadImm64, slot + 1 < instructions.count {
            instructions[slot + 1] = .call(helper: Instruction.poisonedCoreHelperID)
            log.append("substituting insn #\(slot + 1) w/ invalid insn")
        }
        instructions[slot] = .call(helper: Instruction.poisonedCoreHelperID)
        log.append("substituting insn #\(slot) w/ invalid insn")
    }

    /// Applies `result` to the instruction at `slot`.
    /// - Throws: ``CoreRelocationError`` (`instructionMismatch`) when the instruction is not of a
    ///   relocatable form or does not hold the expected value.
    static func apply(_ result: CoreRelocationResult, to instructions: inout [Instruction],
                      at slot: Int) throws(CoreRelocationError) -> Outcome {
        var log: [String] = []
        if result.poison {
            poison(&instructions, at: slot, log: &log)
            return .poisoned(reason: nil, log: log)
        }
        let instruction = instructions[slot]
        let original = result.originalValue
        let new = result.newValue
        func mismatch(_ text: String) -> CoreRelocationError { CoreRelocationError(.instructionMismatch, text) }
        switch instruction.instructionClass {
        case .alu, .alu64:
            guard instruction.opcode.source == .immediate else {
                throw mismatch("insn #\(slot) (ALU/ALU64) has a register operand, not an immediate")
            }
            let current = UInt64(bitPattern: Int64(instruction.imm))
            if result.validate && current != original {
                throw mismatch("unexpected insn #\(slot) (ALU/ALU64) value: got \(UInt32(bitPattern: instruction.imm)), exp \(original) -> \(new)")
            }
            instructions[slot].imm = Int32(truncatingIfNeeded: new)
            log.append("patched insn #\(slot) (ALU/ALU64) imm \(current) -> \(new)")
            return .patched(Patch(field: .immediate, old: Int64(instruction.imm),
                                  new: Int64(Int32(truncatingIfNeeded: new)), log: log))
        case .ldx, .st, .stx:
            if result.validate && UInt64(bitPattern: Int64(instruction.offset)) != original {
                throw mismatch("unexpected insn #\(slot) (LDX/ST/STX) value: got \(UInt32(bitPattern: Int32(instruction.offset))), exp \(original) -> \(new)")
            }
            guard new <= UInt64(Int16.max) else {
                throw CoreRelocationError(.instructionMismatch, "insn #\(slot) (LDX/ST/STX) value too big: \(new)")
            }
            if result.failsMemorySizeAdjustment {
                let reason = "insn #\(slot) (LDX/ST/STX) accesses field incorrectly. Make sure you are accessing pointers, unsigned integers, or fields of matching type and size."
                log.append(reason)
                poison(&instructions, at: slot, log: &log)
                return .poisoned(reason: reason, log: log)
            }
            instructions[slot].offset = Int16(new)
            log.append("patched insn #\(slot) (LDX/ST/STX) off \(UInt64(bitPattern: Int64(instruction.offset))) -> \(new)")
            var patch = Patch(field: .offset, old: Int64(instruction.offset), new: Int64(new), log: [])
            if result.newSize != result.originalSize {
                let current = instruction.opcode.size.byteCount
                guard current == Int(result.originalSize) else {
                    throw mismatch("insn #\(slot) (LDX/ST/STX) unexpected mem size: got \(current), exp \(result.originalSize)")
                }
                guard let size = MemorySize(byteCount: Int(result.newSize)) else {
                    throw mismatch("insn #\(slot) (LDX/ST/STX) invalid new mem size: \(result.newSize)")
                }
                let code = instruction.opcode.rawValue & ~MemorySize.mask | size.rawValue
                instructions[slot].opcode = Opcode(rawValue: code)
                log.append("patched insn #\(slot) (LDX/ST/STX) mem_sz \(result.originalSize) -> \(result.newSize)")
                patch.memorySize = (current, Int(result.newSize))
            }
            patch.log = log
            return .patched(patch)
        case .ld:
            guard instruction.isLoadImm64, instruction.src == 0, instruction.offset == 0, slot + 1 < instructions.count,
                  instructions[slot + 1].opcode.rawValue == 0, instructions[slot + 1].dst == 0,
                  instructions[slot + 1].src == 0, instructions[slot + 1].offset == 0 else {
                throw mismatch("insn #\(slot) (LDIMM64) has unexpected form")
            }
            let current = Instruction.imm64(low: instruction, high: instructions[slot + 1])
            if result.validate && current != original {
                throw mismatch("unexpected insn #\(slot) (LDIMM64) value: got \(current), exp \(original) -> \(new)")
            }
            var low = instruction
            var high = instructions[slot + 1]
            low.setImm64(new, high: &high)
            instructions[slot] = low
            instructions[slot + 1] = high
            log.append("patched insn #\(slot) (LDIMM64) imm64 \(current) -> \(new)")
            return .patched(Patch(field: .immediate64, old: Int64(bitPattern: current), new: Int64(bitPattern: new),
                                  log: log))
        default:
            func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
            throw mismatch("trying to relocate unrecognized insn #\(slot), code:\(hex(instruction.opcode.rawValue)), src:\(hex(instruction.src)), dst:\(hex(instruction.dst)), off:\(hex(UInt32(bitPattern: Int32(instruction.offset)))), imm:\(hex(UInt32(bitPattern: instruction.imm)))")
        }
    }
}
