import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The CPUs the kernel could ever bring online (`/sys/devices/system/cpu/possible`), read once per process.
///
/// Per-CPU maps hand user space one value per possible CPU, and a perf event array needs one slot per
/// possible CPU index; both follow this list, not the CPUs online now.
public enum PossibleCPUs {
    /// Where the kernel publishes the possible-CPU mask, as a list of ranges (`0-3,5`).
    public static let path = "/sys/devices/system/cpu/possible"

    /// The most CPUs a mask may list: far above any `NR_CPUS`, and a bound on what a bad file can allocate.
    public static let limit = 1 << 16

    private static let cached: Result<[Int], BPFError> = {
        guard let bytes = readSmallFile(path) else {
            return .failure(BPFError(.unsupported, "cannot read \(path): the number of possible CPUs is unknown"))
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let cpus = parse(text) else {
            let shown = text.trimmingTrailingNewlines
            return .failure(BPFError(.kernel, "\(path): malformed CPU list \"\(shown)\""))
        }
        return .success(cpus)
    }()

    /// The possible CPU numbers, ascending.
    /// - Throws: ``BPFError`` when the file is missing or malformed.
    public static func cpus() throws(BPFError) -> [Int] { try cached.get() }

    /// How many CPUs are possible: the number of values a per-CPU map returns for one key.
    /// - Throws: ``BPFError`` when the file is missing or malformed.
    public static func count() throws(BPFError) -> Int { try cached.get().count }

    /// One more than the highest possible CPU number: the slots a perf event array needs to be indexed by
    /// CPU number (equal to ``count()`` unless the mask has holes).
    /// - Throws: ``BPFError`` when the file is missing or malformed.
    public static func indexLimit() throws(BPFError) -> Int { (try cached.get().last ?? 0) + 1 }

    /// Parses a kernel CPU list such as `0-3,5\n`: comma-separated numbers and inclusive ranges, ascending
    /// and not overlapping. Returns nil for anything else, an empty list, or more than ``limit`` CPUs.
    public static func parse(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        let body = text.trimmingTrailingNewlines
        guard !body.isEmpty else { return nil }
        for part in body.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let low = decimal(bounds[0]) else { return nil }
            let high = bounds.count == 2 ? decimal(bounds[1]) : low
            guard let high, low <= high, high < limit, (cpus.last ?? -1) < low else { return nil }
            cpus.append(contentsOf: low...high)
        }
        return cpus
    }

    /// A non-negative decimal of at most 7 digits (no sign, no spaces).
    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 7, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }

    /// The first 4 KiB of a small kernel file (sysfs reports sizes that are not the content's, so this
    /// reads until end of file instead of trusting them).
    private static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var filled = 0
        while filled < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { return nil }
            if got == 0 { break }
            filled += got
        }
        return Array(bytes[..<filled])
    }
}

extension String {
    /// The string without trailing `\n` characters.
    fileprivate var trimmingTrailingNewlines: String {
        var copy = self[...]
        while copy.last == "\n" || copy.last == "\r\n" { copy = copy.dropLast() }
        return String(copy)
    }
}
