/// One step of a CO-RE access spec (libbpf's `bpf_core_accessor`): a named member or enumerator, or an
/// array index.
public struct CoreAccessor: Sendable, Hashable {
    /// The struct, union or enum the step indexes into; for an array step, the (modifier-free) element
    /// type.
    public var typeID: UInt32
    /// Member, enumerator or array index.
    public var index: UInt32
    /// Name offset of the member or enumerator in the spec's BTF; `nil` for array steps.
    public var nameOffset: UInt32?
}

/// A CO-RE access spec resolved against one BTF (libbpf's `bpf_core_spec`): the high-level steps that
/// carry meaning (named fields, array indices, the enumerator), the raw access string indices including
/// anonymous members, and the bit offset they add up to.
public struct CoreSpec: Sendable {
    /// Specs longer than this are refused (libbpf's `BPF_CORE_SPEC_MAX_LEN`).
    public static let maximumLength = 64

    /// The BTF the spec's ids and names belong to.
    public let btf: TypeGraph
    /// The root type id, as the relocation (or the candidate) names it, before skipping typedefs.
    public let rootTypeID: UInt32
    /// The relocation kind the spec serves.
    public let kind: BTFCoreRelocationKind
    /// High-level steps.
    public internal(set) var accessors: [CoreAccessor] = []
    /// Low-level steps: one per access string index, anonymous members included.
    public internal(set) var rawIndices: [Int32] = []
    /// Bit offset of the accessed field from the start of the root object (wraps as libbpf's `__u32`).
    public internal(set) var bitOffset: UInt32 = 0

    init(btf: TypeGraph, rootTypeID: UInt32, kind: BTFCoreRelocationKind) {
        self.btf = btf
        self.rootTypeID = rootTypeID
        self.kind = kind
    }

    /// Parses a relocation's access string against the local BTF (libbpf's `bpf_core_parse_spec`).
    /// - Throws: ``CoreRelocationError`` naming what is wrong with the access string or the types it walks.
    init(parsing accessString: String, rootTypeID: UInt32, kind: BTFCoreRelocationKind,
         btf: TypeGraph) throws(CoreRelocationError) {
        self.init(btf: btf, rootTypeID: rootTypeID, kind: kind)
        let invalid = CoreRelocationError.invalidAccessString
        guard !accessString.isEmpty, accessString.utf8.first != UInt8(ascii: ":") else {
            throw invalid("access string '\(accessString)' is empty or starts with ':'")
        }
        if kind.isTypeBased {
            guard accessString == "0" else {
                throw invalid("access string '\(accessString)' of a type-based relocation must be \"0\"")
            }
            return
        }
        rawIndices = try Self.parseIndices(accessString)
        let first = rawIndices[0]
        var id = try Self.skip(btf, rootTypeID)
        accessors.append(CoreAccessor(typeID: id, index: UInt32(bitPattern: first), nameOffset: nil))
        let rootType = try Self.type(btf, id)

        if kind.isEnumValueBased {
            guard let values = rootType.enumerators, rawIndices.count == 1, first >= 0, Int(first) < values.count else {
                throw invalid("access string '\(accessString)' does not name an enumerator of type \(id)")
            }
            accessors[0].nameOffset = values[Int(first)].nameOffset
            return
        }
        guard kind.isFieldBased else { throw invalid("relocation kind \(kind) takes no access string") }

        var size = try Self.size(btf, id)
        bitOffset = Self.bits(Int64(first), size)
        for step in 1..<rawIndices.count {
            let index = rawIndices[step]
            let t = try Self.type(btf, try Self.skip(btf, id))
            id = t.id
            if let members = t.members {
                guard index >= 0, Int(index) < members.count else {
                    throw invalid("access string '\(accessString)': member \(index) of type \(id), which has \(members.count)")
                }
                let member = members[Int(index)]
                bitOffset &+= member.bitOffset
                if member.nameOffset != 0 {
                    guard let name = btf.string(at: member.nameOffset), !name.isEmpty else {
                        throw invalid("access string '\(accessString)': member \(index) of type \(id) has a bad name")
                    }
                    accessors.append(CoreAccessor(typeID: id, index: UInt32(index), nameOffset: member.nameOffset))
                }
                id = member.type
            } else if case .array(let array) = t.payload {
                let element = try Self.skip(btf, array.elementType)
                let flexible = Self.isFlexibleArray(btf, accessors[accessors.count - 1], array)
                guard flexible || UInt32(bitPattern: index) < array.count else {
                    throw invalid("access string '\(accessString)': index \(index) is past the end of array type \(id) (\(array.count) elements)")
                }
                id = element
                accessors.append(CoreAccessor(typeID: id, index: UInt32(bitPattern: index), nameOffset: nil))
                size = try Self.size(btf, id)
                bitOffset &+= Self.bits(Int64(index), size)
            } else {
                throw invalid("access string '\(accessString)' (at index \(step)) steps into type [\(id)] of unexpected kind \(t.kind.libbpfName)")
            }
        }
    }

