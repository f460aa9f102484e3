import ByteParsing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fixed header of a BTF blob.
public struct BTFHeader: Sendable, Hashable {
    /// `0xEB9F`.
    public var magic: UInt16
    /// 1.
    public var version: UInt8
    /// Flags (0 today).
    public var flags: UInt8
    /// Header length in bytes (24 or more).
    public var headerLength: UInt32
    /// Offset of the type section, from the end of the header.
    public var typeOffset: UInt32
    /// Length of the type section.
    public var typeLength: UInt32
    /// Offset of the string section, from the end of the header.
    public var stringOffset: UInt32
    /// Length of the string section.
    public var stringLength: UInt32
}

/// A decoded BTF blob: the types of a kernel (`/sys/kernel/btf/vmlinux`), a module (split BTF on top of
/// vmlinux) or an object's `.BTF` section, addressed by type id.
///
/// Initialization makes one pass over the type section: it validates every record (known kind, length
/// against `vlen`, type ids and name offsets in range) and records where each type starts. Types are then
/// decoded on demand by ``type(_:)`` and the queries below; names stay bytes in the string section.
/// The name indexes are built once, on first use, by hashing the name bytes.
///
/// The graph is immutable and can be shared between threads.
///
/// Type ids: 0 is `void`; a base graph holds ids `1...count`. A split graph built with
/// ``init(splitData:base:)`` holds the base's ids `1...base.count` (answered by the base) and its own
/// ids `base.count + 1 ... count`. String offsets below ``ownStringOffset`` likewise refer to the base's
/// string section.
public final class TypeGraph: @unchecked Sendable {
    /// Depth limit when following typedefs, modifiers and arrays: deeper chains are loops.
    public static let maximumResolveDepth = 32
    /// The size of a pointer, used by ``resolvedSize(of:)`` (BPF is a 64-bit target).
    public static let pointerSize = 8

    /// The whole blob, in its byte order.
    public let data: ByteView
    /// The decoded header.
    public let header: BTFHeader
    /// The base graph of a split graph, `nil` for a base graph.
    public let base: TypeGraph?
    /// The first type id this blob defines: 1, or `base.count + 1` for split BTF.
    public let firstOwnID: UInt32
    /// The highest valid type id (the number of types, not counting `void`, base types included).
    public let count: Int
    /// The first string offset that refers to this blob's own string section (0, or the base's
    /// ``stringLength`` for split BTF).
    public let ownStringOffset: UInt32

    let reader: RawReader
    let typeStart: Int
    let stringStart: Int
    let ownStringLength: Int
    /// Blob offsets of this blob's own types: index `id - firstOwnID`.
    let offsets: [UInt32]
    let nameIndexCell = OnceCell<NameIndex>()
    let flavoredCell = OnceCell<[FlavoredName]>()

    /// The byte order of the blob.
    public var byteOrder: ByteOrder { data.order }
    /// Total length of the string space: base strings plus this blob's own.
    public var stringLength: Int { Int(ownStringOffset) + ownStringLength }
    /// The ids this blob defines (all ids but 0 for a base graph); empty for a split blob without types.
    public var ownIDs: Range<UInt32> { firstOwnID..<UInt32(count + 1) }
    /// Whether this graph defines no type of its own.
    public var isEmpty: Bool { offsets.isEmpty }

    /// Decodes a base BTF blob (vmlinux, a `.btf` file, an object's `.BTF` section).
    ///
    /// The byte order is taken from the magic, whatever the order of `data`.
    /// - Throws: ``BTFError`` for a malformed header, section, type record or reference.
    public convenience init(data: ByteView) throws(BTFError) {
        try self.init(data: data, base: nil)
    }

    /// Decodes split BTF (a module's `/sys/kernel/btf/<module>`) that continues `base`'s type ids and
    /// string offsets.
    /// - Throws: ``BTFError`` for a malformed blob or a reference outside base + split.
    public convenience init(splitData: ByteView, base: TypeGraph) throws(BTFError) {
        try self.init(data: splitData, base: base)
    }

