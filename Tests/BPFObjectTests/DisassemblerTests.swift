import ByteParsing
import Testing
@testable import BPFObject

/// The plain rendering of every instruction class, checked against what llvm-objdump 21 prints (the
/// expected texts were taken from it), and the annotated rendering.
@Suite struct DisassemblerTests {
    struct Case: CustomStringConvertible, Sendable {
        var opcode: UInt8, dst: UInt8, src: UInt8, offset: Int16, imm: Int32
        var text: String
        var instruction: Instruction { Instruction(opcode: Opcode(opcode), dst: dst, src: src, offset: offset, imm: imm) }
        var description: String { text }
        init(_ opcode: UInt8, _ dst: UInt8, _ src: UInt8, _ offset: Int16, _ imm: Int32, _ text: String) {
            self.opcode = opcode; self.dst = dst; self.src = src; self.offset = offset; self.imm = imm; self.text = text
        }
    }

    static let cases: [Case] = [
        // LD: legacy packet access.
        Case(0x20, 0, 0, 0, 7, "r0 = *(u32 *)skb[0x7]"),
        Case(0x28, 0, 0, 0, -3, "r0 = *(u16 *)skb[-0x3]"),
        Case(0x30, 0, 0, 0, 7, "r0 = *(u8 *)skb[0x7]"),
        Case(0x40, 0, 2, 0, 0, "r0 = *(u32 *)skb[r2]"),
        Case(0x50, 0, 2, 0, 0, "r0 = *(u8 *)skb[r2]"),
        Case(0x38, 0, 0, 0, 0, "<unknown>"),
        // LDX: 32-bit and narrower loads print w registers; sign-extending loads r.
        Case(0x79, 1, 2, 8, 0, "r1 = *(u64 *)(r2 + 0x8)"),
        Case(0x61, 1, 2, -4, 0, "w1 = *(u32 *)(r2 - 0x4)"),
        Case(0x69, 3, 10, 0, 0, "w3 = *(u16 *)(r10 + 0x0)"),
        Case(0x71, 1, 2, 0x7fff, 0, "w1 = *(u8 *)(r2 + 0x7fff)"),
        Case(0x81, 1, 2, -0x8000, 0, "r1 = *(s32 *)(r2 - 0x8000)"),
        Case(0x89, 1, 2, -4, 0, "r1 = *(s16 *)(r2 - 0x4)"),
        Case(0x91, 1, 2, -4, 0, "r1 = *(s8 *)(r2 - 0x4)"),
        Case(0x99, 1, 2, 0, 0, "<unknown>"),
        // ST, STX.
        Case(0x62, 10, 0, -4, 7, "*(u32 *)(r10 - 0x4) = 0x7"),
        Case(0x7a, 1, 0, -0x8000, -5, "*(u64 *)(r1 - 0x8000) = -0x5"),
        Case(0x63, 10, 1, -4, 0, "*(u32 *)(r10 - 0x4) = w1"),
        Case(0x6b, 1, 2, 2, 0, "*(u16 *)(r1 + 0x2) = w2"),
        Case(0x7b, 10, 1, -8, 0, "*(u64 *)(r10 - 0x8) = r1"),
        // Atomics.
        Case(0xdb, 1, 2, 0, 0x00, "lock *(u64 *)(r1 + 0x0) += r2"),
        Case(0xc3, 1, 2, -8, 0x40, "lock *(u32 *)(r1 - 0x8) |= w2"),
        Case(0xdb, 1, 2, -8, 0x50, "lock *(u64 *)(r1 - 0x8) &= r2"),
        Case(0xdb, 1, 2, -8, 0xa0, "lock *(u64 *)(r1 - 0x8) ^= r2"),
        Case(0xdb, 1, 0, 0, 0x01, "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)"),
        Case(0xc3, 1, 2, -8, 0x41, "w2 = atomic_fetch_or((u32 *)(r1 - 0x8), w2)"),
        Case(0xdb, 1, 2, -8, 0x51, "r2 = atomic_fetch_and((u64 *)(r1 - 0x8), r2)"),
        Case(0xc3, 1, 2, -8, 0xa1, "w2 = atomic_fetch_xor((u32 *)(r1 - 0x8), w2)"),
        Case(0xc3, 1, 2, -8, 0xe1, "w2 = xchg32_32(r1 - 0x8, w2)"),
        Case(0xdb, 1, 2, -8, 0xe1, "r2 = xchg_64(r1 - 0x8, r2)"),
        Case(0xc3, 1, 2, -8, 0xf1, "w0 = cmpxchg32_32(r1 - 0x8, w0, w2)"),
        Case(0xdb, 1, 2, -8, 0xf1, "r0 = cmpxchg_64(r1 - 0x8, r0, r2)"),
        Case(0xdb, 1, 2, -8, 0x100, "r1 = load_acquire((u64 *)(r2 - 0x8))"),
        Case(0xd3, 1, 2, -8, 0x100, "w1 = load_acquire((u8 *)(r2 - 0x8))"),
        Case(0xcb, 1, 2, -8, 0x110, "store_release((u16 *)(r1 - 0x8), w2)"),
        Case(0xcb, 1, 2, -8, 0x00, "<unknown>"),
        Case(0xc3, 1, 2, -8, 0xe0, "<unknown>"),
        // ALU and ALU64.
        Case(0xb7, 1, 0, 0, 5, "r1 = 0x5"),
        Case(0xb7, 1, 0, 0, Int32.min, "r1 = -0x80000000"),
        Case(0xb4, 1, 0, 0, -1, "w1 = -0x1"),
        Case(0x0f, 1, 2, 0, 0, "r1 += r2"),
        Case(0x04, 1, 0, 0, 7, "w1 += 0x7"),
        Case(0x1c, 1, 2, 0, 0, "w1 -= w2"),
        Case(0x27, 1, 0, 0, 3, "r1 *= 0x3"),
        Case(0x3f, 1, 2, 0, 0, "r1 /= r2"),
        Case(0x3f, 1, 2, 1, 0, "r1 s/= r2"),
        Case(0x34, 1, 0, 1, 7, "w1 s/= 0x7"),
        Case(0x97, 1, 0, 1, 7, "r1 s%= 0x7"),
        Case(0x9c, 1, 2, 0, 0, "w1 %= w2"),
        Case(0x47, 1, 0, 0, 0x100, "r1 |= 0x100"),
        Case(0x57, 1, 0, 0, -1, "r1 &= -0x1"),
        Case(0x67, 1, 0, 0, 3, "r1 <<= 0x3"),
        Case(0x74, 1, 0, 0, 3, "w1 >>= 0x3"),
        Case(0xc7, 1, 0, 0, 3, "r1 s>>= 0x3"),
        Case(0xcc, 1, 2, 0, 0, "w1 s>>= w2"),
        Case(0xa4, 1, 0, 0, -1, "w1 ^= -0x1"),
        Case(0x84, 1, 0, 0, 0, "w1 = -w1"),
        Case(0x87, 1, 0, 0, 0, "r1 = -r1"),
        Case(0xbf, 1, 2, 0, 0, "r1 = r2"),
        Case(0xbc, 1, 2, 0, 0, "w1 = w2"),
        Case(0xbf, 1, 2, 8, 0, "r1 = (s8)r2"),
        Case(0xbf, 1, 2, 32, 0, "r1 = (s32)r2"),
        Case(0xbc, 1, 2, 16, 0, "w1 = (s16)w2"),
        Case(0xbc, 1, 2, 32, 0, "<unknown>"),
        Case(0xbf, 1, 2, 1, 0x10000, "r1 = addr_space_cast(r2, 0x1, 0x0)"),
        Case(0xd4, 1, 0, 0, 16, "r1 = le16 r1"),
        Case(0xdc, 1, 0, 0, 32, "r1 = be32 r1"),
        Case(0xd7, 1, 0, 0, 64, "r1 = bswap64 r1"),
        Case(0xd7, 1, 0, 0, 8, "<unknown>"),
        Case(0x07, 1, 0, 1, 7, "<unknown>"),
        Case(0xbf, 12, 1, 0, 0, "<unknown>"),
        Case(0xbf, 11, 1, 0, 0, "r11 = r1"),
        // JMP and JMP32.
        Case(0x05, 0, 0, -4, 0, "goto -0x4"),
        Case(0x05, 0, 0, 0, 0, "goto +0x0"),
        Case(0x06, 0, 0, 0, 7, "gotol +0x7"),
        Case(0x25, 1, 0, 3, 5, "if r1 > 0x5 goto +0x3"),
        Case(0x15, 1, 0, -1, -1, "if r1 == -0x1 goto -0x1"),
        Case(0x1d, 1, 2, 3, 0, "if r1 == r2 goto +0x3"),
        Case(0x16, 1, 0, 3, 7, "if w1 == 0x7 goto +0x3"),
        Case(0x3e, 1, 2, 3, 0, "if w1 >= w2 goto +0x3"),
        Case(0x45, 1, 0, 3, 7, "if r1 & 0x7 goto +0x3"),
        Case(0x5d, 1, 2, 3, 0, "if r1 != r2 goto +0x3"),
        Case(0x65, 1, 0, 3, 7, "if r1 s> 0x7 goto +0x3"),
        Case(0x7e, 1, 2, 3, 0, "if w1 s>= w2 goto +0x3"),
        Case(0xa5, 1, 0, 3, 7, "if r1 < 0x7 goto +0x3"),
        Case(0xbd, 1, 2, 3, 0, "if r1 <= r2 goto +0x3"),
        Case(0xc6, 1, 0, 3, 7, "if w1 s< 0x7 goto +0x3"),
        Case(0xdd, 1, 2, 3, 0, "if r1 s<= r2 goto +0x3"),
        Case(0x85, 0, 0, 0, 1, "call 0x1"),
        Case(0x85, 0, 1, 0, -1, "call -0x1"),
        Case(0x85, 0, 2, 0, 1234, "call 0x4d2"),
        Case(0x8d, 1, 0, 0, 0, "callx r1"),
        Case(0x95, 0, 0, 0, 0, "exit"),
        Case(0x95, 0, 0, 0, 1, "<unknown>"),
        Case(0x96, 0, 0, 0, 0, "<unknown>"),
        Case(0xe5, 0, 0, 3, 0, "may_goto +0x3"),
        Case(0xf5, 0, 0, 0, 0, "<unknown>"),
    ]

