/// Renders instructions in the BPF assembly syntax that LLVM prints (`r1 = *(u64 *)(r2 + 0x8)`,
/// `if r1 > 0x5 goto +0x3`, `call 0x1`, `r1 = 0x0 ll`, `exit`).
///
/// Two styles:
/// - ``Style/plain`` prints exactly what `llvm-objdump -d` (LLVM 21) prints as an instruction's text,
///   except the ` <label>` it appends to jump targets (which depends on the file's symbols). Encodings that
///   LLVM cannot decode print `<unknown>`. This is what the differential tests compare.
/// - ``Style/annotated``, for `swift-load disasm`, prints the same syntax with names where they are known:
///   helpers (`call bpf_map_lookup_elem`), functions, maps (`r1 = map[counts] ll`), global data
///   (`r1 = map[.rodata] + 0x8 ll`); jump targets as `<slot>` or `<label>`; and, in listings, labels, source
///   lines and notes from ``DisassemblyAnnotations``.
///
/// The disassembler knows nothing of objects: what it cannot see in the instructions comes from the
/// annotations.
public struct Disassembler: Sendable {
    /// How instructions are rendered.
    public enum Style: Sendable, Hashable {
        /// llvm-objdump's text, for comparison with it.
        case plain
        /// With names, targets and comments, for people.
        case annotated
    }

    /// How instructions are rendered.
    public var style: Style

    /// What LLVM prints for an encoding it cannot decode.
    public static let unknownText = "<unknown>"

    /// The highest register number LLVM's BPF target decodes (`r11`, an internal register of the kernel's
    /// verifier); `r12`...`r15` in a register operand make the instruction undecodable.
    public static let highestRegister: UInt8 = 11

    /// A disassembler in `style`.
    public init(style: Style = .plain) {
        self.style = style
    }

    // MARK: Listings

    /// One line per instruction: an `LD_IMM64` and its second slot make one line of two slots.
    ///
    /// In the annotated style each line also carries its labels, source line and notes from `annotations`
    /// (an undecodable instruction gets a note with its raw fields).
    /// Slots are numbered from 0 at the collection's first element.
    public func lines(of instructions: some Collection<Instruction>, annotations: (any DisassemblyAnnotations)? = nil) -> [DisassemblyLine] {
        let instructions = Array(instructions)
        var lines: [DisassemblyLine] = []
        lines.reserveCapacity(instructions.count)
        var slot = 0
        while slot < instructions.count {
            let instruction = instructions[slot]
            let next = slot + 1 < instructions.count ? instructions[slot + 1] : nil
            let rendered = render(instruction, next: next, slot: slot, annotations: annotations)
            // An LD_IMM64 takes two slots. llvm-objdump steps over only one when it cannot decode the first
            // (and then decodes the second on its own); the plain style does the same to stay comparable.
            let slotCount = instruction.isLoadImm64 && next != nil && (rendered != nil || style == .annotated) ? 2 : 1
            var line = DisassemblyLine(slot: slot, slotCount: slotCount, text: rendered ?? Self.unknownText)
            if style == .annotated {
                if let annotations {
                    line.labels = annotations.labels(at: slot)
                    line.sourceLine = annotations.sourceLine(at: slot)
                    line.notes = annotations.notes(at: slot)
                }
                if rendered == nil {
                    line.notes.append(Self.rawFields(instruction))
                }
            }
            lines.append(line)
            slot += slotCount
        }
        return lines
    }

    /// The whole listing as text, one instruction per line as `slot: text`, slots right-aligned.
    ///
    /// In the annotated style, labels come first as `name:`, then the source line as `; text`, and notes
    /// follow the instruction as `  ; note; note`.
    public func listing(of instructions: some Collection<Instruction>, annotations: (any DisassemblyAnnotations)? = nil) -> String {
        let lines = lines(of: instructions, annotations: annotations)
        let width = String(max((lines.last?.slot ?? 0), 0)).count
        var output = ""
        for line in lines {
            for label in line.labels { output += label + ":\n" }
            if let source = line.sourceLine {
                // line_info text keeps the source's indentation; the comment does not need it.
                output += "; " + source.drop { $0 == " " || $0 == "\t" } + "\n"
            }
            let number = String(line.slot)
            output += String(repeating: " ", count: max(width - number.count, 0) + 4) + number + ": " + line.text
            if !line.notes.isEmpty { output += "  ; " + line.notes.joined(separator: "; ") }
            output += "\n"
        }
        return output
    }

