import BPFObject
import ByteParsing
#if canImport(Glibc)
import Glibc
#endif

/// Facts about the running kernel that `__kconfig` externs read: its release, `LINUX_KERNEL_VERSION`, and
/// its configuration from `/proc/config.gz` or `/boot/config-$(uname -r)`.
public enum RunningKernel {
    /// `uname -r`, e.g. `6.18.0-1-amd64`.
    public static let release: String? = {
        var name = utsname()
        guard uname(&name) == 0 else { return nil }
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }()

    /// `KERNEL_VERSION(major, minor, patch)` of the release (patch capped at 255, as libbpf does).
    public static var version: UInt32? { release.flatMap(kernelVersion) }

    /// `KERNEL_VERSION(a, b, c)` of a release string like `6.18.0-1-amd64`.
    public static func kernelVersion(_ release: String) -> UInt32? {
        // The first three runs of digits ("6.18.44-fc" → 6, 18, 44), a run too large for UInt32 left
        // out. Split on bytes: Character.isNumber loads Unicode tables, and releases are ASCII.
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let numbers = release.utf8.split(whereSeparator: { !isDigit($0) }).prefix(3).compactMap { UInt32(Substring($0)) }
        guard numbers.count >= 2, numbers[0] < 256, numbers[1] < 256 else { return nil }
        let patch = numbers.count > 2 ? min(numbers[2], 255) : 0
        return numbers[0] << 16 | numbers[1] << 8 | patch
    }

    private static let configResult: Result<KernelConfig, ConfigUnavailable> = {
        let paths = ["/proc/config.gz"] + (release.map { ["/boot/config-" + $0] } ?? [])
        var tried: [String] = []
        for path in paths {
            do { return .success(try KernelConfig(contentsOf: path)) } catch { tried.append("\(error)") }
        }
        return .failure(ConfigUnavailable(tried: tried))
    }()

    /// The running kernel's configuration, read once per process.
    /// - Throws: ``ConfigUnavailable`` naming the files tried.
    public static func config() throws(ConfigUnavailable) -> KernelConfig { try configResult.get() }

    /// No kernel configuration could be read.
    public struct ConfigUnavailable: Error, Sendable, CustomStringConvertible {
        /// Each file looked at, with why it could not be used.
        public var tried: [String]
        /// One line.
        public var description: String {
            "no kernel configuration found (\(tried.joined(separator: "; "))); the kernel needs CONFIG_IKCONFIG_PROC, or pass --kconfig FILE"
        }
    }
}

extension RunningKernel {
    /// Addresses of the kernel symbols named in `names`, from `/proc/kallsyms` (zero addresses, shown to
    /// unprivileged readers, count as unknown). Typeless `__ksym` externs resolve through this.
    public static func symbolAddresses(_ names: Set<String>) -> [String: UInt64] {
        guard !names.isEmpty, let storage = try? ByteStorage(contentsOf: "/proc/kallsyms") else { return [:] }
        let view = storage.view(order: .little)
        guard let bytes = view.bytes(0, view.count) else { return [:] }
        return parseSymbolAddresses(bytes, names)
    }

    /// `ADDRESS TYPE NAME [MODULE]` lines; the first address of each wanted name wins, as libbpf keeps it.
    static func parseSymbolAddresses(_ bytes: [UInt8], _ names: Set<String>) -> [String: UInt64] {
        // kallsyms has ~200,000 lines: names are compared as bytes, and only a name of a wanted length
        // becomes a String.
        let lengths = Set(names.map(\.utf8.count))
        var found: [String: UInt64] = [:]
        forEachSymbol(in: bytes) { address, name in
            guard lengths.contains(name.count) else { return true }
            let text = String(decoding: name, as: UTF8.self)
            guard names.contains(text), found[text] == nil,
                  let value = UInt64(String(decoding: address, as: UTF8.self), radix: 16), value != 0 else { return true }
            found[text] = value
            return found.count < names.count
        }
        return found
    }

    /// Calls `body` with the address and name bytes of each `ADDRESS TYPE NAME[\tMODULE]` line of a
    /// kallsyms text, until it returns false.
    static func forEachSymbol(in bytes: [UInt8], _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Bool) {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
            guard fields.count == 3 else { continue }
            let name = fields[2].prefix { $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: " ") }
            if !body(fields[0], name) { return }
        }
    }
}