    @Test(arguments: cases)
    func plainMatchesLLVM(_ sample: Case) throws {
        let plain = Disassembler()
        #expect(plain.text(of: sample.instruction) == sample.text)
        // The same instruction read back from either byte order renders the same.
        for order in [ByteOrder.little, .big] {
            let decoded = try Instruction.decode(ByteView(sample.instruction.encoded(order: order), order: order))
            #expect(plain.text(of: decoded[0]) == sample.text)
        }
    }

    @Test func everyClassIsCovered() {
        let classes = Set(Self.cases.filter { $0.text != "<unknown>" }.map(\.instruction.instructionClass))
        #expect(classes == Set(InstructionClass.allCases))
    }

    @Test func loadImm64Plain() {
        let plain = Disassembler()
        func render(_ pair: [Instruction]) -> String { plain.text(of: pair[0], next: pair[1]) }
        #expect(render(Instruction.loadImm64(dst: 1, value: 0x9_1234_5678)) == "r1 = 0x912345678 ll")
        #expect(render(Instruction.loadImm64(dst: 1, value: 0)) == "r1 = 0x0 ll")
        #expect(render(Instruction.loadImm64(dst: 1, value: UInt64.max)) == "r1 = -0x1 ll")
        #expect(render(Instruction.loadImm64(dst: 1, value: 1 << 63)) == "r1 = -0x8000000000000000 ll")
        #expect(render(Instruction.loadImm64(dst: 1, source: .mapFD, value: 3)) == "ld_pseudo\tr1, 0x1, 0x3")
        #expect(render(Instruction.loadImm64(dst: 1, source: .mapValue, value: 0xffff_ffff)) == "ld_pseudo\tr1, 0x2, 0xffffffff")
        var withOffset = Instruction.loadImm64(dst: 1, value: 5)
        withOffset[0].offset = 3
        #expect(render(withOffset) == "<unknown>")
        #expect(plain.text(of: Instruction.loadImm64(dst: 1, value: 5)[0]) == "<unknown>")
    }

