import ByteParsing

/// Test-only writer of BTF and .BTF.ext blobs, in either byte order, including malformed ones.
struct BTFBuilder {
    var order: ByteOrder = .little
    /// String bytes (starting with NUL for base BTF).
    var strings: [UInt8] = [0]
    /// Encoded type records.
    var types: [UInt8] = []
    /// Number of types added.
    var count = 0
    /// First id this blob defines (1, or base.count + 1 for split BTF).
    var firstID: UInt32 = 1
    /// First string offset of this blob (0, or the base string length for split BTF).
    var stringBase: UInt32 = 0

    init(order: ByteOrder = .little) { self.order = order }

    /// Split BTF on top of a base with `baseCount` types and `baseStringLength` string bytes.
    init(splitOnBaseCount baseCount: Int, baseStringLength: Int, order: ByteOrder = .little) {
        self.order = order
        strings = []
        firstID = UInt32(baseCount + 1)
        stringBase = UInt32(baseStringLength)
    }

    static func put(_ value: UInt32, into bytes: inout [UInt8], order: ByteOrder) {
        let v = order == .little ? value.littleEndian : value.bigEndian
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }

    static func put16(_ value: UInt16, into bytes: inout [UInt8], order: ByteOrder) {
        let v = order == .little ? value.littleEndian : value.bigEndian
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }

    /// Adds a string (0 for nil / empty) and returns its offset.
    mutating func string(_ text: String?) -> UInt32 {
        guard let text, !text.isEmpty else { return 0 }
        let offset = stringBase + UInt32(strings.count)
        strings.append(contentsOf: Array(text.utf8))
        strings.append(0)
        return offset
    }

    /// Adds a raw type record and returns its id.
    @discardableResult
    mutating func type(_ name: String?, kind: UInt32, vlen: Int = 0, kindFlag: Bool = false,
                       sizeOrType: UInt32 = 0, tail: [UInt32] = []) -> UInt32 {
        let nameOffset = string(name)
        return rawType(nameOffset: nameOffset, kind: kind, vlen: vlen, kindFlag: kindFlag,
                       sizeOrType: sizeOrType, tail: tail)
    }

    @discardableResult
    mutating func rawType(nameOffset: UInt32, kind: UInt32, vlen: Int = 0, kindFlag: Bool = false,
                          sizeOrType: UInt32 = 0, tail: [UInt32] = []) -> UInt32 {
        let info = (kindFlag ? 1 << 31 : 0) | (kind & 0x1F) << 24 | UInt32(vlen & 0xFFFF)
        for word in [nameOffset, info, sizeOrType] + tail { Self.put(word, into: &types, order: order) }
        count += 1
        return firstID + UInt32(count - 1)
    }

    mutating func int(_ name: String, size: UInt32, encoding: UInt32 = 0, bits: UInt32? = nil,
                      offset: UInt32 = 0) -> UInt32 {
        type(name, kind: 1, sizeOrType: size, tail: [encoding << 24 | offset << 16 | (bits ?? size * 8)])
    }

    mutating func pointer(_ target: UInt32) -> UInt32 { type(nil, kind: 2, sizeOrType: target) }

    mutating func array(_ element: UInt32, index: UInt32, count: UInt32) -> UInt32 {
        type(nil, kind: 3, tail: [element, index, count])
    }

    mutating func composite(_ name: String?, union: Bool = false, size: UInt32,
                            members: [(String?, UInt32, UInt32, UInt32)], kindFlag: Bool = false) -> UInt32 {
        var tail: [UInt32] = []
        for (memberName, type, bitOffset, bitfieldSize) in members {
            tail += [string(memberName), type, kindFlag ? bitfieldSize << 24 | bitOffset : bitOffset]
        }
        return type(name, kind: union ? 5 : 4, vlen: members.count, kindFlag: kindFlag, sizeOrType: size,
                    tail: tail)
    }

    mutating func enumeration(_ name: String?, size: UInt32 = 4, signed: Bool = false,
                              values: [(String, Int64)]) -> UInt32 {
        var tail: [UInt32] = []
        for (valueName, value) in values { tail += [string(valueName), UInt32(truncatingIfNeeded: value)] }
        return type(name, kind: 6, vlen: values.count, kindFlag: signed, sizeOrType: size, tail: tail)
    }

