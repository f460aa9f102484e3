import BTF
import ByteParsing

/// A value for a global variable, checked against the variable's BTF type before it is written.
public enum VariableValue: Sendable, Hashable, CustomStringConvertible {
    /// An integer (or enum, or bool written as 0/1).
    case integer(Int128)
    /// A boolean.
    case bool(Bool)
    /// A string for a `char[N]` variable (must leave room for the NUL).
    case string(String)
    /// Raw bytes of exactly the variable's size.
    case bytes([UInt8])

    /// Parses command-line text: `true`/`false`, a decimal or `0x` hex integer, a `"quoted"` string, or
    /// other text as a string.
    public init(parsing text: String) {
        if text == "true" { self = .bool(true); return }
        if text == "false" { self = .bool(false); return }
        let negative = text.hasPrefix("-")
        let digits = negative ? text.dropFirst() : Substring(text)
        let parsed = digits.hasPrefix("0x") ? Int128(digits.dropFirst(2), radix: 16) : Int128(digits, radix: 10)
        if let parsed { self = .integer(negative ? -parsed : parsed); return }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
            self = .string(String(text.dropFirst().dropLast()))
            return
        }
        self = .string(text)
    }

    /// The value as the user would write it.
    public var description: String {
        switch self {
        case .integer(let value): "\(value)"
        case .bool(let value): "\(value)"
        case .string(let value): "\"\(value)\""
        case .bytes(let value): value.map { String($0, radix: 16) }.joined(separator: " ")
        }
    }
}

extension ObjectSpec {
    /// The variable named `name`.
    public func variable(named name: String) -> VariableSpec? { variables.first { $0.name == name } }

    /// Writes `value` into the initial image of the variable `name` (a `const volatile` knob in
    /// `.rodata`, or `.data` / `.bss` state), after checking it against the variable's BTF type:
    /// integers must fit the type's size and signedness, strings must fit a `char[N]` with its NUL.
    public mutating func setVariable(_ name: String, to value: VariableValue) throws(ObjectError) {
        guard let variable = variable(named: name) else {
            let known = variables.map(\.name).joined(separator: ", ")
            throw ObjectError(.variable, "no global variable '\(name)' (variables: \(known.isEmpty ? "none" : known))")
        }
        guard let mapIndex = maps.firstIndex(where: { $0.origin == .globalData(section: variable.section) }),
              var image = maps[mapIndex].initialValue else {
            throw ObjectError(.variable, "variable '\(name)': its section '\(variable.section)' has no data map")
        }
        let encoded = try encode(value, for: variable)
        let start = Int(variable.offset)
        image.replaceSubrange(start..<(start + encoded.count), with: encoded)
        maps[mapIndex].initialValue = image
    }

    /// Encodes `value` in the object's byte order as the variable's type requires.
    func encode(_ value: VariableValue, for variable: VariableSpec) throws(ObjectError) -> [UInt8] {
        let size = Int(variable.size)
        let at = "variable '\(variable.name)'"
        let shape = try VariableShape(variable, btf: btf)
        switch (value, shape) {
        case (.bytes(let bytes), _):
            guard bytes.count == size else { throw ObjectError(.variable, "\(at) is \(size) bytes; \(bytes.count) given") }
            return bytes
        case (.bool(let flag), .bool), (.bool(let flag), .integer):
            return integerBytes(flag ? 1 : 0, size: size)
        case (.integer(let number), .integer(let signed)), (.integer(let number), .bool(let signed)):
            let bits = size * 8
            let minimum: Int128 = signed ? -(Int128(1) << (bits - 1)) : 0
            let maximum: Int128 = signed ? (Int128(1) << (bits - 1)) - 1 : (Int128(1) << bits) - 1
            guard number >= minimum, number <= maximum else {
                throw ObjectError(.variable, "\(at) is a \(signed ? "signed" : "unsigned") \(bits)-bit integer; \(number) does not fit")
            }
            return integerBytes(number, size: size)
        case (.string(let text), .characters):
            let bytes = Array(text.utf8)
            guard bytes.count < size else {
                throw ObjectError(.variable, "\(at) is char[\(size)]; \"\(text)\" needs \(bytes.count + 1) bytes with its NUL")
            }
            return bytes + [UInt8](repeating: 0, count: size - bytes.count)
        case (_, .other(let kind)):
            throw ObjectError(.variable, "\(at) has type \(kind); only integers, bools, enums and char arrays can be set (or give raw bytes)")
        default:
            throw ObjectError(.variable, "\(at) cannot hold \(value)")
        }
    }

    func integerBytes(_ value: Int128, size: Int) -> [UInt8] {
        let bits = UInt128(bitPattern: value)
        let little = (0..<size).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt128($0))) }
        return byteOrder == .little ? little : little.reversed()
    }
}

/// What a variable's BTF type accepts.
enum VariableShape {
    case integer(signed: Bool)
    case bool(signed: Bool)
    case characters
    case other(String)

    init(_ variable: VariableSpec, btf: TypeGraph?) throws(ObjectError) {
        guard let btf, variable.typeID != 0 else {
            // Without BTF only the size is known: accept integers of that size.
            self = [1, 2, 4, 8].contains(variable.size) ? .integer(signed: false) : .other("unknown (no BTF)")
            return
        }
        do {
            let type = try btf.type(try btf.skipModifiersAndTypedefs(variable.typeID))
            switch type.payload {
            case .int(let info):
                self = info.encoding.contains(.bool) ? .bool(signed: false) : .integer(signed: info.isSigned)
            case .enum(_, let signed, _), .enum64(_, let signed, _):
                self = .integer(signed: signed)
            case .array(let info):
                let element = try btf.type(try btf.skipModifiersAndTypedefs(info.elementType))
                if case .int(let elementInfo) = element.payload, elementInfo.size == 1 {
                    self = .characters
                } else {
                    self = .other("array")
                }
            default:
                self = .other(type.kind.description)
            }
        } catch {
            throw ObjectError(.btf, "variable '\(variable.name)': its BTF type is malformed", cause: error)
        }
    }
}