    // MARK: One instruction

    /// The text of one instruction; `next` is the following slot (the second half of an `LD_IMM64`),
    /// `slot` its index (for jump targets and annotation lookups).
    public func text(of instruction: Instruction, next: Instruction? = nil, at slot: Int = 0,
                     annotations: (any DisassemblyAnnotations)? = nil) -> String {
        render(instruction, next: next, slot: slot, annotations: annotations) ?? Self.unknownText
    }

    /// The text, or `nil` where LLVM would print `<unknown>`.
    func render(_ instruction: Instruction, next: Instruction?, slot: Int, annotations: (any DisassemblyAnnotations)?) -> String? {
        let context = RenderContext(instruction: instruction, slot: slot, annotated: style == .annotated,
                                    annotations: annotations)
        switch instruction.instructionClass {
        case .ld: return context.renderLoad(next: next)
        case .ldx: return context.renderLoadFromMemory()
        case .st: return context.renderStoreImmediate()
        case .stx: return context.renderStoreRegister()
        case .alu, .alu64: return context.renderArithmetic()
        case .jmp, .jmp32: return context.renderJump()
        }
    }

    /// `opcode 0x.. dst N src N off N imm N`: the raw fields of an undecodable instruction.
    static func rawFields(_ instruction: Instruction) -> String {
        instruction.description
    }
}

// MARK: - Number formatting (LLVM 21 style: hexadecimal, sign before the 0x)

