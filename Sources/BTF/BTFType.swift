import ByteParsing

/// One decoded BTF type: its id, kind, name offset and kind-specific payload.
///
/// Decoding allocates nothing: member, parameter, enumerator and variable lists are views that decode
/// their elements from the blob when accessed. Names are offsets into the string section; turn them into
/// text with ``TypeGraph/string(at:)`` or ``TypeGraph/name(of:)``.
public struct BTFType: Sendable {
    /// The type id (0 is `void`).
    public let id: UInt32
    /// The kind from the `info` word.
    public let kind: BTFKind
    /// Offset of the name in the string section (0 = anonymous).
    public let nameOffset: UInt32
    /// Bit 31 of `info`: bitfield members, signed enum, union forward declaration.
    public let kindFlag: Bool
    /// Bits 0-15 of `info`: the number of members/params/enumerators/variables, or a FUNC's linkage.
    public let vlen: UInt16
    /// The third header word: a size or a referenced type id depending on the kind.
    public let sizeOrType: UInt32
    /// Byte offset of the type record in its blob (for error messages and raw access).
    public let offset: Int
    /// The kind-specific content.
    public let payload: Payload

    /// The kind-specific content of a type.
    public enum Payload: Sendable {
        /// Type id 0.
        case void
        /// An integer.
        case int(BTFIntInfo)
        /// A pointer to the type with this id.
        case pointer(UInt32)
        /// An array.
        case array(BTFArrayInfo)
        /// A struct of `size` bytes.
        case `struct`(size: UInt32, members: BTFMemberList)
        /// A union of `size` bytes.
        case union(size: UInt32, members: BTFMemberList)
        /// A 32-bit enum.
        case `enum`(size: UInt32, isSigned: Bool, values: BTFEnumeratorList)
        /// A forward declaration.
        case forward(isUnion: Bool)
        /// A typedef of the type with this id.
        case typedef(UInt32)
        /// `volatile` applied to the type with this id.
        case volatile(UInt32)
        /// `const` applied to the type with this id.
        case const(UInt32)
        /// `restrict` applied to the type with this id.
        case restrict(UInt32)
        /// A function whose prototype is `proto`.
        case function(proto: UInt32, linkage: BTFFunctionLinkage)
        /// A function prototype (`returnType` 0 = void; a last parameter with name 0 and type 0 means `...`).
        case functionProto(returnType: UInt32, params: BTFParamList)
        /// A variable of type `type`.
        case variable(type: UInt32, linkage: BTFVariableLinkage)
        /// A data section of `size` bytes.
        case dataSection(size: UInt32, variables: BTFDataSectionVariableList)
        /// A floating-point type of `size` bytes.
        case float(size: UInt32)
        /// A declaration tag on `target` (`componentIndex` -1: the type itself; else a member/param index).
        case declTag(target: UInt32, componentIndex: Int32)
        /// A type tag on the type with this id.
        case typeTag(UInt32)
        /// A 64-bit enum.
        case enum64(size: UInt32, isSigned: Bool, values: BTFEnumeratorList)
    }

    /// The type this one refers to directly, for pointers, typedefs, modifiers, tags, functions and
    /// variables; `nil` for the others.
    public var referencedType: UInt32? {
        switch payload {
        case .pointer(let t), .typedef(let t), .volatile(let t), .const(let t), .restrict(let t),
             .typeTag(let t):
            return t
        case .function(let proto, _): return proto
        case .variable(let type, _): return type
        case .declTag(let target, _): return target
        default: return nil
        }
    }

    /// The members of a struct or union, else `nil`.
    public var members: BTFMemberList? {
        switch payload {
        case .struct(_, let m), .union(_, let m): return m
        default: return nil
        }
    }

    /// The enumerators of an enum or enum64, else `nil`.
    public var enumerators: BTFEnumeratorList? {
        switch payload {
        case .enum(_, _, let v), .enum64(_, _, let v): return v
        default: return nil
        }
    }

    /// The byte size stored in the type itself (int, struct, union, enum, enum64, datasec, float), else
    /// `nil`. See ``TypeGraph/resolvedSize(of:)`` for the size through references.
    public var size: UInt32? {
        switch kind {
        case .int, .struct, .union, .enum, .enum64, .dataSection, .float: return sizeOrType
        default: return nil
        }
    }
}

/// The content of an INT type.
public struct BTFIntInfo: Sendable, Hashable {
    /// Size in bytes.
    public var size: UInt32
    /// Signed / char / bool bits.
    public var encoding: BTFIntEncoding
    /// Bit offset of the value inside the storage (bits 16-23).
    public var bitOffset: UInt8
    /// Number of value bits (bits 0-7).
    public var bits: UInt8

    /// Whether the integer is signed.
    public var isSigned: Bool { encoding.contains(.signed) }
}

/// The content of an ARRAY type.
public struct BTFArrayInfo: Sendable, Hashable {
    /// Element type id.
    public var elementType: UInt32
    /// Index type id.
    public var indexType: UInt32
    /// Number of elements (0 for a flexible array).
    public var count: UInt32
}

/// A struct or union member.
public struct BTFMember: Sendable, Hashable {
    /// Name offset (0 = anonymous member).
    public var nameOffset: UInt32
    /// Member type id.
    public var type: UInt32
    /// Offset of the member from the start of the struct, in bits.
    public var bitOffset: UInt32
    /// Size in bits of a bitfield member, 0 when not a bitfield (or when the struct has no kind_flag, in
    /// which case the bitfield size is carried by the member's INT type).
    public var bitfieldSize: UInt32
}