    /// `"0:1:2"` → `[0, 1, 2]`, as libbpf's `%d` scanning reads it, with the 64-step limit.
    static func parseIndices(_ text: String) throws(CoreRelocationError) -> [Int32] {
        var result: [Int32] = []
        var bytes = text.utf8[...]
        while let first = bytes.first {
            if first == UInt8(ascii: ":") { bytes = bytes.dropFirst() }
            var negative = false
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                negative = sign == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            var value: Int64 = 0
            var digits = 0
            while let byte = bytes.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                guard value <= Int64(Int32.max) + 1 else {
                    throw .invalidAccessString("access string '\(text)' has an index out of range")
                }
                digits += 1
                bytes = bytes.dropFirst()
            }
            guard digits > 0 else { throw .invalidAccessString("access string '\(text)' is not a list of numbers") }
            if negative { value = -value }
            guard let index = Int32(exactly: value) else {
                throw .invalidAccessString("access string '\(text)' has an index out of range")
            }
            guard result.count < maximumLength else {
                throw CoreRelocationError(.specTooDeep, "access string '\(text)' has more than \(maximumLength) steps")
            }
            result.append(index)
        }
        guard !result.isEmpty else { throw .invalidAccessString("access string '\(text)' is empty") }
        return result
    }

    /// A zero-length array that is the last member of the struct its accessor names may be indexed past
    /// its end (libbpf's `is_flex_arr`).
    static func isFlexibleArray(_ btf: TypeGraph, _ accessor: CoreAccessor, _ array: BTFArrayInfo) -> Bool {
        guard accessor.nameOffset != nil, array.count == 0,
              let members = try? btf.members(of: accessor.typeID) else { return false }
        return Int(accessor.index) == members.count - 1
    }

    /// `index * size * 8` truncated to 32 bits, as libbpf accumulates bit offsets.
    static func bits(_ index: Int64, _ size: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: index &* Int64(size) &* 8)
    }

    static func skip(_ btf: TypeGraph, _ id: UInt32) throws(CoreRelocationError) -> UInt32 {
        do { return try btf.skipModifiersAndTypedefs(id) } catch { throw CoreRelocationError(btf: error) }
    }

    static func type(_ btf: TypeGraph, _ id: UInt32) throws(CoreRelocationError) -> BTFType {
        do { return try btf.type(id) } catch { throw CoreRelocationError(btf: error) }
    }

    static func size(_ btf: TypeGraph, _ id: UInt32) throws(CoreRelocationError) -> Int {
        do { return try btf.resolvedSize(of: id) } catch { throw CoreRelocationError(btf: error) }
    }
}

// MARK: - Printing

extension CoreSpec {
    /// The spec as libbpf prints it after the kind: `[23] struct task_struct.tgid (0:8 @ offset 24)`,
    /// `[36] struct list_head`, `[12] enum e::B = 2`. Capped at 255 bytes like libbpf's buffer.
    public var description: String {
        var text = ""
        let root = try? btf.type(rootTypeID)
        let name = root.flatMap { btf.string(at: $0.nameOffset) } ?? ""
        text += "[\(rootTypeID)] \(root?.kind.libbpfName ?? "unknown") \(name.isEmpty ? "<anon>" : name)"
        if kind.isEnumValueBased {
            // A candidate that did not match has no steps: libbpf's zeroed spec then names enumerator 0.
            let raw = rawIndices.first ?? 0
            if let id = try? btf.skipModifiersAndTypedefs(rootTypeID),
               let values = try? btf.enumerators(of: id), raw >= 0, Int(raw) < values.count {
                let value = values[Int(raw)]
                let valueName = btf.string(at: value.nameOffset) ?? ""
                if values.is64Bit {
                    text += "::\(valueName) = " + (values.isSigned ? "\(Int64(bitPattern: value.rawValue))" : "\(value.rawValue)")
                } else {
                    let low = UInt32(truncatingIfNeeded: value.rawValue)
                    text += "::\(valueName) = " + (values.isSigned ? "\(Int32(bitPattern: low))" : "\(low)")
                }
            }
        } else if kind.isFieldBased {
            for (position, accessor) in accessors.enumerated() {
                if let nameOffset = accessor.nameOffset {
                    text += "." + (btf.string(at: nameOffset) ?? "")
                } else if position > 0 || accessor.index > 0 {
                    text += "[\(accessor.index)]"
                }
            }
            text += " (" + rawIndices.map { String($0) }.joined(separator: ":")
            text += bitOffset % 8 != 0 ? " @ offset \(bitOffset / 8).\(bitOffset % 8))" : " @ offset \(bitOffset / 8))"
        }
        let limit = 255 - "<\(kind)> ".utf8.count
        if text.utf8.count > limit { text = String(decoding: text.utf8.prefix(limit), as: UTF8.self) }
        return text
    }
}

extension BTFKind {
    /// The lower-case kind word libbpf prints in CO-RE messages (`btf_kind_str`): `struct`, `func_proto`,
    /// `void` for id 0.
    public var libbpfName: String {
        switch self {
        case .void: "void"
        case .int: "int"
        case .pointer: "ptr"
        case .array: "array"
        case .struct: "struct"
        case .union: "union"
        case .enum: "enum"
        case .forward: "fwd"
        case .typedef: "typedef"
        case .volatile: "volatile"
        case .const: "const"
        case .restrict: "restrict"
        case .function: "func"
        case .functionProto: "func_proto"
        case .variable: "var"
        case .dataSection: "datasec"
        case .float: "float"
        case .declTag: "decl_tag"
        case .typeTag: "type_tag"
        case .enum64: "enum64"
        }
    }
}

extension BTFCoreRelocationKind {
    /// Kinds about a field: offset, size, existence, signedness, bitfield shifts.
    public var isFieldBased: Bool { rawValue <= 5 }
    /// Kinds about a whole type: ids, existence, size, match.
    public var isTypeBased: Bool {
        switch self {
        case .localTypeID, .targetTypeID, .typeExists, .typeMatches, .typeSize: true
        default: false
        }
    }
    /// Kinds about an enumerator.
    public var isEnumValueBased: Bool { self == .enumValueExists || self == .enumValue }
}
