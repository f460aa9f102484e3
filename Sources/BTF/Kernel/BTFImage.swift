import ByteParsing

/// An editable copy of a BTF blob's own types and strings in the host's byte order, written back out as a
/// raw blob by ``bytes()``: what the loader hands to `BPF_BTF_LOAD` after the object fix-ups and
/// ``sanitize(for:)``.
///
/// Edits happen in place, record by record, so every type id and string offset of the source graph stays
/// valid; types and strings can only be appended. Unedited, the type and string sections written are the
/// source's byte for byte (byte-swapped when the source is not in the host's order). The header written
/// is always the 24-byte one with the types first and the strings right after them.
///
/// For split BTF the image holds the split part only: ids below ``firstID`` and string offsets below
/// ``stringBase`` are read from the base graph, never edited.
public struct BTFImage: Sendable {
    /// The base graph of split BTF, `nil` for base BTF (an object's `.BTF`).
    public let base: TypeGraph?
    /// The first type id the image defines (1, or the base's count + 1).
    public let firstID: UInt32
    /// The first string offset the image's own string section holds (0, or the base's string length).
    public let stringBase: UInt32
    /// The type section as 32-bit words in host order (every BTF record is a whole number of words).
    var words: [UInt32]
    /// Index in ``words`` of each own type's record: entry `id - firstID`.
    var starts: [Int]
    /// The own string section (starting with NUL for base BTF, ending with NUL).
    public private(set) var strings: [UInt8]

    /// The largest string offset BTF allows (libbpf's `BTF_MAX_STR_OFFSET`).
    static let maximumStringOffset = Int(Int32.max)
    /// The largest type id BTF allows (libbpf's `BTF_MAX_NR_TYPES`).
    static let maximumTypeID = 0x7FFF_FFFF

    /// Copies the own types and strings of `graph`.
    public init(_ graph: TypeGraph) {
        base = graph.base
        firstID = graph.firstOwnID
        stringBase = graph.ownStringOffset
        let wordCount = Int(graph.header.typeLength) / 4
        let reader = graph.reader
        let typeStart = graph.typeStart
        words = [UInt32](unsafeUninitializedCapacity: wordCount) { buffer, initialized in
            for i in 0..<wordCount { buffer[i] = reader.u32(typeStart + 4 * i) }
            initialized = wordCount
        }
        starts = graph.offsets.map { (Int($0) - typeStart) / 4 }
        strings = withExtendedLifetime(graph) {
            Array(UnsafeRawBufferPointer(start: graph.data.base + graph.stringStart, count: graph.ownStringLength))
        }
    }

    /// The highest type id (base types included).
    public var count: Int { Int(firstID) - 1 + starts.count }

    /// The ids the image defines.
    public var ownIDs: Range<UInt32> { firstID..<UInt32(count + 1) }

    /// The raw blob in host byte order: a 24-byte header, the type section, the string section.
    public func bytes() -> [UInt8] {
        let typeLength = words.count * 4
        var out: [UInt8] = []
        out.reserveCapacity(24 + typeLength + strings.count)
        func put(_ value: UInt32) { withUnsafeBytes(of: value) { out.append(contentsOf: $0) } }
        withUnsafeBytes(of: UInt16(0xEB9F)) { out.append(contentsOf: $0) }
        out.append(1)  // version
        out.append(0)  // flags
        put(24)  // hdr_len
        put(0)  // type_off
        put(UInt32(typeLength))
        put(UInt32(typeLength))  // str_off: right after the types
        put(UInt32(strings.count))
        words.withUnsafeBytes { out.append(contentsOf: $0) }
        out.append(contentsOf: strings)
        return out
    }

    /// The image decoded again (on top of the same base), for queries on the edited types.
    /// - Throws: ``BTFError`` when an edit made the blob invalid (e.g. a reference to a missing type).
    public func graph() throws(BTFError) -> TypeGraph {
        try TypeGraph(data: ByteView(bytes(), order: .host), base: base)
    }

    // MARK: - Reading

    /// Index in ``words`` of the record of own type `id`.
    func start(of id: UInt32) throws(BTFError) -> Int {
        guard id >= firstID, Int(id - firstID) < starts.count else {
            let range = count >= Int(firstID) ? "\(firstID)...\(count)" : "none"
            throw BTFError(.badTypeID, "type id \(id) is not one of the image's own types (\(range))", typeID: id)
        }
        return starts[Int(id - firstID)]
    }

    static func kind(ofInfo info: UInt32) -> BTFKind {
        BTFKind(rawValue: UInt8((info >> 24) & 0x1F)) ?? .void
    }

