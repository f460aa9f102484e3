import ByteParsing

extension TypeGraph {
    /// Decodes `bytes` as a value of type `typeID`: a map key or value, a ring or perf buffer record, the
    /// contents of a data section.
    ///
    /// The bytes must hold at least the type's size (``resolvedSize(of:)``); bytes past it are ignored (a
    /// record may end with a flexible array). Integers, enums, pointers and floats are read in
    /// `byteOrder` (the graph's own order when `nil`); bitfields follow that order's layout (counted from
    /// the least significant bit of the first byte in little-endian, from the most significant bit in
    /// big-endian).
    ///
    /// - Throws: ``BTFValueError``: ``BTFValueError/Code/valueTooShort`` when the bytes end before the
    ///   type or one of its parts, ``BTFValueError/Code/unsizedType`` for void, functions and forward
    ///   declarations, ``BTFValueError/Code/nestingTooDeep`` or ``BTFValueError/Code/tooManyValues`` past
    ///   `limits`, ``BTFValueError/Code/badLayout`` for layouts C cannot produce, and
    ///   ``BTFValueError/Code/graph(_:)`` for bad type ids and reference loops.
    public func decode(_ bytes: UnsafeRawBufferPointer, as typeID: UInt32, byteOrder: ByteOrder? = nil,
                       limits: BTFValueLimits = BTFValueLimits()) throws(BTFValueError) -> BTFValue {
        var decoder = ValueDecoder(graph: self, bytes: bytes, order: byteOrder ?? self.byteOrder, limits: limits)
        return try withExtendedLifetime(self) { () throws(BTFValueError) -> BTFValue in
            try decoder.decodeTop(typeID)
        }
    }

    /// Decodes the bytes of an array, as the `UnsafeRawBufferPointer` form does.
    public func decode(_ bytes: [UInt8], as typeID: UInt32, byteOrder: ByteOrder? = nil,
                       limits: BTFValueLimits = BTFValueLimits()) throws(BTFValueError) -> BTFValue {
        let result: Result<BTFValue, BTFValueError> = bytes.withUnsafeBytes { buffer in
            do throws(BTFValueError) {
                return .success(try decode(buffer, as: typeID, byteOrder: byteOrder, limits: limits))
            } catch {
                return .failure(error)
            }
        }
        // withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        return try result.get()
    }

    /// Decodes the bytes of a view, as the `UnsafeRawBufferPointer` form does (the view's own byte order is
    /// not used: pass `byteOrder`).
    public func decode(_ bytes: ByteView, as typeID: UInt32, byteOrder: ByteOrder? = nil,
                       limits: BTFValueLimits = BTFValueLimits()) throws(BTFValueError) -> BTFValue {
        try withExtendedLifetime(bytes.storage) { () throws(BTFValueError) -> BTFValue in
            try decode(UnsafeRawBufferPointer(start: bytes.base, count: bytes.count), as: typeID,
                       byteOrder: byteOrder, limits: limits)
        }
    }
}

/// One decode: walks the type graph over the bytes, spending a value budget.
struct ValueDecoder {
    let graph: TypeGraph
    let bytes: UnsafeRawBufferPointer
    let order: ByteOrder
    let limits: BTFValueLimits
    /// Values still allowed (``BTFValueLimits/maximumValues`` minus what was produced).
    var budget: Int

    init(graph: TypeGraph, bytes: UnsafeRawBufferPointer, order: ByteOrder, limits: BTFValueLimits) {
        self.graph = graph
        self.bytes = bytes
        self.order = order
        self.limits = limits
        budget = limits.maximumValues
    }

    mutating func decodeTop(_ id: UInt32) throws(BTFValueError) -> BTFValue {
        let size = try size(of: id)
        guard size <= bytes.count else {
            throw BTFValueError(.valueTooShort,
                                "\(bytes.count) bytes are too short for \(describe(id)) of \(size) bytes",
                                typeID: id, byteOffset: bytes.count)
        }
        return try value(id, bit: 0, bitfield: 0, depth: 0)
    }