    @Test func plainLinesPrintLoadImm64Once() {
        let code = [Instruction.move(dst: 0, imm: 0)] + Instruction.loadImm64(dst: 1, value: 4) + [.exit]
        let lines = Disassembler().lines(of: code)
        #expect(lines.map(\.slot) == [0, 1, 3])
        #expect(lines.map(\.slotCount) == [1, 2, 1])
        #expect(lines.map(\.text) == ["r0 = 0x0", "r1 = 0x4 ll", "exit"])
        #expect(Disassembler().listing(of: code) == "    0: r0 = 0x0\n    1: r1 = 0x4 ll\n    3: exit\n")
    }

    @Test func plainSkipsOneSlotAfterUndecodableLoadImm64() {
        // llvm-objdump steps over only 8 bytes when it cannot decode an LD_IMM64.
        var pair = Instruction.loadImm64(dst: 13, value: 4)
        pair[1] = Instruction.exit
        #expect(Disassembler().lines(of: pair).map(\.text) == ["<unknown>", "exit"])
        #expect(Disassembler(style: .annotated).lines(of: pair).map(\.slotCount) == [2])
    }

    @Test func annotatedListing() {
        var code: [Instruction] = []
        code += Instruction.loadImm64(dst: 1, value: 0)                                  // 0: map
        code += [Instruction(opcode: Opcode(.alu64, ALUOperation.mov, .register), dst: 2, src: 10)] // 2
        code += [.call(helper: 1)]                                                        // 3
        code += [Instruction(opcode: Opcode(.jmp, .jeq, .immediate), dst: 0, offset: 4)]  // 4 -> 9
        code += Instruction.loadImm64(dst: 1, value: 8)                                   // 5: .rodata + 8
        code += [Instruction(opcode: .call, src: CallKind.bpfFunction.rawValue, imm: -1)] // 7: relocated call
        code += [Instruction(opcode: .call, src: CallKind.bpfFunction.rawValue, imm: 2)]  // 8 -> 11
        code += [.move(dst: 0, imm: 0), .exit]                                            // 9, 10
        code += [.call(helper: 0xbad2310)]                                                // 11
        code += [Instruction(opcode: .call, src: CallKind.kfunc.rawValue, imm: 77)]      // 12
        code += [Instruction(opcode: Opcode(0xf5))]                                       // 13

        var annotations = DisassemblyAnnotationTable()
        annotations.addLabel("handle", at: 0)
        annotations.references[0] = .map(name: "counts")
        annotations.sourceLines[0] = "\tu64 *value = bpf_map_lookup_elem(&counts, &key);"
        annotations.references[5] = .mapValue(name: ".rodata", offset: 8)
        annotations.references[7] = .function(name: "helper_fn")
        annotations.addNote("R_BPF_64_32 helper_fn", at: 7)
        annotations.addLabel("LBB0_2", at: 9)
        annotations.addLabel("tail", at: 11)
        annotations.addNote("CO-RE relocation failed", at: 11)

        let listing = Disassembler(style: .annotated).listing(of: code, annotations: annotations)
        let expected = """
            handle:
            ; u64 *value = bpf_map_lookup_elem(&counts, &key);
                 0: r1 = map[counts] ll
                 2: r2 = r10
                 3: call bpf_map_lookup_elem
                 4: if r0 == 0x0 goto +0x4 <LBB0_2>
                 5: r1 = map[.rodata] + 0x8 ll
                 7: call helper_fn  ; R_BPF_64_32 helper_fn
                 8: call tail
            LBB0_2:
                 9: r0 = 0x0
                10: exit
            tail:
                11: call 0xbad2310  ; CO-RE relocation failed
                12: call kfunc 0x4d
                13: <unknown>  ; opcode 0xf5 dst 0 src 0 off 0 imm 0

            """
        #expect(listing == expected)
    }