    mutating func enum64(_ name: String?, size: UInt32 = 8, signed: Bool = false,
                         values: [(String, UInt64)]) -> UInt32 {
        var tail: [UInt32] = []
        for (valueName, value) in values {
            tail += [string(valueName), UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: value >> 32)]
        }
        return type(name, kind: 19, vlen: values.count, kindFlag: signed, sizeOrType: size, tail: tail)
    }

    mutating func functionProto(returning: UInt32, params: [(String?, UInt32)]) -> UInt32 {
        var tail: [UInt32] = []
        for (paramName, type) in params { tail += [string(paramName), type] }
        return type(nil, kind: 13, vlen: params.count, sizeOrType: returning, tail: tail)
    }

    mutating func dataSection(_ name: String, size: UInt32, variables: [(UInt32, UInt32, UInt32)]) -> UInt32 {
        var tail: [UInt32] = []
        for (type, offset, size) in variables { tail += [type, offset, size] }
        return type(name, kind: 15, vlen: variables.count, sizeOrType: size, tail: tail)
    }

    /// The blob: header (`headerLength` bytes, extra bytes zero), types, strings.
    func build(headerLength: Int = 24) -> [UInt8] {
        var bytes: [UInt8] = []
        Self.put16(0xEB9F, into: &bytes, order: order)
        bytes += [1, 0]
        Self.put(UInt32(headerLength), into: &bytes, order: order)
        Self.put(0, into: &bytes, order: order)
        Self.put(UInt32(types.count), into: &bytes, order: order)
        Self.put(UInt32(types.count), into: &bytes, order: order)
        Self.put(UInt32(strings.count), into: &bytes, order: order)
        bytes += [UInt8](repeating: 0, count: headerLength - 24)
        return bytes + types + strings
    }

    func view(headerLength: Int = 24) -> ByteView { ByteView(build(headerLength: headerLength)) }
}

/// Test-only writer of .BTF.ext blobs.
struct BTFExtBuilder {
    var order: ByteOrder = .little
    var functionInfoRecordSize = 8
    var lineInfoRecordSize = 16
    var coreRecordSize = 16
    var functionInfo: [(UInt32, [[UInt32]])] = []
    var lineInfo: [(UInt32, [[UInt32]])] = []
    var coreRelocations: [(UInt32, [[UInt32]])]? = []

    func subsection(_ recordSize: Int, _ blocks: [(UInt32, [[UInt32]])]) -> [UInt8] {
        var bytes: [UInt8] = []
        BTFBuilder.put(UInt32(recordSize), into: &bytes, order: order)
        for (name, records) in blocks {
            BTFBuilder.put(name, into: &bytes, order: order)
            BTFBuilder.put(UInt32(records.count), into: &bytes, order: order)
            for record in records {
                for word in record { BTFBuilder.put(word, into: &bytes, order: order) }
                bytes += [UInt8](repeating: 0xAA, count: recordSize - 4 * record.count)
            }
        }
        return bytes
    }

    func build() -> [UInt8] {
        let f = functionInfo.isEmpty ? [] : subsection(functionInfoRecordSize, functionInfo)
        let l = lineInfo.isEmpty ? [] : subsection(lineInfoRecordSize, lineInfo)
        let c = (coreRelocations ?? []).isEmpty ? [] : subsection(coreRecordSize, coreRelocations ?? [])
        let headerLength = coreRelocations == nil ? 24 : 32
        var bytes: [UInt8] = []
        BTFBuilder.put16(0xEB9F, into: &bytes, order: order)
        bytes += [1, 0]
        for word in [UInt32(headerLength), 0, UInt32(f.count), UInt32(f.count), UInt32(l.count)] {
            BTFBuilder.put(word, into: &bytes, order: order)
        }
        if coreRelocations != nil {
            BTFBuilder.put(UInt32(f.count + l.count), into: &bytes, order: order)
            BTFBuilder.put(UInt32(c.count), into: &bytes, order: order)
        }
        return bytes + f + l + c
    }
}

// MARK: - Conveniences for CO-RE tests

extension BTFBuilder {
    mutating func typedef(_ name: String, _ target: UInt32) -> UInt32 { type(name, kind: 8, sizeOrType: target) }

    /// `struct name;` (or `union name;` with `union`).
    mutating func forward(_ name: String, union: Bool = false) -> UInt32 { type(name, kind: 7, kindFlag: union) }

    mutating func const(_ target: UInt32) -> UInt32 { type(nil, kind: 10, sizeOrType: target) }

    /// A struct (or union) whose members are given as (name, type, bit offset), no bitfields.
    mutating func record(_ name: String?, union: Bool = false, size: UInt32,
                         _ members: [(String?, UInt32, UInt32)]) -> UInt32 {
        composite(name, union: union, size: size, members: members.map { ($0.0, $0.1, $0.2, 0) })
    }
}