    // MARK: - Graph queries with this layer's errors

    @inline(__always)
    func query<T>(_ body: () throws(BTFError) -> T) throws(BTFValueError) -> T {
        do { return try body() } catch { throw BTFValueError(error) }
    }

    func size(of id: UInt32) throws(BTFValueError) -> Int {
        do {
            return try graph.resolvedSize(of: id)
        } catch {
            if error.code == .wrongKind { throw BTFValueError(.unsizedType, error.message, typeID: id) }
            throw BTFValueError(error)
        }
    }

    /// `struct event (type 5)` for messages.
    func describe(_ id: UInt32) -> String {
        guard let name = try? graph.cTypeName(of: id) else { return "type \(id)" }
        return "\(name) (type \(id))"
    }

    mutating func spend(_ cost: Int, _ id: UInt32) throws(BTFValueError) {
        budget -= cost
        guard budget >= 0 else {
            throw BTFValueError(.tooManyValues, "decoding produces more than \(limits.maximumValues) values",
                                typeID: id)
        }
    }

    func tooShort(_ id: UInt32, at offset: Int, _ length: Int) -> BTFValueError {
        BTFValueError(.valueTooShort,
                      "\(describe(id)) needs bytes [\(offset), \(offset + length)) but the value has \(bytes.count)",
                      typeID: id, byteOffset: offset)
    }

    /// The byte offset of a value that must start on a byte boundary and span `length` bytes.
    func byteRange(_ id: UInt32, bit: Int, length: Int) throws(BTFValueError) -> Int {
        guard bit & 7 == 0 else {
            throw BTFValueError(.badLayout, "\(describe(id)) starts at bit \(bit), not on a byte boundary",
                                typeID: id, byteOffset: bit >> 3)
        }
        let start = bit >> 3
        guard start >= 0, length >= 0, start <= bytes.count, length <= bytes.count - start else {
            throw tooShort(id, at: start, length)
        }
        return start
    }

    // MARK: - Values

    mutating func value(_ id: UInt32, bit: Int, bitfield: Int, depth: Int) throws(BTFValueError) -> BTFValue {
        try spend(1, id)
        let resolved = try query { () throws(BTFError) -> UInt32 in try graph.skipModifiersAndTypedefs(id) }
        let type = try query { () throws(BTFError) -> BTFType in try graph.type(resolved) }
        if bitfield > 0 {
            switch type.payload {
            case .int(let info):
                return try integer(info, resolved, bit: bit, bits: bitfield, isBitfield: true)
            case .enum(let size, let isSigned, let values), .enum64(let size, let isSigned, let values):
                guard bitfield <= 64, bitfield <= Int(size) * 8 else {
                    throw BTFValueError(.badLayout,
                                        "a \(bitfield)-bit bitfield of \(describe(resolved)) of \(size) bytes",
                                        typeID: resolved, byteOffset: bit >> 3)
                }
                return try enumeration(values, isSigned: isSigned, resolved, bit: bit, bits: bitfield)
            default:
                throw BTFValueError(.badLayout, "a bitfield of \(describe(resolved)), which is not an integer",
                                    typeID: resolved, byteOffset: bit >> 3)
            }
        }
        switch type.payload {
        case .int(let info):
            return try integer(info, resolved, bit: bit + Int(info.bitOffset), bits: Int(info.bits),
                               isBitfield: false)
        case .enum(let size, let isSigned, let values), .enum64(let size, let isSigned, let values):
            guard size == 1 || size == 2 || size == 4 || size == 8 else {
                return try rawBytes(resolved, bit: bit, length: Int(size))
            }
            return try enumeration(values, isSigned: isSigned, resolved, bit: bit, bits: Int(size) * 8)
        case .pointer:
            _ = try byteRange(resolved, bit: bit, length: TypeGraph.pointerSize)
            return .pointer(try bits(at: bit, count: TypeGraph.pointerSize * 8, resolved).low)
        case .float(let size):
            return try float(resolved, bit: bit, size: Int(size))
        case .array(let info):
            return try array(info, resolved, bit: bit, depth: depth)
        case .struct(let size, let members):
            return .structure(try fields(members, resolved, bit: bit, size: Int(size), depth: depth))
        case .union(let size, let members):
            return .union(try fields(members, resolved, bit: bit, size: Int(size), depth: depth))
        case .dataSection(let size, let variables):
            return try dataSection(variables, resolved, bit: bit, size: Int(size), depth: depth)
        case .variable(let target, _):
            try checkDepth(depth, resolved)
            return try value(target, bit: bit, bitfield: 0, depth: depth + 1)
        case .typedef(let target), .const(let target), .volatile(let target), .restrict(let target),
             .typeTag(let target):
            // Not reached: skipModifiersAndTypedefs went past these.
            try checkDepth(depth, resolved)
            return try value(target, bit: bit, bitfield: 0, depth: depth + 1)
        case .void, .forward, .function, .functionProto, .declTag:
            throw BTFValueError(.unsizedType, "\(describe(resolved)) has no size, so no value can be read as it",
                                typeID: resolved, byteOffset: bit >> 3)
        }
    }