    static func info(_ kind: BTFKind, kindFlag: Bool = false, vlen: UInt32 = 0) -> UInt32 {
        (kindFlag ? 1 << 31 : 0) | UInt32(kind.rawValue) << 24 | (vlen & 0xFFFF)
    }

    /// The kind of a type (`.void` for id 0); base types are read from the base.
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func kind(of id: UInt32) throws(BTFError) -> BTFKind {
        if id == 0 { return .void }
        if id < firstID, let base { return try base.kind(of: id) }
        return Self.kind(ofInfo: words[try start(of: id) + 1])
    }

    /// The name offset of a type (0 for `void`); base types are read from the base.
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func nameOffset(of id: UInt32) throws(BTFError) -> UInt32 {
        if id == 0 { return 0 }
        if id < firstID, let base { return try base.nameOffset(of: id) }
        return words[try start(of: id)]
    }

    /// The string at `offset` (base strings included), or `nil` when out of range or unterminated.
    public func string(at offset: UInt32) -> String? {
        if offset < stringBase { return base?.string(at: offset) }
        let local = Int(offset - stringBase)
        guard local < strings.count, let end = strings[local...].firstIndex(of: 0) else { return nil }
        return String(decoding: strings[local..<end], as: UTF8.self)
    }

    /// The entries of a DATASEC as they are now.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func dataSectionVariables(of id: UInt32) throws(BTFError) -> [BTFDataSectionVariable] {
        let s = try start(of: id, kind: .dataSection)
        return (0..<Int(words[s + 1] & 0xFFFF)).map { j in
            let e = s + 3 + 3 * j
            return BTFDataSectionVariable(type: words[e], offset: words[e + 1], size: words[e + 2])
        }
    }

    /// The size word of a DATASEC as it is now.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func dataSectionSize(of id: UInt32) throws(BTFError) -> UInt32 {
        words[try start(of: id, kind: .dataSection) + 2]
    }

    /// The parameters of a FUNC_PROTO as they are now.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func parameters(ofPrototype id: UInt32) throws(BTFError) -> [BTFParam] {
        let s = try start(of: id, kind: .functionProto)
        return (0..<Int(words[s + 1] & 0xFFFF)).map { j in
            BTFParam(nameOffset: words[s + 3 + 2 * j], type: words[s + 4 + 2 * j])
        }
    }

    /// Record index of own type `id`, checked to be of `kind`.
    func start(of id: UInt32, kind: BTFKind) throws(BTFError) -> Int {
        let s = try start(of: id)
        let actual = Self.kind(ofInfo: words[s + 1])
        guard actual == kind else {
            throw BTFError(.wrongKind, "type \(id) is \(actual), not \(kind)", typeID: id)
        }
        return s
    }

    // MARK: - Appending

    /// The offset of `text` in the string section: an existing whole string equal to it, else `text`
    /// appended (libbpf's `btf__add_str`). The empty string is offset 0.
    /// - Throws: ``BTFError/Code/badStringOffset`` when the string section would exceed the BTF limit.
    public mutating func addString(_ text: String) throws(BTFError) -> UInt32 {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return 0 }
        var local = 0
        while local < strings.count {
            guard let end = strings[local...].firstIndex(of: 0) else { break }
            if end - local == bytes.count && strings[local..<end].elementsEqual(bytes) {
                return stringBase + UInt32(local)
            }
            local = end + 1
        }
        let offset = Int(stringBase) + strings.count
        guard offset + bytes.count + 1 <= Self.maximumStringOffset else {
            throw BTFError(.badStringOffset, "adding the string '\(text)' makes the string section exceed \(Self.maximumStringOffset) bytes")
        }
        strings += bytes
        strings.append(0)
        return UInt32(offset)
    }

    /// Appends a type record and returns its id.
    mutating func appendType(_ record: [UInt32]) throws(BTFError) -> UInt32 {
        guard count + 1 < Self.maximumTypeID else {
            throw BTFError(.tooManyTypes, "adding a type exceeds the limit of \(Self.maximumTypeID - 1) types")
        }
        starts.append(words.count)
        words += record
        return UInt32(count)
    }

    /// Appends an INT of `size` bytes (1 to 16) using all its bits (libbpf's `btf__add_int`) and returns
    /// its id.
    /// - Throws: ``BTFError/Code/wrongKind`` for another size; ``BTFError`` when the string section or
    ///   the type count exceeds the BTF limits.
    @discardableResult
    public mutating func addInt(named name: String, size: UInt32, encoding: BTFIntEncoding = []) throws(BTFError) -> UInt32 {
        guard (1...16).contains(size) else {
            throw BTFError(.wrongKind, "an INT of \(size) bytes cannot be added (1 to 16 bytes)")
        }
        let nameOffset = try addString(name)
        return try appendType([nameOffset, Self.info(.int), size, UInt32(encoding.rawValue) << 24 | size * 8])
    }

    /// Appends a VAR (libbpf's `btf__add_var`) and returns its id.
    /// - Throws: ``BTFError`` when the string section or the type count exceeds the BTF limits.
    @discardableResult
    public mutating func addVariable(named name: String, type: UInt32, linkage: BTFVariableLinkage) throws(BTFError) -> UInt32 {
        let nameOffset = try addString(name)
        return try appendType([nameOffset, Self.info(.variable), type, linkage.rawValue])
    }

    // MARK: - Editing

    /// Changes a VAR's type and/or linkage.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public mutating func setVariable(_ id: UInt32, type: UInt32? = nil, linkage: BTFVariableLinkage? = nil) throws(BTFError) {
        let s = try start(of: id, kind: .variable)
        if let type { words[s + 2] = type }
        if let linkage { words[s + 3] = linkage.rawValue }
    }

    /// Changes a FUNC's linkage (its `vlen`), keeping the rest of its `info` word.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public mutating func setLinkage(_ linkage: BTFFunctionLinkage, ofFunction id: UInt32) throws(BTFError) {
        let s = try start(of: id, kind: .function)
        words[s + 1] = words[s + 1] & ~0xFFFF | UInt32(linkage.rawValue)
    }

    /// Changes the name offset of parameter `index` of a FUNC_PROTO.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``, or
    ///   ``BTFError/Code/badStringOffset`` for an index or offset out of range.
    public mutating func setParameterName(_ nameOffset: UInt32, at index: Int, ofPrototype id: UInt32) throws(BTFError) {
        let s = try start(of: id, kind: .functionProto)
        guard index >= 0, index < Int(words[s + 1] & 0xFFFF) else {
            throw BTFError(.wrongKind, "prototype \(id) has no parameter \(index)", typeID: id)
        }
        try checkString(nameOffset, id)
        words[s + 3 + 2 * index] = nameOffset
    }

    /// Changes a DATASEC's size and entries; the entry count cannot change (records keep their place).
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds or another entry count,
    ///   ``BTFError/Code/badTypeID``.
    public mutating func setDataSection(_ id: UInt32, size: UInt32, variables: [BTFDataSectionVariable]) throws(BTFError) {
        let s = try start(of: id, kind: .dataSection)
        let vlen = Int(words[s + 1] & 0xFFFF)
        guard variables.count == vlen else {
            throw BTFError(.wrongKind, "DATASEC \(id) has \(vlen) entries, not \(variables.count)", typeID: id)
        }
        words[s + 2] = size
        for (j, variable) in variables.enumerated() {
            let e = s + 3 + 3 * j
            words[e] = variable.type
            words[e + 1] = variable.offset
            words[e + 2] = variable.size
        }
    }

    func checkString(_ offset: UInt32, _ id: UInt32) throws(BTFError) {
        guard Int(offset) < Int(stringBase) + strings.count else {
            throw BTFError(.badStringOffset, "string offset \(offset) is outside the string section", typeID: id)
        }
    }

    /// Replaces, in the string at `offset`, the bytes `.` and `?` (or only a leading `?`) by `_`.
    /// Own strings change in place, as libbpf does (every user of the string sees the new name); a base
    /// string is copied and the copy's offset returned.
    mutating func underscoreName(at offset: UInt32, onlyLeadingQuestionMark: Bool) throws(BTFError) -> UInt32 {
        func replaced(_ bytes: [UInt8]) -> [UInt8] {
            var bytes = bytes
            if onlyLeadingQuestionMark {
                if bytes.first == UInt8(ascii: "?") { bytes[0] = UInt8(ascii: "_") }
                return bytes
            }
            for i in bytes.indices where bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "?") {
                bytes[i] = UInt8(ascii: "_")
            }
            return bytes
        }
        if offset < stringBase {
            guard let text = base?.string(at: offset) else { return offset }
            let renamed = replaced(Array(text.utf8))
            return renamed.elementsEqual(text.utf8) ? offset : try addString(String(decoding: renamed, as: UTF8.self))
        }
        let local = Int(offset - stringBase)
        guard local < strings.count, let end = strings[local...].firstIndex(of: 0) else { return offset }
        strings.replaceSubrange(local..<end, with: replaced(Array(strings[local..<end])))
        return offset
    }
}