    init(data input: ByteView, base: TypeGraph?) throws(BTFError) {
        guard input.count >= 24 else {
            throw BTFError(.truncatedHeader, "blob of \(input.count) bytes is shorter than the 24-byte header",
                           offset: 0)
        }
        guard input.count <= Int(UInt32.max) else {
            throw BTFError(.sectionOutOfBounds, "blob of \(input.count) bytes is larger than 4 GiB")
        }
        let magicLE = input.with(order: .little).u16(unchecked: 0)
        let order: ByteOrder
        if magicLE == 0xEB9F {
            order = .little
        } else if magicLE == 0x9FEB {
            order = .big
        } else {
            throw BTFError(.badMagic, "bad magic 0x\(String(magicLE, radix: 16)) (expected 0xeb9f)", offset: 0)
        }
        let view = input.with(order: order)
        let header = BTFHeader(
            magic: 0xEB9F, version: view.u8(unchecked: 2), flags: view.u8(unchecked: 3),
            headerLength: view.u32(unchecked: 4), typeOffset: view.u32(unchecked: 8),
            typeLength: view.u32(unchecked: 12), stringOffset: view.u32(unchecked: 16),
            stringLength: view.u32(unchecked: 20))
        guard header.version == 1 else {
            throw BTFError(.unsupportedVersion, "unsupported version \(header.version) (expected 1)", offset: 2)
        }
        let headerLength = Int(header.headerLength)
        guard headerLength >= 24 else {
            throw BTFError(.badHeaderLength, "header length \(headerLength) is smaller than 24", offset: 4)
        }
        guard headerLength <= view.count else {
            throw BTFError(.truncatedHeader,
                           "header length \(headerLength) exceeds the blob size \(view.count)", offset: 4)
        }
        let typeStart = headerLength + Int(header.typeOffset)
        let typeEnd = typeStart + Int(header.typeLength)
        guard typeEnd <= view.count else {
            throw BTFError(.sectionOutOfBounds,
                           "type section [\(typeStart), \(typeEnd)) exceeds the blob size \(view.count)",
                           offset: 8)
        }
        guard header.typeOffset % 4 == 0 else {
            throw BTFError(.sectionOutOfBounds, "type section offset \(header.typeOffset) is not 4-byte aligned",
                           offset: 8)
        }
        let stringStart = headerLength + Int(header.stringOffset)
        let stringEnd = stringStart + Int(header.stringLength)
        guard stringEnd <= view.count else {
            throw BTFError(.sectionOutOfBounds,
                           "string section [\(stringStart), \(stringEnd)) exceeds the blob size \(view.count)",
                           offset: 16)
        }
        let ownStringLength = Int(header.stringLength)
        if ownStringLength == 0 {
            if base == nil {
                throw BTFError(.badStringSection, "the string section is empty", offset: 20)
            }
        } else {
            if base == nil && view.u8(unchecked: stringStart) != 0 {
                throw BTFError(.badStringSection, "the string section does not start with a NUL byte",
                               offset: stringStart)
            }
            if view.u8(unchecked: stringEnd - 1) != 0 {
                throw BTFError(.unterminatedString, "the string section does not end with a NUL byte",
                               offset: stringEnd - 1)
            }
        }
        let ownStringOffset = UInt32(base?.stringLength ?? 0)
        guard Int(ownStringOffset) + ownStringLength <= Int(UInt32.max) else {
            throw BTFError(.sectionOutOfBounds, "string space exceeds 4 GiB")
        }
        let firstOwnID = UInt32(base.map { $0.count + 1 } ?? 1)

        let reader = RawReader(view)
        let scan = TypeScan.run(reader: reader, typeStart: typeStart, typeEnd: typeEnd, firstID: firstOwnID)
        if let failure = scan.failure { throw failure }
        let count = Int(firstOwnID) - 1 + scan.offsets.count
        guard count < 0x7FFF_FFFF else {
            throw BTFError(.tooManyTypes, "\(count) types exceed the limit of \(0x7FFF_FFFF - 1)")
        }

        self.data = view
        self.header = header
        self.base = base
        self.firstOwnID = firstOwnID
        self.count = count
        self.ownStringOffset = ownStringOffset
        self.reader = reader
        self.typeStart = typeStart
        self.stringStart = stringStart
        self.ownStringLength = ownStringLength
        self.offsets = scan.offsets

        // References were checked in bulk (their maxima); on failure, find the culprit for the message.
        if scan.maxTypeReference > UInt32(count) || Int(scan.maxNameOffset) >= stringLength
            && !(scan.maxNameOffset == 0 && stringLength == 0) {
            throw findBadReference()
        }
    }

    // MARK: - Raw access

    /// Blob offset of a type record, or `nil` for an id this blob does not define.
    @inline(__always)
    func recordOffset(_ id: UInt32) -> Int? {
        guard id >= firstOwnID else { return nil }
        let index = Int(id - firstOwnID)
        guard index < offsets.count else { return nil }
        return Int(offsets[index])
    }

