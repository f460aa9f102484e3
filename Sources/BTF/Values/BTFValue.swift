/// A value read from raw bytes (a map key or value, a ring buffer record, a data section) through its BTF
/// type: what `bpftool map dump` prints, as a tree the caller can render (``text``, ``fieldsLine``,
/// ``json``) or inspect.
///
/// Built by ``TypeGraph/decode(_:as:byteOrder:limits:)``. Typedefs, `const`, `volatile`, `restrict` and
/// type tags leave no trace: a value has the shape of the type they name.
public indirect enum BTFValue: Sendable, Hashable {
    /// A signed integer (a signed INT, including signed bitfields, sign-extended to 64 bits).
    case int(Int64)
    /// An unsigned integer (an INT without the signed encoding, or a bitfield of one).
    case uint(UInt64)
    /// An integer wider than 64 bits (`__int128`, `unsigned __int128`, or a bitfield of one wider than
    /// 64 bits): its 128-bit two's-complement pattern as two words. Rendered as hexadecimal
    /// (`0x1` … `0xffffffffffffffffffffffffffffffff`) as bpftool does, whatever the signedness.
    case int128(high: UInt64, low: UInt64)
    /// A `_Bool` (an INT with the bool encoding holding 0 or 1; other contents give ``uint(_:)``).
    case bool(Bool)
    /// A single `char` (an INT of one byte with the char encoding or named `char`), as its byte.
    case char(UInt8)
    /// A `double` (or any 8-byte FLOAT).
    case float(Double)
    /// A `float` (a 4-byte FLOAT) or a `_Float16` (2 bytes, widened exactly).
    case float32(Float)
    /// A `char` array holding text: the bytes before the first NUL (or all of them when there is no NUL),
    /// printable UTF-8, with only zero bytes after the NUL. Other `char` arrays decode as numbers.
    case string(String)
    /// An ENUM or ENUM64 value equal to one of its enumerators. `value` is the enumerator's value as a
    /// signed 64-bit number (an unsigned ENUM64 value above `Int64.max` shows as its bit pattern). A value
    /// that matches no enumerator decodes as ``int(_:)`` (signed enum) or ``uint(_:)`` (unsigned).
    case enumerator(name: String, value: Int64)
    /// A pointer: the address it holds (meaningless outside the kernel or process that wrote it).
    case pointer(UInt64)
    /// An array's elements in order. When the array has more elements than
    /// ``BTFValueLimits/maximumArrayElements``, the decoded prefix ends with one ``elided(count:)``.
    case array([BTFValue])
    /// A struct, or a DATASEC decoded as the structure of its variables: its named members in order.
    /// An anonymous struct or union member keeps its empty name (``text`` and ``json`` lift its members
    /// into the parent, as C lets them be used); anonymous padding bitfields are left out.
    case structure([BTFField])
    /// A union: every member read from the same bytes, in declaration order.
    case union([BTFField])
    /// Bytes whose type cannot be given a value here: floats other than 2, 4 or 8 bytes (`long double`),
    /// integers wider than 16 bytes, enums of unusual sizes. Rendered as hexadecimal.
    case bytes([UInt8])
    /// Marks where an array was cut: `count` further elements were not decoded.
    case elided(count: Int)

    /// The value of the member named `name` of a structure or union (anonymous members searched too),
    /// else `nil`.
    public subscript(field name: String) -> BTFValue? {
        switch self {
        case .structure(let fields), .union(let fields):
            for field in fields where field.name == name { return field.value }
            for field in fields where field.name.isEmpty {
                if let value = field.value[field: name] { return value }
            }
            return nil
        default:
            return nil
        }
    }
}

/// A named member of a ``BTFValue/structure(_:)`` or ``BTFValue/union(_:)``: a struct member, a union
/// member or a DATASEC variable.
public struct BTFField: Sendable, Hashable {
    /// The member or variable name; empty for an anonymous struct or union member.
    public var name: String
    /// Its value.
    public var value: BTFValue

    /// Creates a field.
    public init(name: String, value: BTFValue) {
        self.name = name
        self.value = value
    }
}

/// Bounds on one decode, so that a hostile or unexpected type cannot produce unbounded output: BTF lets a
/// small byte buffer be read through a type that nests deeply, repeats members at the same offset or
/// holds arrays of zero-sized elements.
public struct BTFValueLimits: Sendable, Hashable {
    /// How deep structures, unions, arrays and data sections may nest (a deeper type is a loop, such as a
    /// struct that contains itself). Default 32; values above ``depthCeiling`` count as that ceiling, so
    /// that decoding recursion stays well within a thread's stack.
    public var maximumDepth: Int
    /// Elements decoded per array; the rest are summarized by one ``BTFValue/elided(count:)``. Text
    /// arrays (``BTFValue/string(_:)``) are not cut. Default 4096.
    public var maximumArrayElements: Int
    /// The most values one decode may produce, counting every node of the tree plus one per 16 bytes of
    /// text or raw bytes. Default 1 << 20.
    public var maximumValues: Int

    /// The highest nesting depth a decode follows, whatever ``maximumDepth`` says: 256.
    public static let depthCeiling = 256

    /// Creates limits (the defaults suit map dumps and ring buffer records).
    public init(maximumDepth: Int = 32, maximumArrayElements: Int = 4096, maximumValues: Int = 1 << 20) {
        self.maximumDepth = maximumDepth
        self.maximumArrayElements = maximumArrayElements
        self.maximumValues = maximumValues
    }
}

/// Bytes could not be decoded through a BTF type.
///
/// Errors name the type id concerned and, when it comes from the bytes, the offset in them (from the
/// first byte of the decoded value).
public struct BTFValueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Equatable, Hashable {
        /// The bytes end before the type (or a member, element or variable of it) does.
        case valueTooShort
        /// The type has no size, so bytes cannot be read as it: `void`, a function, a function prototype,
        /// a forward declaration, a declaration tag.
        case unsizedType
        /// Structures, unions and arrays nest deeper than ``BTFValueLimits/maximumDepth`` (a type that
        /// contains itself).
        case nestingTooDeep
        /// The decode would produce more than ``BTFValueLimits/maximumValues`` values.
        case tooManyValues
        /// A layout BTF allows to express but C cannot produce: a struct, array or pointer at a bit offset
        /// that is not a multiple of 8, a bitfield of a non-integer type, an integer with more value bits
        /// than its size holds.
        case badLayout
        /// A query on the type graph failed (a bad type id, a modifier loop); the graph's error code.
        case graph(BTFError.Code)
    }

    /// What went wrong.
    public var code: Code
    /// One human sentence describing the problem, with the values read.
    public var message: String
    /// The type id concerned, if any.
    public var typeID: UInt32?
    /// The offset in the decoded bytes where the problem lies, if any.
    public var byteOffset: Int?

    /// Creates an error.
    public init(_ code: Code, _ message: String, typeID: UInt32? = nil, byteOffset: Int? = nil) {
        self.code = code
        self.message = message
        self.typeID = typeID
        self.byteOffset = byteOffset
    }

    /// The error of a failed type graph query.
    public init(_ error: BTFError) {
        self.init(.graph(error.code), error.message, typeID: error.typeID)
    }

    /// `BTF value: 12 bytes are too short for type 5 of 16 bytes (type id 5, at value byte 0)`.
    public var description: String {
        var text = "BTF value: " + message
        var details: [String] = []
        if let typeID { details.append("type id \(typeID)") }
        if let byteOffset { details.append("at value byte \(byteOffset)") }
        if !details.isEmpty { text += " (" + details.joined(separator: ", ") + ")" }
        return text
    }
}
