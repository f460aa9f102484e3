#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Output helpers over the shared ``DumpWriter``: names with their suffixes, indentation.
extension CHeaderEmitter {
    /// Writes a name; a suffixed name is cut at 255 bytes as libbpf's fixed buffer cuts it.
    mutating func write(_ name: CName) {
        guard let pointer = name.pointer, name.length > 0 else { return }
        if name.suffix == 0 {
            writer.bytes(pointer, name.length)
            return
        }
        let digits = Self.decimalLength(UInt64(name.suffix))
        if name.length + 3 + digits <= 255 {
            writer.bytes(pointer, name.length)
            writer.literal("___")
            writer.decimal(name.suffix)
            return
        }
        var spelled = [UInt8](UnsafeRawBufferPointer(start: pointer, count: name.length))
        spelled += [0x5F, 0x5F, 0x5F]
        spelled += Array(String(name.suffix).utf8)
        spelled.withUnsafeBytes { writer.bytes($0.baseAddress!, min(255, $0.count)) }
    }

    /// Writes `count` tabs (at most 13, libbpf's deepest indent).
    @inline(__always)
    mutating func indent(_ level: Int) {
        let n = min(level, 13)
        if n > 0 { writer.literal("\t\t\t\t\t\t\t\t\t\t\t\t\t", prefix: n) }
    }

    /// Number of decimal digits of `value`.
    @inline(__always)
    static func decimalLength(_ value: UInt64) -> Int {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        return digits
    }
}

extension DumpWriter {
    /// The first `prefix` bytes of a literal.
    @inline(__always)
    mutating func literal(_ text: StaticString, prefix: Int) {
        let n = min(prefix, text.utf8CodeUnitCount)
        reserve(n)
        memcpy(buffer + count, text.utf8Start, n)
        count += n
    }
}
