#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Buffered standard output: commands print many lines (a vmlinux dump is millions), so writes are
/// collected and flushed in large blocks instead of one `print` per line.
struct StandardOutput: ~Copyable {
    private var buffer: [UInt8] = []
    private let limit = 1 << 16

    init() { buffer.reserveCapacity(limit + 4096) }

    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= limit { flush() }
    }

    mutating func line(_ text: String) {
        write(text)
        buffer.append(0x0a)
    }

    mutating func write(bytes: UnsafeRawBufferPointer) {
        if buffer.count + bytes.count > limit { flush() }
        if bytes.count >= limit { Self.writeAll(bytes); return }
        buffer.append(contentsOf: bytes)
    }

    mutating func flush() {
        _ = buffer.withUnsafeBytes { Self.writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes all of `bytes` to stdout (retrying interrupted writes); false when stdout refused them
    /// (EPIPE after `| head`), which callers that buffer ignore quietly.
    @discardableResult
    static func writeAll(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    deinit { _ = buffer.withUnsafeBytes { Self.writeAll($0) } }
}

/// Prints an error as swift-load reports every failure: `swift-load: <one line>` on stderr, then details.
func reportError(_ message: String, details: [String] = []) {
    var text = "swift-load: " + message + "\n"
    for detail in details { text += "  " + detail + "\n" }
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}