    func badID(_ id: UInt32) -> BTFError {
        BTFError(.badTypeID, "type id \(id) does not exist (the graph has ids 0...\(count))", typeID: id)
    }

    /// The graph that defines `id` and the record offset there.
    @inline(__always)
    func locate(_ id: UInt32) throws(BTFError) -> (TypeGraph, Int) {
        if let offset = recordOffset(id) { return (self, offset) }
        if id < firstOwnID, let base, id != 0 { return try base.locate(id) }
        throw badID(id)
    }

    /// Pointer to the string at `offset` and the end of the string section holding it (which ends with
    /// NUL), base included; `nil` when out of range.
    @inline(__always)
    func stringSpan(at offset: UInt32) -> (UnsafeRawPointer, UnsafeRawPointer)? {
        if offset < ownStringOffset { return base?.stringSpan(at: offset) }
        let local = Int(offset - ownStringOffset)
        guard local < ownStringLength else { return nil }
        let start = data.base + stringStart
        return (start + local, start + ownStringLength)
    }

    /// Pointer and length of the NUL-terminated string at a (validated or checked) offset in the string
    /// space, base included.
    func stringPointer(at offset: UInt32) -> (UnsafeRawPointer, Int)? {
        if offset < ownStringOffset { return base?.stringPointer(at: offset) }
        let local = Int(offset - ownStringOffset)
        guard local < ownStringLength else { return nil }
        let pointer = data.base + stringStart + local
        // The section ends with NUL (checked at init), so strlen stays inside it.
        return (pointer, strlen(pointer.assumingMemoryBound(to: CChar.self)))
    }

    // MARK: - Types

    /// The type with this id (0 gives `void`).
    /// - Throws: ``BTFError/Code/badTypeID`` when the id does not exist.
    public func type(_ id: UInt32) throws(BTFError) -> BTFType {
        if id == 0 {
            return BTFType(id: 0, kind: .void, nameOffset: 0, kindFlag: false, vlen: 0, sizeOrType: 0,
                           offset: 0, payload: .void)
        }
        let (graph, offset) = try locate(id)
        return graph.decode(id: id, at: offset)
    }

    /// Decodes a record validated at init.
    func decode(id: UInt32, at o: Int) -> BTFType {
        let nameOffset = reader.u32(o)
        let info = reader.u32(o + 4)
        let st = reader.u32(o + 8)
        let kindFlag = info >> 31 != 0
        let vlen = UInt16(truncatingIfNeeded: info)
        let kind = BTFKind(rawValue: UInt8((info >> 24) & 0x1F)) ?? .void
        let tail = o + 12
        let n = Int(vlen)
        let payload: BTFType.Payload
        switch kind {
        case .void: payload = .void
        case .int:
            let v = reader.u32(tail)
            payload = .int(BTFIntInfo(size: st, encoding: BTFIntEncoding(rawValue: UInt8((v >> 24) & 0x0F)),
                                      bitOffset: UInt8((v >> 16) & 0xFF), bits: UInt8(v & 0xFF)))
        case .pointer: payload = .pointer(st)
        case .array:
            payload = .array(BTFArrayInfo(elementType: reader.u32(tail), indexType: reader.u32(tail + 4),
                                          count: reader.u32(tail + 8)))
        case .struct:
            payload = .struct(size: st, members: BTFMemberList(view: data, start: tail, count: n,
                                                                bitfieldEncoding: kindFlag))
        case .union:
            payload = .union(size: st, members: BTFMemberList(view: data, start: tail, count: n,
                                                              bitfieldEncoding: kindFlag))
        case .enum:
            payload = .enum(size: st, isSigned: kindFlag,
                            values: BTFEnumeratorList(view: data, start: tail, count: n, is64Bit: false,
                                                      isSigned: kindFlag))
        case .forward: payload = .forward(isUnion: kindFlag)
        case .typedef: payload = .typedef(st)
        case .volatile: payload = .volatile(st)
        case .const: payload = .const(st)
        case .restrict: payload = .restrict(st)
        case .function: payload = .function(proto: st, linkage: BTFFunctionLinkage(rawValue: vlen))
        case .functionProto:
            payload = .functionProto(returnType: st, params: BTFParamList(view: data, start: tail, count: n))
        case .variable: payload = .variable(type: st, linkage: BTFVariableLinkage(rawValue: reader.u32(tail)))
        case .dataSection:
            payload = .dataSection(size: st, variables: BTFDataSectionVariableList(view: data, start: tail,
                                                                                   count: n))
        case .float: payload = .float(size: st)
        case .declTag: payload = .declTag(target: st, componentIndex: Int32(bitPattern: reader.u32(tail)))
        case .typeTag: payload = .typeTag(st)
        case .enum64:
            payload = .enum64(size: st, isSigned: kindFlag,
                              values: BTFEnumeratorList(view: data, start: tail, count: n, is64Bit: true,
                                                        isSigned: kindFlag))
        }
        return BTFType(id: id, kind: kind, nameOffset: nameOffset, kindFlag: kindFlag, vlen: vlen,
                       sizeOrType: st, offset: o, payload: payload)
    }

