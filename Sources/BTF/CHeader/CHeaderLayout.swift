/// Layout facts the header needs to reproduce a struct exactly: alignments, sizes, whether a struct is
/// packed, and the explicit padding that closes gaps the compiler would lay out differently.
extension CHeaderEmitter {
    /// The alignment in bytes the compiler gives a type (0 for types without one: void, functions,
    /// forward declarations). A struct whose members sit off their natural alignment, or whose size is
    /// not a multiple of it, must have been packed: alignment 1.
    mutating func alignment(of id: UInt32) throws(BTFError) -> Int32 {
        let cached = alignments[Int(id)]
        if cached >= 0 { return Int32(cached) }
        try enter(id)
        defer { depth -= 1 }
        let r = record(id)
        let info = load(r, 4)
        let result: Int32
        switch (info >> 24) & 0x1F {
        case RawKind.int, RawKind.enum, RawKind.enum64, RawKind.float:
            result = Int32(min(UInt32(pointerSize), load(r, 8)))
        case RawKind.pointer:
            result = pointerSize
        case RawKind.typedef, RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.typeTag:
            result = try alignment(of: load(r, 8))
        case RawKind.array:
            result = try alignment(of: load(r, 12))
        case RawKind.struct, RawKind.union:
            result = try compositeAlignment(r, info)
        default:
            result = 0
        }
        alignments[Int(id)] = Int8(result)
        return result
    }

    private mutating func compositeAlignment(_ r: UnsafeRawPointer, _ info: UInt32) throws(BTFError) -> Int32 {
        let vlen = Int(info & 0xFFFF)
        let bitfields = info >> 31 != 0
        var largest: Int32 = 1
        for i in 0..<vlen {
            let m = 12 + i * 12
            let memberAlignment = try alignment(of: load(r, m + 4))
            if memberAlignment <= 0 { return memberAlignment }
            largest = max(largest, memberAlignment)
            let offset = load(r, m + 8)
            let bitSize = bitfields ? offset >> 24 : 0
            if bitSize == 0 && offset % (8 * UInt32(memberAlignment)) != 0 { return 1 }
        }
        if load(r, 8) % UInt32(largest) != 0 { return 1 }
        return largest
    }

    /// Whether a struct needs `__attribute__((packed))`: a non-bitfield member off its natural alignment,
    /// or a size that is not a multiple of the largest member alignment.
    mutating func isPacked(_ r: UnsafeRawPointer) throws(BTFError) -> Bool {
        let info = load(r, 4)
        let vlen = Int(info & 0xFFFF)
        let bitfields = info >> 31 != 0
        var largest: Int32 = 1
        for i in 0..<vlen {
            let m = 12 + i * 12
            let memberAlignment = try alignment(of: load(r, m + 4))
            let offset = load(r, m + 8)
            let bitSize = bitfields ? offset >> 24 : 0
            if memberAlignment != 0 && bitSize == 0 && offset % (8 * UInt32(memberAlignment)) != 0 { return true }
            largest = max(largest, memberAlignment)
        }
        return load(r, 8) % UInt32(largest) != 0
    }

    /// The size in bytes of a type through typedefs, modifiers and arrays (at most 32 steps), or a
    /// negative number when it has none (void, functions, forward declarations) or overflows 32 bits.
    func resolvedSize(_ id: UInt32) -> Int64 {
        var current = id
        var elements: UInt32 = 1
        var size: Int64 = -1
        var steps = 0
        search: while steps < 32 && current != 0 {
            let r = record(current)
            switch (load(r, 4) >> 24) & 0x1F {
            case RawKind.int, RawKind.struct, RawKind.union, RawKind.enum, RawKind.enum64, RawKind.dataSection,
                 RawKind.float:
                size = Int64(load(r, 8))
                break search
            case RawKind.pointer:
                size = Int64(pointerSize)
                break search
            case RawKind.typedef, RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.variable,
                 RawKind.declTag, RawKind.typeTag:
                current = load(r, 8)
            case RawKind.array:
                let count = load(r, 12 + 8)
                if elements != 0 && count > UInt32.max / elements { return -1 }
                elements &*= count
                current = load(r, 12)
            default:
                return -1
            }
            steps += 1
        }
        if size < 0 { return -1 }
        if elements != 0 && size > Int64(UInt32.max / elements) { return -1 }
        return Int64(elements) * size
    }

    /// Writes the bitfield-style padding members (`long: 64;`, `int: 0;`) that make the compiler put the
    /// next member (or the end of the struct) at bit `next` when the bits since `current` are a gap.
    ///
    /// The largest of long, int, short and char whose next boundary does not pass `next` is chosen; a
    /// zero-width marker forces that boundary when natural alignment would not reach it (or, after a
    /// bitfield, the remaining bits of the unit are named); the rest of the gap is filled with full units
    /// and a last smaller one.
    mutating func writePadding(from current: Int32, to next: Int32, nextAlignment: Int32, inBitfield: Bool,
                               level: Int) {
        if current >= next { return }
        let longBits = pointerSize &* 8
        var cursor = current
        var chosen = 3
        var boundary: Int32 = 0
        for candidate in 0..<4 {
            chosen = candidate
            boundary = roundUp(cursor, paddingBits(candidate, longBits))
            if boundary <= next { break }
        }
        var unitBits = paddingBits(chosen, longBits)
        if boundary > cursor && boundary <= next {
            let alignmentBits = nextAlignment &* 8
            if inBitfield
                || (boundary == next && roundUp(cursor, alignmentBits) != boundary)
                || (boundary != next && next &- boundary <= boundary &- cursor) {
                writePaddingMember(chosen, bits: inBitfield ? boundary &- cursor : 0, level: level)
            }
            cursor = boundary
        }
        while cursor != next {
            let bits = min(next &- cursor, unitBits)
            if bits == unitBits {
                writePaddingMember(chosen, bits: unitBits, level: level)
                cursor &+= bits
                continue
            }
            // The last piece: the smallest type that holds it.
            var candidate = 3
            while candidate >= 0 {
                chosen = candidate
                unitBits = paddingBits(candidate, longBits)
                if unitBits >= bits {
                    writePaddingMember(chosen, bits: bits, level: level)
                    cursor &+= bits
                    break
                }
                candidate -= 1
            }
            if candidate < 0 { return }
        }
    }

    @inline(__always)
    private func paddingBits(_ index: Int, _ longBits: Int32) -> Int32 {
        switch index {
        case 0: return longBits
        case 1: return 32
        case 2: return 16
        default: return 8
        }
    }

    /// `x` rounded up to a multiple of `unit` (C `int` arithmetic; a zero unit leaves `x`).
    @inline(__always)
    private func roundUp(_ x: Int32, _ unit: Int32) -> Int32 {
        guard unit > 0 else { return x }
        return ((x &+ unit &- 1) / unit) &* unit
    }

    private mutating func writePaddingMember(_ index: Int, bits: Int32, level: Int) {
        writer.byte(0x0A)
        indent(level)
        switch index {
        case 0: writer.literal("long: ")
        case 1: writer.literal("int: ")
        case 2: writer.literal("short: ")
        default: writer.literal("char: ")
        }
        writer.signedDecimal(Int64(bits))
        writer.byte(0x3B)
    }
}
