import ByteParsing

extension BTFValue: CustomStringConvertible {
    /// The value for people, in one line: numbers in decimal, `true`/`false`, chars as `'a'`, text
    /// quoted with C escapes (`"bash"`), enumerators by name, pointers and 128-bit integers in hexadecimal
    /// (`0x7ffd1234`), arrays as `[1, 2, 3]` (a cut array ends with `... (N more)`), structures and unions
    /// as `{pid=1234, comm="true"}` (members of anonymous structs and unions inline), raw bytes as
    /// `<deadbeef>`.
    public var text: String {
        var out = ""
        writeText(into: &out)
        return out
    }

    /// A top-level structure or union as space-separated `name=value` pairs, the form for one event per
    /// line: `pid=1234 ppid=1 comm="true"`. Nested values use ``text``. Other values give ``text``.
    public var fieldsLine: String {
        switch self {
        case .structure(let fields), .union(let fields):
            var out = ""
            var first = true
            Self.writeTextFields(fields, separator: " ", first: &first, into: &out)
            return out
        default:
            return text
        }
    }

    /// The value as compact JSON: numbers (pointers too, as bpftool prints them), `true`/`false`,
    /// strings for text, single chars (`"a"`) and enumerators (their name), arrays, objects for structures
    /// and unions (members of anonymous structs and unions lifted into the parent object). Values JSON
    /// numbers cannot carry are strings: 128-bit integers as `"0x…"` hexadecimal, raw bytes as
    /// `"deadbeef"`, non-finite floats as `"inf"`, `"-inf"`, `"nan"`, and a cut array's marker as
    /// `"... (N more)"`.
    public var json: String {
        var out = ""
        writeJSON(into: &out)
        return out
    }

    /// ``text``.
    public var description: String { text }

    // MARK: - Text

    func writeText(into out: inout String) {
        switch self {
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .int128(let high, let low): out += Self.hex128(high, low)
        case .bool(let v): out += v ? "true" : "false"
        case .char(let c): Self.writeCharLiteral(c, into: &out)
        case .float(let v): out += v.description
        case .float32(let v): out += v.description
        case .string(let s): Self.writeCString(s, into: &out)
        case .enumerator(let name, let value): out += name.isEmpty ? String(value) : name
        case .pointer(let v): out += "0x" + String(v, radix: 16)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += ", " }
                element.writeText(into: &out)
            }
            out += "]"
        case .structure(let fields), .union(let fields):
            out += "{"
            var first = true
            Self.writeTextFields(fields, separator: ", ", first: &first, into: &out)
            out += "}"
        case .bytes(let bytes):
            out += "<"
            Self.writeHex(bytes, into: &out)
            out += ">"
        case .elided(let count): out += "... (\(count) more)"
        }
    }

    static func writeTextFields(_ fields: [BTFField], separator: String, first: inout Bool,
                                into out: inout String) {
        for field in fields {
            if field.name.isEmpty, case .structure(let inner) = field.value {
                writeTextFields(inner, separator: separator, first: &first, into: &out)
                continue
            }
            if field.name.isEmpty, case .union(let inner) = field.value {
                writeTextFields(inner, separator: separator, first: &first, into: &out)
                continue
            }
            if !first { out += separator }
            first = false
            out += field.name
            out += "="
            field.value.writeText(into: &out)
        }
    }

    static func writeCharLiteral(_ c: UInt8, into out: inout String) {
        out += "'"
        switch c {
        case 0x27: out += "\\'"
        case 0x5C: out += "\\\\"
        case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(c))
        default: writeCEscape(c, into: &out)
        }
        out += "'"
    }

    static func writeCString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0..<0x20, 0x7F: writeCEscape(UInt8(scalar.value), into: &out)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    static func writeCEscape(_ c: UInt8, into out: inout String) {
        switch c {
        case 0: out += "\\0"
        case 0x09: out += "\\t"
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        default:
            out += "\\x"
            writeHex([c], into: &out)
        }
    }

    // MARK: - JSON

    func writeJSON(into out: inout String) {
        switch self {
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .int128(let high, let low): out += "\"" + Self.hex128(high, low) + "\""
        case .bool(let v): out += v ? "true" : "false"
        case .char(let c):
            out += "\""
            Self.writeJSONScalar(Unicode.Scalar(c), into: &out)
            out += "\""
        case .float(let v): Self.writeJSONNumber(v, into: &out)
        case .float32(let v):
            if v.isFinite { out += v.description } else { Self.writeJSONNumber(Double(v), into: &out) }
        case .string(let s): Self.writeJSONString(s, into: &out)
        case .enumerator(let name, let value):
            if name.isEmpty { out += String(value) } else { Self.writeJSONString(name, into: &out) }
        case .pointer(let v): out += String(v)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.writeJSON(into: &out)
            }
            out += "]"
        case .structure(let fields), .union(let fields):
            out += "{"
            var first = true
            Self.writeJSONFields(fields, first: &first, into: &out)
            out += "}"
        case .bytes(let bytes):
            out += "\""
            Self.writeHex(bytes, into: &out)
            out += "\""
        case .elided(let count): out += "\"... (\(count) more)\""
        }
    }

    static func writeJSONFields(_ fields: [BTFField], first: inout Bool, into out: inout String) {
        for field in fields {
            if field.name.isEmpty, case .structure(let inner) = field.value {
                writeJSONFields(inner, first: &first, into: &out)
                continue
            }
            if field.name.isEmpty, case .union(let inner) = field.value {
                writeJSONFields(inner, first: &first, into: &out)
                continue
            }
            if !first { out += "," }
            first = false
            writeJSONString(field.name, into: &out)
            out += ":"
            field.value.writeJSON(into: &out)
        }
    }

    /// A finite double as a JSON number (Swift's shortest form, `1.5`, `1e-05`, is JSON's grammar); the
    /// others as strings.
    static func writeJSONNumber(_ v: Double, into out: inout String) {
        if v.isFinite {
            out += v.description
        } else if v.isNaN {
            out += "\"nan\""
        } else {
            out += v < 0 ? "\"-inf\"" : "\"inf\""
        }
    }

    static func writeJSONString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars { writeJSONScalar(scalar, into: &out) }
        out += "\""
    }

    /// One scalar inside a JSON string: quotes, backslashes and control characters escaped, and C1
    /// controls and DEL as `\u00XX` too so the output stays printable.
    static func writeJSONScalar(_ scalar: Unicode.Scalar, into out: inout String) {
        switch scalar.value {
        case 0x22: out += "\\\""
        case 0x5C: out += "\\\\"
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x08: out += "\\b"
        case 0x0C: out += "\\f"
        case 0..<0x20, 0x7F...0x9F:
            out += "\\u00"
            writeHex([UInt8(scalar.value)], into: &out)
        default:
            out.unicodeScalars.append(scalar)
        }
    }

    // MARK: - Hexadecimal

    static func writeHex(_ bytes: [UInt8], into out: inout String) {
        out += Hex.lowercase(bytes)
    }

    /// `0x` and the 128-bit number in hexadecimal without leading zeros (bpftool's form).
    static func hex128(_ high: UInt64, _ low: UInt64) -> String {
        guard high != 0 else { return "0x" + String(low, radix: 16) }
        let lowDigits = String(low, radix: 16)
        return "0x" + String(high, radix: 16) + String(repeating: "0", count: 16 - lowDigits.count) + lowDigits
    }
}