    /// The kind of a type, without decoding it (`.void` for id 0).
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func kind(of id: UInt32) throws(BTFError) -> BTFKind {
        if id == 0 { return .void }
        let (graph, o) = try locate(id)
        return BTFKind(rawValue: UInt8((graph.reader.u32(o + 4) >> 24) & 0x1F)) ?? .void
    }

    /// The name offset of a type (0 for anonymous types and `void`).
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func nameOffset(of id: UInt32) throws(BTFError) -> UInt32 {
        if id == 0 { return 0 }
        let (graph, o) = try locate(id)
        return graph.reader.u32(o)
    }

    /// The name of a type as text, `""` for anonymous types and `void`. For display: lookups should use
    /// ``ids(named:)`` or ``type(_:hasName:)``, which compare bytes.
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func name(of id: UInt32) throws(BTFError) -> String {
        string(at: try nameOffset(of: id)) ?? ""
    }

    /// The string at `offset` in the string space (base strings included), or `nil` when out of range.
    public func string(at offset: UInt32) -> String? {
        guard let (pointer, length) = stringPointer(at: offset) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// Whether the string at `offset` equals `text` byte for byte, without creating a `String`.
    public func string(at offset: UInt32, equals text: String) -> Bool {
        guard let (pointer, length) = stringPointer(at: offset) else { return false }
        var text = text
        return text.withUTF8 { bytes in
            bytes.count == length && (length == 0 || memcmp(pointer, bytes.baseAddress!, length) == 0)
        }
    }

    /// Calls `body` with the bytes (without NUL) of the string at `offset`, or `nil` when out of range.
    /// The buffer is valid only inside `body`.
    public func withStringBytes<R>(at offset: UInt32, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let (pointer, length) = stringPointer(at: offset) else { return try body(nil) }
        return try withExtendedLifetime(self) { try body(UnsafeRawBufferPointer(start: pointer, count: length)) }
    }

    /// Whether the type's name equals `name` byte for byte (`""` matches anonymous types).
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func type(_ id: UInt32, hasName name: String) throws(BTFError) -> Bool {
        string(at: try nameOffset(of: id), equals: name)
    }

    // MARK: - Resolution

    /// Follows const, volatile, restrict and type tags to the first other type.
    /// - Throws: ``BTFError/Code/resolutionTooDeep`` on a loop, ``BTFError/Code/badTypeID``.
    public func skipModifiers(_ id: UInt32) throws(BTFError) -> UInt32 {
        try skip(id, typedefs: false)
    }

    /// Follows typedefs, const, volatile, restrict and type tags to the first other type (libbpf's
    /// `skip_mods_and_typedefs`).
    /// - Throws: ``BTFError/Code/resolutionTooDeep`` on a loop, ``BTFError/Code/badTypeID``.
    public func skipModifiersAndTypedefs(_ id: UInt32) throws(BTFError) -> UInt32 {
        try skip(id, typedefs: true)
    }

    /// Follows typedefs only.
    /// - Throws: ``BTFError/Code/resolutionTooDeep`` on a loop, ``BTFError/Code/badTypeID``.
    public func skipTypedefs(_ id: UInt32) throws(BTFError) -> UInt32 {
        var current = id
        for _ in 0...Self.maximumResolveDepth {
            if current == 0 { return 0 }
            let (graph, o) = try locate(current)
            let info = graph.reader.u32(o + 4)
            guard (info >> 24) & 0x1F == UInt32(BTFKind.typedef.rawValue) else { return current }
            current = graph.reader.u32(o + 8)
        }
        throw tooDeep(id)
    }

    func skip(_ id: UInt32, typedefs: Bool) throws(BTFError) -> UInt32 {
        var current = id
        for _ in 0...Self.maximumResolveDepth {
            if current == 0 { return 0 }
            let (graph, o) = try locate(current)
            let kind = UInt8((graph.reader.u32(o + 4) >> 24) & 0x1F)
            switch kind {
            case BTFKind.const.rawValue, BTFKind.volatile.rawValue, BTFKind.restrict.rawValue,
                 BTFKind.typeTag.rawValue:
                current = graph.reader.u32(o + 8)
            case BTFKind.typedef.rawValue where typedefs:
                current = graph.reader.u32(o + 8)
            default:
                return current
            }
        }
        throw tooDeep(id)
    }

    func tooDeep(_ id: UInt32) -> BTFError {
        BTFError(.resolutionTooDeep,
                 "resolving type \(id) takes more than \(Self.maximumResolveDepth) steps (a reference loop?)",
                 typeID: id)
    }

    /// The size in bytes of a type, through typedefs, modifiers, variables and tags; arrays multiply their
    /// element size (libbpf's `btf__resolve_size`). Pointers are ``pointerSize`` bytes.
    /// - Throws: ``BTFError/Code/wrongKind`` for types without a size (void, functions, forward
    ///   declarations), ``BTFError/Code/resolutionTooDeep`` on a loop, or when the size overflows 32 bits.
    public func resolvedSize(of id: UInt32) throws(BTFError) -> Int {
        var current = id
        var multiplier = 1
        for _ in 0...Self.maximumResolveDepth {
            if current == 0 {
                throw BTFError(.wrongKind, "type \(id) resolves to void, which has no size", typeID: id)
            }
            let (graph, o) = try locate(current)
            let kind = BTFKind(rawValue: UInt8((graph.reader.u32(o + 4) >> 24) & 0x1F)) ?? .void
            let st = graph.reader.u32(o + 8)
            switch kind {
            case .int, .struct, .union, .enum, .enum64, .dataSection, .float:
                return try checkedSize(multiplier, Int(st), id)
            case .pointer:
                return try checkedSize(multiplier, Self.pointerSize, id)
            case .typedef, .volatile, .const, .restrict, .variable, .declTag, .typeTag:
                current = st
            case .array:
                let elements = Int(graph.reader.u32(o + 12 + 8))
                multiplier = try checkedSize(multiplier, elements, id)
                current = graph.reader.u32(o + 12)
            case .void, .forward, .function, .functionProto:
                throw BTFError(.wrongKind, "type \(current) (\(kind)) has no size", typeID: id)
            }
        }
        throw tooDeep(id)
    }

    func checkedSize(_ a: Int, _ b: Int, _ id: UInt32) throws(BTFError) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow, product <= Int(UInt32.max) else {
            throw BTFError(.wrongKind, "the size of type \(id) overflows 32 bits", typeID: id)
        }
        return product
    }

