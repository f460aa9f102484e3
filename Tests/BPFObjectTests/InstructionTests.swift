import ByteParsing
import Testing
@testable import BPFObject

/// Encoding and decoding of instruction slots in both byte orders, LD_IMM64 pairs, errors, the opcode
/// vocabulary and the helper table.
@Suite struct InstructionTests {
    /// A sample touching every field with values that show byte order and sign problems.
    static let sample: [Instruction] = [
        Instruction(opcode: Opcode(.alu64, ALUOperation.mov, .register), dst: 6, src: 1),
        Instruction(opcode: Opcode(.ldx, .doubleWord, .memory), dst: 1, src: 10, offset: -8),
        Instruction(opcode: Opcode(.st, .word, .memory), dst: 10, offset: -4, imm: -0x1234_5678),
        Instruction(opcode: Opcode(.jmp, .jsgt, .immediate), dst: 2, offset: 0x7fff, imm: Int32.min),
        Instruction(opcode: Opcode(.stx, .doubleWord, .atomic), dst: 11, src: 15, offset: Int16.min,
                    imm: AtomicOperation.compareExchange.rawValue),
    ] + Instruction.loadImm64(dst: 1, source: .mapValue, value: 0x0102_0304_0506_0708) + [
        .call(helper: 1), .exit,
    ]

    @Test(arguments: [ByteOrder.little, .big])
    func roundTrip(order: ByteOrder) throws {
        let bytes = Instruction.encode(Self.sample, order: order)
        #expect(bytes.count == Self.sample.count * Instruction.byteCount)
        let decoded = try Instruction.decode(ByteView(bytes, order: order))
        #expect(decoded == Self.sample)
        #expect(Instruction.encode(decoded, order: order) == bytes)
    }

    @Test func littleEndianLayout() {
        // r1 = *(u64 *)(r10 - 8): dst in the low nibble, src in the high nibble.
        let load = Instruction(opcode: Opcode(.ldx, .doubleWord, .memory), dst: 1, src: 10, offset: -8, imm: 0x0102_0304)
        #expect(load.encoded(order: .little) == [0x79, 0xa1, 0xf8, 0xff, 0x04, 0x03, 0x02, 0x01])
    }

    @Test func bigEndianLayout() {
        // bpfeb: dst in the high nibble, offset and immediate big-endian.
        let load = Instruction(opcode: Opcode(.ldx, .doubleWord, .memory), dst: 1, src: 10, offset: -8, imm: 0x0102_0304)
        #expect(load.encoded(order: .big) == [0x79, 0x1a, 0xff, 0xf8, 0x01, 0x02, 0x03, 0x04])
    }

    @Test func decodeReadsRegistersByOrder() throws {
        let bytes: [UInt8] = [0xbf, 0x21, 0, 0, 0, 0, 0, 0]
        let little = try Instruction.decode(ByteView(bytes, order: .little))
        #expect(little[0].dst == 1 && little[0].src == 2)
        let big = try Instruction.decode(ByteView(bytes, order: .big))
        #expect(big[0].dst == 2 && big[0].src == 1)
    }

    @Test func registersAreMaskedToFourBits() {
        let instruction = Instruction(opcode: .move64Register, dst: 0x13, src: 0x24)
        #expect(instruction.encoded(order: .little)[1] == 0x43)
    }