    func checkDepth(_ depth: Int, _ id: UInt32) throws(BTFValueError) {
        let limit = min(limits.maximumDepth, BTFValueLimits.depthCeiling)
        guard depth < limit else {
            throw BTFValueError(.nestingTooDeep,
                                "\(describe(id)) nests more than \(limit) levels deep (a type that contains itself?)",
                                typeID: id)
        }
    }

    // MARK: Scalars

    /// `count` bits (1...128) starting at bit `bit`, as the low bits of a 128-bit number.
    ///
    /// Little-endian: bit `p` of the bytes is bit `p % 8` (from the least significant) of byte `p / 8`, and
    /// the field's first bit is its least significant. Big-endian: bit `p` is bit `7 - p % 8` of byte
    /// `p / 8`, and the field's first bit is its most significant. This is how C compilers lay out
    /// bitfields on each order, and it also reads whole integers.
    func bits(at bit: Int, count: Int, _ id: UInt32) throws(BTFValueError) -> (high: UInt64, low: UInt64) {
        let first = bit >> 3
        let length = (bit + count + 7) >> 3 - first
        guard bit >= 0, count >= 1, count <= 128, first <= bytes.count, length <= bytes.count - first else {
            throw tooShort(id, at: first, length)
        }
        if bit & 7 == 0 {
            switch count {
            case 8: return (0, UInt64(bytes[first]))
            case 16: return (0, UInt64(load(first, as: UInt16.self)))
            case 32: return (0, UInt64(load(first, as: UInt32.self)))
            case 64: return (0, load(first, as: UInt64.self))
            default: break
            }
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        let little = order == .little
        for i in 0..<count {
            let p = little ? bit + i : bit + (count - 1 - i)
            let byte = bytes[p >> 3]
            let set = little ? (byte >> UInt8(p & 7)) & 1 : (byte >> UInt8(7 - (p & 7))) & 1
            if set != 0 {
                if i < 64 { low |= 1 << UInt64(i) } else { high |= 1 << UInt64(i - 64) }
            }
        }
        return (high, low)
    }

    @inline(__always)
    func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        return order == .little ? T(littleEndian: raw) : T(bigEndian: raw)
    }

    /// `value`'s low `bits` bits (1...64) read as a signed number.
    static func signExtend(_ value: UInt64, bits: Int) -> Int64 {
        let shift = UInt64(64 - bits)
        return Int64(bitPattern: value << shift) >> Int64(shift)
    }

    func isChar(_ info: BTFIntInfo, _ id: UInt32) -> Bool {
        info.size == 1 && (info.encoding.contains(.char) || ((try? graph.type(id, hasName: "char")) ?? false))
    }