    // MARK: - Kind-specific queries

    /// The members of a struct or union.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func members(of id: UInt32) throws(BTFError) -> BTFMemberList {
        let t = try type(id)
        guard let members = t.members else { throw wrongKind(id, t.kind, "a struct or union") }
        return members
    }

    /// Element type, index type and element count of an array.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func arrayInfo(of id: UInt32) throws(BTFError) -> BTFArrayInfo {
        let t = try type(id)
        guard case .array(let info) = t.payload else { throw wrongKind(id, t.kind, "an array") }
        return info
    }

    /// The enumerators of an enum or enum64 (signedness and width in the list).
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func enumerators(of id: UInt32) throws(BTFError) -> BTFEnumeratorList {
        let t = try type(id)
        guard let values = t.enumerators else { throw wrongKind(id, t.kind, "an enum") }
        return values
    }

    /// The parameters of a function prototype.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func parameters(of id: UInt32) throws(BTFError) -> BTFParamList {
        let t = try type(id)
        guard case .functionProto(_, let params) = t.payload else {
            throw wrongKind(id, t.kind, "a function prototype")
        }
        return params
    }

    /// The variables of a DATASEC.
    /// - Throws: ``BTFError/Code/wrongKind`` for other kinds, ``BTFError/Code/badTypeID``.
    public func dataSectionVariables(of id: UInt32) throws(BTFError) -> BTFDataSectionVariableList {
        let t = try type(id)
        guard case .dataSection(_, let variables) = t.payload else {
            throw wrongKind(id, t.kind, "a DATASEC")
        }
        return variables
    }

    func wrongKind(_ id: UInt32, _ kind: BTFKind, _ expected: String) -> BTFError {
        BTFError(.wrongKind, "type \(id) is \(kind), not \(expected)", typeID: id)
    }
}
