/// Bytes as lower-case hexadecimal, two digits per byte (`de ad` → `dead`): program tags, records shown
/// as hex, bytes inside rendered values.
public enum Hex {
    /// `bytes` as lower-case hexadecimal.
    public static func lowercase(_ bytes: UnsafeRawBufferPointer) -> String {
        // Straight into the string's UTF-8 storage: no array of parts, no per-byte String.
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for index in 0..<bytes.count {
                out[2 * index] = digit(bytes[index] >> 4)
                out[2 * index + 1] = digit(bytes[index] & 0xF)
            }
            return bytes.count * 2
        }
    }

    /// `bytes` as lower-case hexadecimal.
    public static func lowercase(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { lowercase($0) }
    }

    /// The ASCII digit of a value below 16.
    private static func digit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