    mutating func integer(_ info: BTFIntInfo, _ id: UInt32, bit: Int, bits count: Int,
                          isBitfield: Bool) throws(BTFValueError) -> BTFValue {
        let size = Int(info.size)
        guard size >= 1, size <= 16 else {
            if isBitfield {
                throw BTFValueError(.badLayout, "a bitfield of \(describe(id)) of \(size) bytes",
                                    typeID: id, byteOffset: bit >> 3)
            }
            return try rawBytes(id, bit: bit, length: size)
        }
        let extent = isBitfield ? count : Int(info.bitOffset) + count
        guard count >= 1, extent <= size * 8 else {
            throw BTFValueError(.badLayout,
                                "\(describe(id)) of \(size) bytes holds \(count) value bits at bit \(info.bitOffset)",
                                typeID: id, byteOffset: bit >> 3)
        }
        let (high, low) = try bits(at: bit, count: count, id)
        let isSigned = info.isSigned
        if count > 64 {
            guard isSigned, count < 128, high >> UInt64(count - 65) & 1 != 0 else {
                return .int128(high: high, low: low)
            }
            return .int128(high: high | ~0 << UInt64(count - 64), low: low)
        }
        if info.encoding.contains(.bool) && low <= 1 { return .bool(low == 1) }
        if count == 8 && isChar(info, id) { return .char(UInt8(truncatingIfNeeded: low)) }
        return isSigned ? .int(Self.signExtend(low, bits: count)) : .uint(low)
    }

    mutating func enumeration(_ values: BTFEnumeratorList, isSigned: Bool, _ id: UInt32, bit: Int,
                              bits count: Int) throws(BTFValueError) -> BTFValue {
        let raw = try bits(at: bit, count: count, id).low
        let value = isSigned ? UInt64(bitPattern: Self.signExtend(raw, bits: count)) : raw
        for enumerator in values where enumerator.rawValue == value {
            return .enumerator(name: graph.string(at: enumerator.nameOffset) ?? "",
                               value: Int64(bitPattern: value))
        }
        return isSigned ? .int(Int64(bitPattern: value)) : .uint(value)
    }

    mutating func float(_ id: UInt32, bit: Int, size: Int) throws(BTFValueError) -> BTFValue {
        switch size {
        case 2:
            _ = try byteRange(id, bit: bit, length: 2)
            return .float32(Self.half(UInt16(truncatingIfNeeded: try bits(at: bit, count: 16, id).low)))
        case 4:
            _ = try byteRange(id, bit: bit, length: 4)
            return .float32(Float(bitPattern: UInt32(truncatingIfNeeded: try bits(at: bit, count: 32, id).low)))
        case 8:
            _ = try byteRange(id, bit: bit, length: 8)
            return .float(Double(bitPattern: try bits(at: bit, count: 64, id).low))
        default:
            return try rawBytes(id, bit: bit, length: size)
        }
    }

    /// An IEEE half-precision number, widened exactly.
    static func half(_ h: UInt16) -> Float {
        let sign: FloatingPointSign = h >> 15 != 0 ? .minus : .plus
        let exponent = Int(h >> 10 & 0x1F)
        let fraction = Float(h & 0x3FF)
        switch exponent {
        case 0: return Float(sign: sign, exponent: -24, significand: fraction)
        case 0x1F: return fraction == 0 ? (sign == .minus ? -.infinity : .infinity) : .nan
        default: return Float(sign: sign, exponent: exponent - 15, significand: 1 + fraction / 1024)
        }
    }

