// Text made of ASCII syntax (section names, attach specs, command-line options) searched on its UTF-8
// bytes.
//
// Why: `firstIndex(of: "/")`, `dropFirst()`, `count` and friends on a String or Substring walk Characters,
// which runs the standard library's grapheme-breaking code for every step. The separators these parsers
// look for are single ASCII bytes, which never occur inside a multi-byte character, so the byte search
// finds the same index. It also keeps the command's start from touching that code at all (each 64 KB of
// it is a page fault; see scripts/build-release).

/// A decimal number as text, without the standard library's generic integer formatting.
public enum DecimalText {
    /// `value` in decimal digits (`268737` → "268737").
    public static func string(_ value: UInt64) -> String {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return String(unsafeUninitializedCapacity: digits) { out in
            var remaining = value
            for position in stride(from: digits - 1, through: 0, by: -1) {
                out[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
            }
            return digits
        }
    }
}

extension StringProtocol {
    /// The index of the first `byte` (an ASCII character) in the text, or nil.
    @inlinable
    public func firstIndex(ofASCII byte: UInt8) -> Index? {
        utf8.firstIndex(of: byte)
    }

    /// The index of the last `byte` (an ASCII character) in the text, or nil.
    @inlinable
    public func lastIndex(ofASCII byte: UInt8) -> Index? {
        // StringProtocol's UTF-8 view is only a Collection: scan forwards.
        var found: Index?
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == byte { found = index }
            index = utf8.index(after: index)
        }
        return found
    }

    /// Whether the text starts with `prefix`, compared byte for byte (`hasPrefix` also checks that the
    /// prefix ends on a grapheme boundary, which an ASCII prefix of ASCII syntax always does).
    @inlinable
    public func hasASCIIPrefix(_ prefix: String) -> Bool {
        utf8.starts(with: prefix.utf8)
    }

    /// The text after the ASCII character at `index` (`"a/b"`, index of `/` → `"b"`).
    @inlinable
    public func suffix(afterASCII index: Index) -> SubSequence {
        self[utf8.index(after: index)...]
    }

    /// The text without its first `count` bytes, which must be ASCII (a known prefix).
    @inlinable
    public func dropFirst(asciiCount count: Int) -> SubSequence {
        self[utf8.index(startIndex, offsetBy: count)...]
    }
}