/// `0x1f`.
private func hexadecimal(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// `0x1f` or `-0x1f`.
private func signedHexadecimal(_ value: Int64) -> String {
    value < 0 ? "-" + hexadecimal(value.magnitude) : hexadecimal(UInt64(value))
}

/// `+0x3` or `-0x3`: a jump distance.
private func jumpDistance(_ value: Int64) -> String {
    value < 0 ? "-" + hexadecimal(value.magnitude) : "+" + hexadecimal(UInt64(value))
}

/// Renders one instruction; every method returns `nil` for what LLVM cannot decode.
private struct RenderContext {
    let instruction: Instruction
    let slot: Int
    let annotated: Bool
    let annotations: (any DisassemblyAnnotations)?

    var opcode: Opcode { instruction.opcode }

    /// `rN` (or `wN` when not `wide`), or `nil` for registers LLVM does not know.
    func register(_ number: UInt8, wide: Bool = true) -> String? {
        guard number <= Disassembler.highestRegister else { return nil }
        return (wide ? "r" : "w") + String(number)
    }

    /// `(r2 + 0x8)` / `(r10 - 0x4)` without the parentheses.
    func address(base: UInt8) -> String? {
        guard let base = register(base) else { return nil }
        let offset = Int64(instruction.offset)
        return base + (offset < 0 ? " - " : " + ") + hexadecimal(offset.magnitude)
    }

    /// `u8`, `u16`, `u32`, `u64` (or `s8`...).
    func sizeName(_ size: MemorySize, signed: Bool = false) -> String {
        (signed ? "s" : "u") + String(size.byteCount * 8)
    }

    /// The ` <target>` an annotated jump or call prints: the label at the target slot, or its number.
    func targetSuffix(distance: Int64) -> String {
        guard annotated else { return "" }
        let target = Int64(slot) + 1 + distance
        if let label = annotations?.labels(at: Int(target)).first { return " <" + label + ">" }
        return " <" + String(target) + ">"
    }

    // MARK: LD

    func renderLoad(next: Instruction?) -> String? {
        guard let mode = opcode.mode else { return nil }
        let size = opcode.size
        switch mode {
        case .immediate:
            guard size == .doubleWord, let next else { return nil }
            return renderLoadImm64(next: next)
        case .absolute:
            guard size != .doubleWord else { return nil }
            return "r0 = *(" + sizeName(size) + " *)skb[" + signedHexadecimal(Int64(instruction.imm)) + "]"
        case .indirect:
            guard size != .doubleWord, let source = register(instruction.src) else { return nil }
            return "r0 = *(" + sizeName(size) + " *)skb[" + source + "]"
        default:
            return nil
        }
    }

    func renderLoadImm64(next: Instruction) -> String? {
        guard instruction.offset == 0, let destination = register(instruction.dst) else { return nil }
        let value = Instruction.imm64(low: instruction, high: next)
        if annotated, let text = annotatedLoadImm64(destination: destination, next: next) {
            return text
        }
        if instruction.src == LoadImm64Source.constant.rawValue {
            return destination + " = " + signedHexadecimal(Int64(bitPattern: value)) + " ll"
        }
        // LLVM prints pseudo loads as `ld_pseudo dst, src, imm` with the low 32 bits only.
        return "ld_pseudo\t" + destination + ", " + hexadecimal(UInt64(instruction.src)) + ", "
            + hexadecimal(UInt64(UInt32(bitPattern: instruction.imm)))
    }

    func annotatedLoadImm64(destination: String, next: Instruction) -> String? {
        let assign = destination + " = "
        if let reference = annotations?.reference(at: slot) {
            switch reference {
            case .map(let name):
                return assign + "map[" + name + "] ll"
            case .mapValue(let name, let offset):
                return assign + "map[" + name + "]" + (offset == 0 ? "" : " + " + signedHexadecimal(offset)) + " ll"
            case .function(let name):
                return assign + "func[" + name + "] ll"
            case .kfunc(let name), .kernelSymbol(let name):
                return assign + "ksym[" + name + "] ll"
            case .symbol(let name, let addend):
                return assign + name + (addend == 0 ? "" : " + " + signedHexadecimal(addend)) + " ll"
            }
        }
        guard let source = LoadImm64Source(rawValue: instruction.src) else { return nil }
        let low = hexadecimal(UInt64(UInt32(bitPattern: instruction.imm)))
        let highOffset = Int64(next.imm)
        let plusHigh = highOffset == 0 ? "" : " + " + signedHexadecimal(highOffset)
        switch source {
        case .constant: return nil
        case .mapFD: return assign + "map_fd[" + low + "] ll"
        case .mapValue: return assign + "map_value[fd " + low + "]" + plusHigh + " ll"
        case .mapIndex: return assign + "map_idx[" + low + "] ll"
        case .mapIndexValue: return assign + "map_idx_value[" + low + "]" + plusHigh + " ll"
        case .btfID:
            return assign + "btf_id[" + low + (next.imm == 0 ? "" : ", btf fd " + String(next.imm)) + "] ll"
        case .bpfFunction:
            return assign + "func[" + jumpDistance(Int64(instruction.imm)) + "]" + targetSuffix(distance: Int64(instruction.imm)) + " ll"
        }
    }

    // MARK: LDX, ST, STX

    func renderLoadFromMemory() -> String? {
        let size = opcode.size
        guard let mode = opcode.mode, let base = address(base: instruction.src) else { return nil }
        switch mode {
        case .memory:
            // LLVM 21 decodes sub-64-bit loads into 32-bit registers (its ALU32 form).
            guard let destination = register(instruction.dst, wide: size == .doubleWord) else { return nil }
            return destination + " = *(" + sizeName(size) + " *)(" + base + ")"
        case .signExtendingMemory:
            guard size != .doubleWord, let destination = register(instruction.dst) else { return nil }
            return destination + " = *(" + sizeName(size, signed: true) + " *)(" + base + ")"
        default:
            return nil
        }
    }

    func renderStoreImmediate() -> String? {
        guard opcode.mode == .memory, let base = address(base: instruction.dst) else { return nil }
        return "*(" + sizeName(opcode.size) + " *)(" + base + ") = " + signedHexadecimal(Int64(instruction.imm))
    }

    func renderStoreRegister() -> String? {
        let size = opcode.size
        let wide = size == .doubleWord
        switch opcode.mode {
        case .memory:
            guard let base = address(base: instruction.dst), let source = register(instruction.src, wide: wide) else { return nil }
            return "*(" + sizeName(size) + " *)(" + base + ") = " + source
        case .atomic:
            return renderAtomic(size: size)
        default:
            return nil
        }
    }

    /// The atomic operation as LLVM's decoder reads the immediate: it looks only at some bits, so
    /// non-canonical immediates still decode. Fetching forms need bits 0-7 exact; load-acquire and
    /// store-release need bit 8 and bits 4-7; the plain forms only bits 4-7; more constrained forms win.
    static func decodedAtomicOperation(_ imm: Int32, narrow: Bool) -> AtomicOperation? {
        let lowByte = imm & 0xff
        let operationBits = lowByte & 0xf0
        if !narrow, let operation = AtomicOperation(rawValue: lowByte), operation.fetches {
            return operation
        }
        if imm & 0x100 != 0 {
            if operationBits == 0x00 { return .loadAcquire }
            if operationBits == 0x10 { return .storeRelease }
        }
        if !narrow, let operation = AtomicOperation(rawValue: operationBits), !operation.fetches, !operation.allowsNarrowAccess {
            return operation
        }
        return nil
    }

    func renderAtomic(size: MemorySize) -> String? {
        let narrow = size == .byte || size == .halfWord
        guard let operation = Self.decodedAtomicOperation(instruction.imm, narrow: narrow) else { return nil }
        let wide = size == .doubleWord
        let pointer = "(" + sizeName(size) + " *)"
        if operation == .loadAcquire {
            guard let destination = register(instruction.dst, wide: wide), let base = address(base: instruction.src) else { return nil }
            return destination + " = load_acquire(" + pointer + "(" + base + "))"
        }
        guard let base = address(base: instruction.dst), let source = register(instruction.src, wide: wide) else { return nil }
        switch operation {
        case .add: return "lock *" + pointer + "(" + base + ") += " + source
        case .or: return "lock *" + pointer + "(" + base + ") |= " + source
        case .and: return "lock *" + pointer + "(" + base + ") &= " + source
        case .xor: return "lock *" + pointer + "(" + base + ") ^= " + source
        case .fetchAdd: return source + " = atomic_fetch_add(" + pointer + "(" + base + "), " + source + ")"
        case .fetchOr: return source + " = atomic_fetch_or(" + pointer + "(" + base + "), " + source + ")"
        case .fetchAnd: return source + " = atomic_fetch_and(" + pointer + "(" + base + "), " + source + ")"
        case .fetchXor: return source + " = atomic_fetch_xor(" + pointer + "(" + base + "), " + source + ")"
        case .exchange: return source + " = " + (wide ? "xchg_64(" : "xchg32_32(") + base + ", " + source + ")"
        case .compareExchange:
            let r0 = wide ? "r0" : "w0"
            return r0 + " = " + (wide ? "cmpxchg_64(" : "cmpxchg32_32(") + base + ", " + r0 + ", " + source + ")"
        case .storeRelease: return "store_release(" + pointer + "(" + base + "), " + source + ")"
        case .loadAcquire: return nil
        }
    }

    // MARK: ALU, ALU64

    func renderArithmetic() -> String? {
        guard let operation = opcode.aluOperation else { return nil }
        let is64 = instruction.instructionClass == .alu64
        let byRegister = opcode.source == .register
        let offset = instruction.offset
        guard let destination = register(instruction.dst, wide: is64) else { return nil }
        var operand: String? {
            byRegister ? register(instruction.src, wide: is64) : signedHexadecimal(Int64(instruction.imm))
        }
        switch operation {
        case .neg:
            // LLVM decodes NEG with an immediate source only, ignoring the other fields.
            return byRegister ? nil : destination + " = -" + destination
        case .end:
            // ALU: K = to little endian, X = to big endian; ALU64 (K only): unconditional swap.
            guard !(is64 && byRegister), [16, 32, 64].contains(instruction.imm),
                  let wideDestination = register(instruction.dst) else { return nil }
            let name = is64 ? "bswap" : (byRegister ? "be" : "le")
            return wideDestination + " = " + name + String(instruction.imm) + " " + wideDestination
        case .mov:
            if offset == 0 {
                guard let operand else { return nil }
                return destination + " = " + operand
            }
            guard byRegister, let source = register(instruction.src, wide: is64) else { return nil }
            if is64 && offset == Instruction.addressSpaceCastOffset {
                let spaces = UInt32(bitPattern: instruction.imm)
                return destination + " = addr_space_cast(" + source + ", " + hexadecimal(UInt64(spaces >> 16)) + ", "
                    + hexadecimal(UInt64(spaces & 0xffff)) + ")"
            }
            guard offset == 8 || offset == 16 || (is64 && offset == 32) else { return nil }
            return destination + " = (s" + String(offset) + ")" + source
        case .div, .mod:
            guard offset == 0 || offset == Instruction.signedOffset, let operand else { return nil }
            let symbol = (offset == 0 ? "" : "s") + (operation == .div ? "/=" : "%=")
            return destination + " " + symbol + " " + operand
        default:
            guard offset == 0, let operand else { return nil }
            return destination + " " + Self.assignmentSymbol(operation) + " " + operand
        }
    }

    static func assignmentSymbol(_ operation: ALUOperation) -> String {
        switch operation {
        case .add: "+="
        case .sub: "-="
        case .mul: "*="
        case .div: "/="
        case .or: "|="
        case .and: "&="
        case .lsh: "<<="
        case .rsh: ">>="
        case .mod: "%="
        case .xor: "^="
        case .arsh: "s>>="
        case .neg, .mov, .end: "="
        }
    }

    // MARK: JMP, JMP32

    func renderJump() -> String? {
        guard let operation = opcode.jumpOperation else { return nil }
        let is32 = instruction.instructionClass == .jmp32
        let byRegister = opcode.source == .register
        switch operation {
        case .ja:
            guard !byRegister else { return nil }
            let distance = Int64(is32 ? Int64(instruction.imm) : Int64(instruction.offset))
            return (is32 ? "gotol " : "goto ") + jumpDistance(distance) + targetSuffix(distance: distance)
        case .call:
            guard !is32 else { return nil }
            if byRegister {
                guard let target = register(instruction.dst) else { return nil }
                return "callx " + target
            }
            return renderCall()
        case .exit:
            guard !is32, !byRegister, instruction.imm == 0 else { return nil }
            return "exit"
        case .jcond:
            guard !is32, !byRegister else { return nil }
            let distance = Int64(instruction.offset)
            return "may_goto " + jumpDistance(distance) + targetSuffix(distance: distance)
        default:
            guard let left = register(instruction.dst, wide: !is32) else { return nil }
            let right = byRegister ? register(instruction.src, wide: !is32) : signedHexadecimal(Int64(instruction.imm))
            guard let right else { return nil }
            let distance = Int64(instruction.offset)
            return "if " + left + " " + Self.comparisonSymbol(operation) + " " + right + " goto "
                + jumpDistance(distance) + targetSuffix(distance: distance)
        }
    }

    func renderCall() -> String {
        let plain = "call " + signedHexadecimal(Int64(instruction.imm))
        guard annotated else { return plain }
        switch annotations?.reference(at: slot) {
        case .function(let name)?, .kfunc(let name)?, .kernelSymbol(let name)?: return "call " + name
        case .symbol(let name, _)?: return "call " + name
        case .map?, .mapValue?, nil: break
        }
        switch CallKind(rawValue: instruction.src) {
        case .helper?:
            if let name = HelperFunctions.name(of: instruction.imm) { return "call " + name }
            return plain
        case .bpfFunction?:
            let target = slot + 1 + Int(instruction.imm)
            if let label = annotations?.labels(at: target).first { return "call " + label }
            return plain + targetSuffix(distance: Int64(instruction.imm))
        case .kfunc?:
            return "call kfunc " + signedHexadecimal(Int64(instruction.imm))
        case nil:
            return plain
        }
    }

    static func comparisonSymbol(_ operation: JumpOperation) -> String {
        switch operation {
        case .jeq: "=="
        case .jgt: ">"
        case .jge: ">="
        case .jset: "&"
        case .jne: "!="
        case .jsgt: "s>"
        case .jsge: "s>="
        case .jlt: "<"
        case .jle: "<="
        case .jslt: "s<"
        case .jsle: "s<="
        case .ja, .call, .exit, .jcond: "?"
        }
    }
}
