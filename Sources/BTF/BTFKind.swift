/// The kind of a BTF type, as numbered in the `info` word (bits 24-28).
public enum BTFKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Type id 0: `void`. Never appears in the type section.
    case void = 0
    /// An integer (with encoding, bit offset and bit count).
    case int = 1
    /// A pointer.
    case pointer = 2
    /// An array (element type, index type, element count).
    case array = 3
    /// A struct with members.
    case `struct` = 4
    /// A union with members.
    case union = 5
    /// A 32-bit enum.
    case `enum` = 6
    /// A forward declaration of a struct or union.
    case forward = 7
    /// A typedef.
    case typedef = 8
    /// The `volatile` modifier.
    case volatile = 9
    /// The `const` modifier.
    case const = 10
    /// The `restrict` modifier.
    case restrict = 11
    /// A function (its `vlen` is the linkage).
    case function = 12
    /// A function prototype with parameters.
    case functionProto = 13
    /// A variable (with linkage).
    case variable = 14
    /// A data section listing variables.
    case dataSection = 15
    /// A floating-point type.
    case float = 16
    /// A declaration tag attached to a type or one of its members/parameters.
    case declTag = 17
    /// A type tag (a modifier carrying a string, e.g. `__user`).
    case typeTag = 18
    /// A 64-bit enum.
    case enum64 = 19

    /// The name bpftool prints: `INT`, `FUNC_PROTO`, …; `UNKNOWN` for void.
    public var description: String { Self.names[Int(rawValue)].description }

    /// bpftool's kind names indexed by raw kind; static strings so the dumps copy them without a `String`.
    static let names: [StaticString] = [
        "UNKNOWN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST",
        "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64",
    ]

    /// Whether the kind is a modifier that `skipModifiers` looks through: const, volatile, restrict,
    /// type tag.
    public var isModifier: Bool {
        switch self {
        case .const, .volatile, .restrict, .typeTag: return true
        default: return false
        }
    }

    /// Whether the kind is `enum` or `enum64` (CO-RE treats them as compatible).
    public var isEnum: Bool { self == .enum || self == .enum64 }

    /// Whether the kind is `struct` or `union`.
    public var isComposite: Bool { self == .struct || self == .union }
}

/// How an integer's bits are interpreted (bits 24-27 of an INT's extra word).
public struct BTFIntEncoding: OptionSet, Sendable, Hashable {
    /// The raw encoding bits.
    public let rawValue: UInt8
    /// Creates the set from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Signed integer.
    public static let signed = BTFIntEncoding(rawValue: 1)
    /// A character type.
    public static let char = BTFIntEncoding(rawValue: 2)
    /// A boolean.
    public static let bool = BTFIntEncoding(rawValue: 4)
}

/// Linkage of a FUNC (stored in its `vlen`).
public enum BTFFunctionLinkage: Sendable, Hashable, CustomStringConvertible {
    /// `static` (0).
    case `static`
    /// `global` (1).
    case global
    /// `extern` (2).
    case external
    /// A value this decoder does not know.
    case unknown(UInt16)

    /// Decodes the raw value.
    public init(rawValue: UInt16) {
        switch rawValue {
        case 0: self = .static
        case 1: self = .global
        case 2: self = .external
        default: self = .unknown(rawValue)
        }
    }

    /// The raw value.
    public var rawValue: UInt16 {
        switch self {
        case .static: 0
        case .global: 1
        case .external: 2
        case .unknown(let v): v
        }
    }

    /// `static`, `global`, `extern` or `(unknown)` as bpftool prints them.
    public var description: String {
        switch self {
        case .static: "static"
        case .global: "global"
        case .external: "extern"
        case .unknown: "(unknown)"
        }
    }
}

/// Linkage of a VAR.
public enum BTFVariableLinkage: Sendable, Hashable, CustomStringConvertible {
    /// `static` (0).
    case `static`
    /// `global` (1, allocated here).
    case global
    /// `extern` (2).
    case external
    /// A value this decoder does not know.
    case unknown(UInt32)

    /// Decodes the raw value.
    public init(rawValue: UInt32) {
        switch rawValue {
        case 0: self = .static
        case 1: self = .global
        case 2: self = .external
        default: self = .unknown(rawValue)
        }
    }

    /// The raw value.
    public var rawValue: UInt32 {
        switch self {
        case .static: 0
        case .global: 1
        case .external: 2
        case .unknown(let v): v
        }
    }

    /// `static`, `global`, `extern` or `(unknown)` as bpftool prints them.
    public var description: String {
        switch self {
        case .static: "static"
        case .global: "global"
        case .external: "extern"
        case .unknown: "(unknown)"
        }
    }
}