    mutating func rawBytes(_ id: UInt32, bit: Int, length: Int) throws(BTFValueError) -> BTFValue {
        let start = try byteRange(id, bit: bit, length: length)
        try spend(length / 16, id)
        return .bytes(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])))
    }

    // MARK: Aggregates

    /// The element type of a `char` array (an INT of 8 bits in one byte, char-encoded or named `char`) and
    /// whether it is signed, else `nil`.
    func charElement(_ elementType: UInt32) -> (id: UInt32, isSigned: Bool)? {
        guard let id = try? graph.skipModifiersAndTypedefs(elementType), let type = try? graph.type(id),
              case .int(let info) = type.payload, info.bits == 8, info.bitOffset == 0, isChar(info, id) else {
            return nil
        }
        return (id, info.isSigned)
    }

    /// The text of a `char` array: the bytes before the first NUL (all of them without a NUL), when they
    /// are printable UTF-8 and every byte after the NUL is zero; else `nil`. Requiring zeros after the NUL
    /// keeps the text form lossless: the string gives back the exact bytes.
    static func text(_ bytes: UnsafeRawBufferPointer) -> String? {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        guard bytes[end...].allSatisfy({ $0 == 0 }) else { return nil }
        let prefix = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        var iterator = prefix.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded).value
                if scalar < 0x20 || (scalar >= 0x7F && scalar <= 0x9F) { return nil }
            case .emptyInput:
                return String(decoding: prefix, as: UTF8.self)
            case .error:
                return nil
            }
        }
    }

    mutating func array(_ info: BTFArrayInfo, _ id: UInt32, bit: Int, depth: Int) throws(BTFValueError) -> BTFValue {
        try checkDepth(depth, id)
        let count = Int(info.count)
        let elementSize = try size(of: info.elementType)
        let (total, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw tooShort(id, at: bit >> 3, Int.max - (bit >> 3)) }
        let start = try byteRange(id, bit: bit, length: total)
        let char = charElement(info.elementType)
        if let char, count > 0 {
            let region = UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
            if let text = Self.text(region) {
                try spend(count / 16, id)
                return .string(text)
            }
            // Not text: the bytes as numbers, as bpftool shows them.
            let decoded = min(count, max(0, limits.maximumArrayElements))
            try spend(decoded, id)
            var elements = region.prefix(decoded).map { byte -> BTFValue in
                char.isSigned ? .int(Int64(Int8(bitPattern: byte))) : .uint(UInt64(byte))
            }
            if decoded < count { elements.append(.elided(count: count - decoded)) }
            return .array(elements)
        }
        let decoded = min(count, max(0, limits.maximumArrayElements))
        var elements: [BTFValue] = []
        elements.reserveCapacity(min(decoded, 1024) + 1)
        for index in 0..<decoded {
            elements.append(try value(info.elementType, bit: (start + index * elementSize) * 8, bitfield: 0,
                                      depth: depth + 1))
        }
        if decoded < count { elements.append(.elided(count: count - decoded)) }
        return .array(elements)
    }

    mutating func fields(_ members: BTFMemberList, _ id: UInt32, bit: Int, size: Int,
                         depth: Int) throws(BTFValueError) -> [BTFField] {
        try checkDepth(depth, id)
        let start = try byteRange(id, bit: bit, length: size)
        var fields: [BTFField] = []
        fields.reserveCapacity(min(members.count, 256))
        for member in members {
            let name = graph.string(at: member.nameOffset) ?? ""
            if name.isEmpty {
                // Anonymous members are either embedded structs/unions (kept) or padding bitfields (dropped).
                let target = try query { () throws(BTFError) -> BTFKind in
                    try graph.kind(of: try graph.skipModifiersAndTypedefs(member.type))
                }
                guard target.isComposite else { continue }
            }
            let value = try value(member.type, bit: start * 8 + Int(member.bitOffset),
                                  bitfield: Int(member.bitfieldSize), depth: depth + 1)
            fields.append(BTFField(name: name, value: value))
        }
        return fields
    }

    mutating func dataSection(_ variables: BTFDataSectionVariableList, _ id: UInt32, bit: Int, size: Int,
                              depth: Int) throws(BTFValueError) -> BTFValue {
        try checkDepth(depth, id)
        let start = try byteRange(id, bit: bit, length: size)
        var fields: [BTFField] = []
        fields.reserveCapacity(min(variables.count, 256))
        for entry in variables {
            let variable = try query { () throws(BTFError) -> BTFType in try graph.type(entry.type) }
            // Functions (extern ksyms) have no bytes in the section.
            guard case .variable(let target, _) = variable.payload else { continue }
            let value = try value(target, bit: (start + Int(entry.offset)) * 8, bitfield: 0, depth: depth + 1)
            fields.append(BTFField(name: graph.string(at: variable.nameOffset) ?? "", value: value))
        }
        return .structure(fields)
    }
}