    @Test func annotatedWithoutAnnotations() {
        let annotated = Disassembler(style: .annotated)
        let map = Instruction.loadImm64(dst: 1, source: .mapFD, value: 5)
        #expect(annotated.text(of: map[0], next: map[1]) == "r1 = map_fd[0x5] ll")
        var value = Instruction.loadImm64(dst: 1, source: .mapValue, value: 5)
        value[1].imm = 16
        #expect(annotated.text(of: value[0], next: value[1]) == "r1 = map_value[fd 0x5] + 0x10 ll")
        let index = Instruction.loadImm64(dst: 2, source: .mapIndex, value: 3)
        #expect(annotated.text(of: index[0], next: index[1]) == "r2 = map_idx[0x3] ll")
        let btf = Instruction.loadImm64(dst: 2, source: .btfID, value: 99)
        #expect(annotated.text(of: btf[0], next: btf[1]) == "r2 = btf_id[0x63] ll")
        let callback = Instruction.loadImm64(dst: 2, source: .bpfFunction, value: 4)
        #expect(annotated.text(of: callback[0], next: callback[1], at: 10) == "r2 = func[+0x4] <15> ll")
        let constant = Instruction.loadImm64(dst: 2, value: 42)
        #expect(annotated.text(of: constant[0], next: constant[1]) == "r2 = 0x2a ll")
        #expect(annotated.text(of: .call(helper: 6)) == "call bpf_trace_printk")
        #expect(annotated.text(of: .call(helper: 5000)) == "call 0x1388")
        let call = Instruction(opcode: .call, src: CallKind.bpfFunction.rawValue, imm: 3)
        #expect(annotated.text(of: call, at: 2) == "call 0x3 <6>")
        #expect(annotated.text(of: Instruction(opcode: .jump, offset: -3), at: 5) == "goto -0x3 <3>")
        #expect(annotated.text(of: Instruction(opcode: .longJump, imm: 2), at: 5) == "gotol +0x2 <8>")
        // Without annotations the plain text is unchanged where nothing is known.
        #expect(annotated.text(of: .exit) == "exit")
    }
}