    @Test func lengthNotMultipleOfEight() {
        let bytes = Instruction.encode([.exit], order: .little) + [0, 0, 0]
        #expect(throws: InstructionDecodingError(.lengthNotMultipleOfInstructionSize(length: 11), offset: 8)) {
            try Instruction.decode(ByteView(bytes))
        }
    }

    @Test func truncatedLoadImm64() {
        let pair = Instruction.loadImm64(dst: 1, value: 5)
        let bytes = Instruction.encode([.exit, pair[0]], order: .little)
        #expect(throws: InstructionDecodingError(.truncatedLoadImm64, offset: 8)) {
            try Instruction.decode(ByteView(bytes))
        }
        do {
            _ = try Instruction.decode(ByteView(bytes))
        } catch {
            #expect(error.description.contains("offset 8"))
        }
    }

    @Test func emptySectionDecodesToNothing() throws {
        #expect(try Instruction.decode(ByteView([])).isEmpty)
    }

    @Test func loadImm64Value() {
        var code = [Instruction.exit] + Instruction.loadImm64(dst: 2, value: 0xdead_beef_0000_0001) + [.exit]
        #expect(code[1].isLoadImm64)
        #expect(code[1].imm == 1 && code[2].imm == Int32(bitPattern: 0xdead_beef))
        #expect(code[2].opcode.rawValue == 0)
        #expect(code.loadImm64Value(at: 1) == 0xdead_beef_0000_0001)
        #expect(code.loadImm64Value(at: 0) == nil)
        let stored = code.setLoadImm64Value(0xffff_ffff_ffff_ffff, at: 1)
        #expect(stored)
        #expect(code.loadImm64Value(at: 1) == UInt64.max)
        #expect(code[1].imm == -1 && code[2].imm == -1)
        let storedAtExit = code.setLoadImm64Value(1, at: 3)
        #expect(!storedAtExit)
        var low = code[1], high = code[2]
        low.setImm64(0x1_0000_0002, high: &high)
        #expect(Instruction.imm64(low: low, high: high) == 0x1_0000_0002)
    }

    @Test func classification() {
        let helper = Instruction.call(helper: 1)
        #expect(helper.isCall && helper.isHelperCall && helper.callKind == .helper && !helper.isFunctionCall)
        let function = Instruction(opcode: .call, src: CallKind.bpfFunction.rawValue, imm: 5)
        #expect(function.isFunctionCall && function.target(from: 10) == 16)
        let kfunc = Instruction(opcode: .call, src: CallKind.kfunc.rawValue, imm: 1234)
        #expect(kfunc.isKfuncCall && kfunc.relativeTarget == nil)
        let callback = Instruction.loadImm64(dst: 2, source: .bpfFunction, value: 7)[0]
        #expect(callback.isFunctionReference && callback.loadImm64Source == .bpfFunction && callback.target(from: 0) == 8)
        let jump = Instruction(opcode: Opcode(.jmp, .jeq, .register), dst: 1, src: 2, offset: -3)
        #expect(jump.isJump && jump.target(from: 10) == 8)
        let gotol = Instruction(opcode: .longJump, imm: 100_000)
        #expect(gotol.isJump && gotol.relativeTarget == 100_000)
        #expect(Instruction(opcode: .mayGoto, offset: 2).isJump)
        #expect(!Instruction.exit.isJump && Instruction.exit.isExit)
        #expect(!Instruction(opcode: .callRegister).isJump)
    }

    @Test func opcodeFields() {
        #expect(Opcode.loadImm64.rawValue == 0x18)
        #expect(Opcode.call.rawValue == 0x85)
        #expect(Opcode.exit.rawValue == 0x95)
        #expect(Opcode.longJump.rawValue == 0x06)
        #expect(Opcode.mayGoto.rawValue == 0xe5)
        #expect(Opcode(.stx, .doubleWord, .atomic).rawValue == 0xdb)
        #expect(Opcode(.ldx, .byte, .signExtendingMemory).rawValue == 0x91)
        #expect(Opcode(.alu64, ALUOperation.end, .immediate).rawValue == 0xd7)
        #expect(Opcode(.jmp32, .jsle, .register).rawValue == 0xde)
        let load = Opcode(0x61)
        #expect(load.instructionClass == .ldx && load.size == .word && load.mode == .memory)
        let add = Opcode(0x0f)
        #expect(add.instructionClass == .alu64 && add.source == .register && add.aluOperation == .add)
        #expect(Opcode(0xf4).aluOperation == nil)
        #expect(Opcode(0xf5).jumpOperation == nil)
        #expect(Opcode(0xe1).mode == nil)
        #expect(Opcode(0x18).description == "0x18")
        #expect(Opcode(0x05).description == "0x05")
        for size in MemorySize.allCases { #expect(MemorySize(byteCount: size.byteCount) == size) }
        #expect(AtomicOperation.fetchXor.fetches && !AtomicOperation.xor.fetches)
        #expect(AtomicOperation.exchange.fetches && AtomicOperation.compareExchange.fetches)
    }

    @Test func helperTable() {
        #expect(HelperFunctions.name(of: 1) == "bpf_map_lookup_elem")
        #expect(HelperFunctions.name(of: 6) == "bpf_trace_printk")
        #expect(HelperFunctions.name(of: 130) == "bpf_ringbuf_output")
        #expect(HelperFunctions.name(of: 209) == "bpf_user_ringbuf_drain")
        #expect(HelperFunctions.name(of: 211) == "bpf_cgrp_storage_delete")
        #expect(HelperFunctions.maximumID == 211)
        #expect(HelperFunctions.name(of: 0) == nil)
        #expect(HelperFunctions.name(of: 212) == nil)
        #expect(HelperFunctions.name(of: -1) == nil)
        #expect(HelperFunctions.id(named: "bpf_probe_read_kernel") == 113)
        #expect(HelperFunctions.id(named: "ktime_get_ns") == 5)
        #expect(HelperFunctions.id(named: "no_such_helper") == nil)
        let names = HelperFunctions.names.map(\.description)
        #expect(Set(names).count == names.count)
    }
}
