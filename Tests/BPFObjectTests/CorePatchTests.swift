import ByteParsing
import ELF
import Foundation
import TestSupport
import Testing

@testable import BPFObject
@testable import BTF

// The patcher follows libbpf's bpf_core_patch_insn (src/relo_core.c); messages are libbpf's.

/// One `int` type: enough BTF for a spec to point at.
private let intGraph: TypeGraph = {
    var bytes: [UInt8] = [0x9F, 0xEB, 1, 0]
    func put(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    for word: UInt32 in [24, 0, 16, 16, 5] { put(word) }          // header: types [0, 16), strings [16, 21)
    for word: UInt32 in [1, 1 << 24, 4, 1 << 24 | 32] { put(word) } // [1] INT 'int' size 4, signed, 32 bits
    bytes += Array("\0int\0".utf8)
    return try! TypeGraph(data: ByteView(bytes))
}()

/// A decision as the relocator would hand it over.
private func decision(_ original: UInt64, _ new: UInt64, validate: Bool = true, poison: Bool = false,
                      sizes: (UInt32, UInt32) = (0, 0), failsAdjustment: Bool = false) -> CoreRelocationResult {
    var result = CoreRelocationResult(localSpec: CoreSpec(btf: intGraph, rootTypeID: 1, kind: .fieldByteOffset))
    result.originalValue = original
    result.newValue = new
    result.validate = validate
    result.poison = poison
    result.originalSize = sizes.0
    result.newSize = sizes.1
    result.failsMemorySizeAdjustment = failsAdjustment
    return result
}

private func apply(_ result: CoreRelocationResult, _ instructions: inout [Instruction],
                   at slot: Int = 0) throws(CoreRelocationError) -> CoreInstructionPatcher.Patch? {
    switch try CoreInstructionPatcher.apply(result, to: &instructions, at: slot) {
    case .patched(let patch): return patch
    case .poisoned: return nil
    }
}

/// The error of a patch, or `nil` when it applies.
private func failure(_ result: CoreRelocationResult, _ instructions: inout [Instruction],
                     at slot: Int = 0) -> CoreRelocationError? {
    do {
        _ = try CoreInstructionPatcher.apply(result, to: &instructions, at: slot)
        return nil
    } catch {
        return error
    }
}

private let poisoned = Instruction(opcode: Opcode(0x85), imm: 0xbad2310)
private let loadWord = Opcode(.ldx, .word, .memory)

@Suite struct CorePatchTests {
    // MARK: ALU

    @Test func aluImmediate() throws {
        var code = [Instruction.move(dst: 1, imm: 4), .exit]
        let patch = try #require(try apply(decision(4, 8), &code))
        #expect(code[0] == .move(dst: 1, imm: 8) && code[1] == .exit)
        #expect(patch.field == .immediate && patch.old == 4 && patch.new == 8 && patch.memorySize == nil)
        #expect(patch.log == ["patched insn #0 (ALU/ALU64) imm 4 -> 8"])

        var add = [Instruction(opcode: Opcode(.alu, ALUOperation.add, .immediate), dst: 2, imm: 16)]
        _ = try apply(decision(16, 24), &add)
        #expect(add[0].imm == 24 && add[0].dst == 2)
        // Negative immediates compare sign-extended.
        var negative = [Instruction.move(dst: 1, imm: -3)]
        let signed = try #require(try apply(decision(UInt64(bitPattern: -3), UInt64(bitPattern: -9)), &negative))
        #expect(negative[0].imm == -9 && signed.old == -3 && signed.new == -9)
        // A value wider than 32 bits is cut to the immediate, as libbpf's assignment to insn->imm does.
        var wide = [Instruction.move(dst: 1, imm: 2)]
        let cut = try #require(try apply(decision(2, 0x1_0000_0005), &wide))
        #expect(wide[0].imm == 5 && cut.new == 5 && cut.log == ["patched insn #0 (ALU/ALU64) imm 2 -> 4294967301"])
    }

    @Test func aluValidation() throws {
        var code = [Instruction.move(dst: 1, imm: 5)]
        let error = failure(decision(4, 8), &code)
        #expect(error?.code == .instructionMismatch)
        #expect(error?.message == "unexpected insn #0 (ALU/ALU64) value: got 5, exp 4 -> 8")
        #expect(code[0].imm == 5)
        // Not validated (bitfield offsets, type ids): patched whatever it held.
        let patch = try #require(try apply(decision(4, 8, validate: false), &code))
        #expect(code[0].imm == 8 && patch.log == ["patched insn #0 (ALU/ALU64) imm 5 -> 8"])
        // A register operand has no immediate to patch.
        var register = [Instruction(opcode: .move64Register, dst: 1, src: 2)]
        #expect(failure(decision(0, 8), &register)?.code == .instructionMismatch)
        #expect(register[0] == Instruction(opcode: .move64Register, dst: 1, src: 2))
    }

    // MARK: LDX / ST / STX

    @Test func loadStoreOffset() throws {
        var code = [Instruction(opcode: loadWord, dst: 1, src: 2, offset: 4), .exit]
        let patch = try #require(try apply(decision(4, 8, sizes: (4, 4)), &code))
        #expect(code[0] == Instruction(opcode: loadWord, dst: 1, src: 2, offset: 8))
        #expect(patch.field == .offset && patch.old == 4 && patch.new == 8 && patch.memorySize == nil)
        #expect(patch.log == ["patched insn #0 (LDX/ST/STX) off 4 -> 8"])

        var store = [Instruction(opcode: Opcode(.st, .word, .memory), dst: 1, offset: 4, imm: 7)]
        _ = try apply(decision(4, 12), &store)
        #expect(store[0].offset == 12 && store[0].imm == 7)
        var storeRegister = [Instruction(opcode: Opcode(.stx, .doubleWord, .memory), dst: 1, src: 3, offset: 0)]
        _ = try apply(decision(0, 32767), &storeRegister)
        #expect(storeRegister[0].offset == 32767)
    }

    @Test func loadStoreOffsetLimitsAndValidation() throws {
        var code = [Instruction(opcode: loadWord, dst: 1, src: 2, offset: 4)]
        let tooBig = failure(decision(4, 32768), &code)
        #expect(tooBig?.code == .instructionMismatch)
        #expect(tooBig?.message == "insn #0 (LDX/ST/STX) value too big: 32768")
        #expect(code[0].offset == 4)
        let mismatch = failure(decision(6, 8), &code)
        #expect(mismatch?.message == "unexpected insn #0 (LDX/ST/STX) value: got 4, exp 6 -> 8")
        // Negative offsets compare sign-extended.
        var negative = [Instruction(opcode: loadWord, dst: 1, src: 10, offset: -8)]
        _ = try apply(decision(UInt64(bitPattern: -8), 16), &negative)
        #expect(negative[0].offset == 16)
    }

    @Test func memorySizeAdjustment() throws {
        // u32 → u64 (both unsigned): the load widens.
        var code = [Instruction(opcode: loadWord, dst: 1, src: 2, offset: 4)]
        let patch = try #require(try apply(decision(4, 8, sizes: (4, 8)), &code))
        #expect(code[0].opcode == Opcode(.ldx, .doubleWord, .memory) && code[0].opcode.rawValue == 0x79)
        #expect(code[0].offset == 8 && code[0].dst == 1 && code[0].src == 2)
        #expect(patch.memorySize.map { [$0.from, $0.to] } == [4, 8])
        #expect(patch.log == ["patched insn #0 (LDX/ST/STX) off 4 -> 8", "patched insn #0 (LDX/ST/STX) mem_sz 4 -> 8"])
        // A sign-extending load keeps its mode.
        var signExtending = [Instruction(opcode: Opcode(.ldx, .halfWord, .signExtendingMemory), dst: 1, src: 2)]
        _ = try apply(decision(0, 0, sizes: (2, 1)), &signExtending)
        #expect(signExtending[0].opcode == Opcode(.ldx, .byte, .signExtendingMemory))
        // The instruction must load the local field's size...
        var half = [Instruction(opcode: Opcode(.ldx, .halfWord, .memory), dst: 1, src: 2, offset: 4)]
        #expect(failure(decision(4, 8, sizes: (4, 8)), &half)?.message == "insn #0 (LDX/ST/STX) unexpected mem size: got 2, exp 4")
        // ... and the new size must be a load size.
        var odd = [Instruction(opcode: loadWord, dst: 1, src: 2, offset: 4)]
        #expect(failure(decision(4, 8, sizes: (4, 3)), &odd)?.message == "insn #0 (LDX/ST/STX) invalid new mem size: 3")
    }

    @Test func failedMemorySizeAdjustmentPoisons() throws {
        // int → long (signed): no load size is right, so the instruction is poisoned, not patched.
        var code = [Instruction.move(dst: 0, imm: 0), Instruction(opcode: loadWord, dst: 1, src: 2, offset: 4), .exit]
        let outcome = try CoreInstructionPatcher.apply(decision(4, 8, sizes: (4, 8), failsAdjustment: true), to: &code, at: 1)
        guard case .poisoned(let reason, let log) = outcome else {
            Issue.record("not poisoned: \(outcome)")
            return
        }
        #expect(reason?.contains("accesses field incorrectly") == true)
        #expect(log.last == "substituting insn #1 w/ invalid insn")
        #expect(code == [.move(dst: 0, imm: 0), poisoned, .exit])
        // The value check still comes first.
        var wrong = [Instruction(opcode: loadWord, dst: 1, src: 2, offset: 6)]
        #expect(failure(decision(4, 8, sizes: (4, 8), failsAdjustment: true), &wrong)?.code == .instructionMismatch)
    }

    // MARK: LD_IMM64

    @Test func loadImm64() throws {
        var code = Instruction.loadImm64(dst: 1, value: 7) + [.exit]
        let patch = try #require(try apply(decision(7, 0x1_0000_0005), &code))
        #expect(code[0].imm == 5 && code[1].imm == 1 && code[0].isLoadImm64 && code[2] == .exit)
        #expect(code.loadImm64Value(at: 0) == 0x1_0000_0005)
        #expect(patch.field == .immediate64 && patch.old == 7 && patch.new == 0x1_0000_0005)
        #expect(patch.log == ["patched insn #0 (LDIMM64) imm64 7 -> 4294967301"])

        var mismatch = Instruction.loadImm64(dst: 1, value: 0x2_0000_0007)
        #expect(failure(decision(7, 9), &mismatch)?.message == "unexpected insn #0 (LDIMM64) value: got 8589934599, exp 7 -> 9")
        _ = try apply(decision(7, 9, validate: false), &mismatch)
        #expect(mismatch.loadImm64Value(at: 0) == 9)
    }

    @Test func loadImm64UnexpectedForms() throws {
        let expected = "insn #0 (LDIMM64) has unexpected form"
        var mapReference = Instruction.loadImm64(dst: 1, source: .mapFD, value: 7)
        #expect(failure(decision(7, 9), &mapReference)?.message == expected)
        var firstHalfOnly = [Instruction.loadImm64(dst: 1, value: 7)[0]]
        #expect(failure(decision(7, 9), &firstHalfOnly)?.message == expected)
        var badSecondHalf = Instruction.loadImm64(dst: 1, value: 7)
        badSecondHalf[1].dst = 1
        #expect(failure(decision(7, 9), &badSecondHalf)?.message == expected)
        var offset = Instruction.loadImm64(dst: 1, value: 7)
        offset[0].offset = 1
        #expect(failure(decision(7, 9), &offset)?.message == expected)
        var absolute = [Instruction(opcode: Opcode(.ld, .word, .absolute), imm: 7)]
        #expect(failure(decision(7, 9), &absolute)?.message == expected)
    }

    // MARK: Poison and unrecognized instructions

    @Test func poisonLoadImm64CoversBothSlots() throws {
        var code = [Instruction.move(dst: 0, imm: 0)] + Instruction.loadImm64(dst: 1, value: 7) + [.exit]
        let outcome = try CoreInstructionPatcher.apply(decision(7, 0, poison: true), to: &code, at: 1)
        guard case .poisoned(let reason, let log) = outcome else {
            Issue.record("not poisoned")
            return
        }
        #expect(reason == nil)
        #expect(log == ["substituting insn #2 w/ invalid insn", "substituting insn #1 w/ invalid insn"])
        #expect(code == [.move(dst: 0, imm: 0), poisoned, poisoned, .exit])
        #expect(poisoned == .call(helper: Instruction.poisonedCoreHelperID))
        #expect(Instruction.encode([poisoned], order: .little) == [0x85, 0, 0, 0, 0x10, 0x23, 0xad, 0x0b])

        // Any other instruction: only its own slot; a lone first half at the end does not reach past it.
        var load = [Instruction(opcode: loadWord, dst: 1, src: 2, offset: 4), .exit]
        _ = try CoreInstructionPatcher.apply(decision(4, 8, poison: true), to: &load, at: 0)
        #expect(load == [poisoned, .exit])
        var lone = [Instruction.exit, Instruction.loadImm64(dst: 1, value: 7)[0]]
        _ = try CoreInstructionPatcher.apply(decision(7, 0, poison: true), to: &lone, at: 1)
        #expect(lone == [.exit, poisoned])
    }

    @Test func unrecognizedInstructionClasses() throws {
        var exit = [Instruction.exit]
        let error = failure(decision(0, 8), &exit)
        #expect(error?.code == .instructionMismatch)
        #expect(error?.message == "trying to relocate unrecognized insn #0, code:0x95, src:0x0, dst:0x0, off:0x0, imm:0x0")
        var jump = [Instruction(opcode: Opcode(.jmp32, JumpOperation.jeq, .immediate), dst: 3, offset: -2, imm: 9)]
        #expect(failure(decision(9, 8), &jump)?.message
                == "trying to relocate unrecognized insn #0, code:0x16, src:0x0, dst:0x3, off:0xfffffffe, imm:0x9")
        #expect(jump[0].imm == 9)
    }

    // MARK: Whole objects

    /// Relocating an object against its own BTF gives back what the compiler wrote, except where libbpf
    /// disagrees with clang by design: the load size of a bitfield (clang reads `in_execve:1` with 8 bytes,
    /// libbpf's smallest load is 4; on big-endian the left shift follows). Those are not validated.
    @Test(arguments: ["core.o", "core.bpfeb.o"])
    func objectAgainstItsOwnBTF(name: String) throws {
        var spec = try ObjectSpec(contentsOf: TestPaths.fixtures + "/" + name)
        let btf = try #require(spec.btf)
        let outcomes = try spec.applyCoreRelocations(targets: CoreTargets(primary: CoreTargetBTF(btf, name: "vmlinux")))
        #expect(outcomes.count > 20)
        var changed: [String] = []
        for outcome in outcomes {
            #expect(outcome.status == .patched, "\(outcome.kindName) \(outcome.reason ?? ""): \(outcome.log)")
            guard outcome.oldValue != outcome.newValue, let result = outcome.result else { continue }
            #expect(!result.validate)
            changed.append("\(outcome.kindName) \(result.localSpec.description) \(outcome.oldValue ?? -1) -> \(outcome.newValue ?? -1)")
        }
        let expected = name == "core.o"
            ? ["byte_sz [23] struct task_struct.in_execve (0:5 @ offset 16.2) 8 -> 4"]
            : ["byte_sz [23] struct task_struct.in_execve (0:5 @ offset 16.2) 8 -> 4",
               "lshift_u64 [23] struct task_struct.in_execve (0:5 @ offset 16.2) 2 -> 34"]
        #expect(Set(changed) == Set(expected), "\(changed)")
    }

    /// Seeded single-byte corruptions of `core.o`'s .BTF and .BTF.ext: parsing and relocating may fail, never
    /// crash or hang.
    @Test(arguments: [".BTF", ".BTF.ext"])
    func corruptedBTFNeverCrashes(sectionName: String) throws {
        let path = TestPaths.fixtures + "/core.o"
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let elf = try ELFFile(bytes: ByteView(original))
        let section = try #require(elf.section(named: sectionName))
        var random = SplitMix64(seed: 0x5EED_C02E ^ UInt64(sectionName.utf8.count))
        var parsed = 0
        var relocated = 0
        for _ in 0..<300 {
            var bytes = original
            let position = section.offset + Int(random.next() % UInt64(section.size))
            bytes[position] ^= UInt8(random.next() % 255 + 1)              // never 0: the byte changes
            guard var spec = try? ObjectSpec(bytes: ByteView(bytes), name: "core"), let btf = spec.btf else { continue }
            parsed += 1
            guard let outcomes = try? spec.applyCoreRelocations(targets: CoreTargets(primary: CoreTargetBTF(btf, name: "vmlinux"))) else {
                continue
            }
            relocated += 1
            for outcome in outcomes where outcome.status == .patched {
                #expect(outcome.newValue != nil)
            }
        }
        // Most corruptions still parse, so the relocator did run on damaged types and records.
        #expect(parsed > 100 && relocated > 100, "parsed \(parsed), relocated \(relocated)")
    }
}

/// A small deterministic generator (SplitMix64) for reproducible corruptions.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