/// A function prototype parameter.
public struct BTFParam: Sendable, Hashable {
    /// Name offset (0 = unnamed).
    public var nameOffset: UInt32
    /// Parameter type id (0 with name 0 as the last parameter: variadic `...`).
    public var type: UInt32
}

/// An enumerator of an ENUM or ENUM64.
public struct BTFEnumerator: Sendable, Hashable {
    /// Name offset.
    public var nameOffset: UInt32
    /// The value as 64 bits: for 32-bit enums sign-extended when the enum is signed, zero-extended
    /// otherwise.
    public var rawValue: UInt64
    /// Whether the enum is signed (its kind_flag).
    public var isSigned: Bool

    /// The value read as a signed number.
    public var signedValue: Int64 { Int64(bitPattern: rawValue) }
}

/// A variable entry of a DATASEC.
public struct BTFDataSectionVariable: Sendable, Hashable {
    /// The VAR (or FUNC, for ksyms) type id.
    public var type: UInt32
    /// Offset of the variable in the section.
    public var offset: UInt32
    /// Size of the variable in bytes.
    public var size: UInt32
}

/// The members of a struct or union, decoded on access from the blob.
public struct BTFMemberList: RandomAccessCollection, Sendable {
    let view: ByteView
    let start: Int
    let bitfieldEncoding: Bool
    /// Number of members.
    public let count: Int

    init(view: ByteView, start: Int, count: Int, bitfieldEncoding: Bool) {
        self.view = view
        self.start = start
        self.count = count
        self.bitfieldEncoding = bitfieldEncoding
    }

    /// 0.
    public var startIndex: Int { 0 }
    /// `count`.
    public var endIndex: Int { count }

    /// The member at `index` (0 ..< count).
    public subscript(index: Int) -> BTFMember {
        precondition(index >= 0 && index < count, "member index out of range")
        let o = start + index * 12
        let packed = view.u32(unchecked: o + 8)
        if bitfieldEncoding {
            return BTFMember(nameOffset: view.u32(unchecked: o), type: view.u32(unchecked: o + 4),
                             bitOffset: packed & 0xFF_FFFF, bitfieldSize: packed >> 24)
        }
        return BTFMember(nameOffset: view.u32(unchecked: o), type: view.u32(unchecked: o + 4),
                         bitOffset: packed, bitfieldSize: 0)
    }
}

/// The parameters of a function prototype, decoded on access from the blob.
public struct BTFParamList: RandomAccessCollection, Sendable {
    let view: ByteView
    let start: Int
    /// Number of parameters.
    public let count: Int

    init(view: ByteView, start: Int, count: Int) {
        self.view = view
        self.start = start
        self.count = count
    }

    /// 0.
    public var startIndex: Int { 0 }
    /// `count`.
    public var endIndex: Int { count }

    /// The parameter at `index`.
    public subscript(index: Int) -> BTFParam {
        precondition(index >= 0 && index < count, "parameter index out of range")
        let o = start + index * 8
        return BTFParam(nameOffset: view.u32(unchecked: o), type: view.u32(unchecked: o + 4))
    }

    /// Whether the prototype ends with `...` (a last parameter with name 0 and type 0).
    public var isVariadic: Bool {
        guard let last else { return false }
        return last.nameOffset == 0 && last.type == 0
    }
}

/// The enumerators of an ENUM or ENUM64, decoded on access from the blob.
public struct BTFEnumeratorList: RandomAccessCollection, Sendable {
    let view: ByteView
    let start: Int
    /// Whether the values are 64-bit (ENUM64).
    public let is64Bit: Bool
    /// Whether the enum is signed.
    public let isSigned: Bool
    /// Number of enumerators.
    public let count: Int

    init(view: ByteView, start: Int, count: Int, is64Bit: Bool, isSigned: Bool) {
        self.view = view
        self.start = start
        self.count = count
        self.is64Bit = is64Bit
        self.isSigned = isSigned
    }

    /// 0.
    public var startIndex: Int { 0 }
    /// `count`.
    public var endIndex: Int { count }

    /// The enumerator at `index`.
    public subscript(index: Int) -> BTFEnumerator {
        precondition(index >= 0 && index < count, "enumerator index out of range")
        if is64Bit {
            let o = start + index * 12
            let value = UInt64(view.u32(unchecked: o + 8)) << 32 | UInt64(view.u32(unchecked: o + 4))
            return BTFEnumerator(nameOffset: view.u32(unchecked: o), rawValue: value, isSigned: isSigned)
        }
        let o = start + index * 8
        let raw = view.u32(unchecked: o + 4)
        let value = isSigned ? UInt64(bitPattern: Int64(Int32(bitPattern: raw))) : UInt64(raw)
        return BTFEnumerator(nameOffset: view.u32(unchecked: o), rawValue: value, isSigned: isSigned)
    }
}

/// The variables of a DATASEC, decoded on access from the blob.
public struct BTFDataSectionVariableList: RandomAccessCollection, Sendable {
    let view: ByteView
    let start: Int
    /// Number of variables.
    public let count: Int

    init(view: ByteView, start: Int, count: Int) {
        self.view = view
        self.start = start
        self.count = count
    }

    /// 0.
    public var startIndex: Int { 0 }
    /// `count`.
    public var endIndex: Int { count }

    /// The variable entry at `index`.
    public subscript(index: Int) -> BTFDataSectionVariable {
        precondition(index >= 0 && index < count, "variable index out of range")
        let o = start + index * 12
        return BTFDataSectionVariable(type: view.u32(unchecked: o), offset: view.u32(unchecked: o + 4),
                                      size: view.u32(unchecked: o + 8))
    }
}
