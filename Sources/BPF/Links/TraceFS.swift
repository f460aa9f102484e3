import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// tracefs: where the kernel lists its tracepoints (`events/CATEGORY/NAME/id`) and prints `bpf_printk`
/// output (`trace_pipe`). Lives at `/sys/kernel/tracing`, or under debugfs at `/sys/kernel/debug/tracing`
/// on older systems; some kernels (the test machines' among them) do not mount it at boot, so it is
/// mounted at `/sys/kernel/tracing` when neither place has it and we are root, as perf and bpftool do.
public enum TraceFS {
    /// Where tracefs is looked for, in order.
    public static let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    /// `TRACEFS_MAGIC` from `<linux/magic.h>`.
    static let magic: UInt = 0x7472_6163

    /// Whether `path` is the root of a tracefs mount (statfs reports tracefs's magic; for the debugfs path
    /// this also triggers the kernel's automount).
    public static func isTraceFS(_ path: String) -> Bool {
        UInt(truncatingIfNeeded: cbpf_filesystem_magic(path)) == magic
    }

    /// The tracefs root: the first of ``candidates`` that is tracefs, else `/sys/kernel/tracing` after
    /// mounting tracefs there.
    /// - Throws: ``BPFError`` `.permission` when tracefs is not mounted and we are not root, `.unsupported`
    ///   when mounting fails (a kernel without `CONFIG_TRACING`).
    public static func root() throws(BPFError) -> String {
        for path in candidates where isTraceFS(path) { return path }
        let target = candidates[0]
        let tried = candidates.joined(separator: ", ")
        guard geteuid() == 0 else {
            throw BPFError(.permission, "tracefs is not mounted (tried \(tried)) and mounting it needs root: mount -t tracefs nodev \(target)")
        }
        if mount("nodev", target, "tracefs", 0, nil) != 0 {
            let errno = Errno(rawValue: errno)
            // Another process may have mounted it meanwhile (EBUSY).
            if isTraceFS(target) { return target }
            let code: BPFError.Code = errno == .noSuchFileOrDirectory || errno == .operationNotSupportedByDevice ? .unsupported : .kernel
            throw BPFError(code, "tracefs is not mounted (tried \(tried)) and mounting it at \(target) failed: \(errno.symbolicName) (\(errno))",
                           errno: errno)
        }
        return target
    }

    /// The id of tracepoint `category`/`name` (`<tracefs>/events/CATEGORY/NAME/id`), the `config` of a
    /// `PERF_TYPE_TRACEPOINT` perf event.
    /// - Throws: ``BPFError`` `.notFound` naming the tracepoint when the kernel has no such tracepoint,
    ///   `.invalidArgument` for names with `/` or `..`, and ``root()``'s errors.
    public static func tracepointID(category: String, name: String) throws(BPFError) -> UInt64 {
        try checkComponent(category, "category", category, name)
        try checkComponent(name, "name", category, name)
        let relative = "events/\(category)/\(name)/id"
        let path = try root() + "/" + relative
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let errno = Errno(rawValue: errno)
            if errno == .noSuchFileOrDirectory || errno == .notDirectory {
                throw BPFError(.notFound, "no tracepoint \(category)/\(name) (\(relative) not found)", errno: errno)
            }
            throw BPFError(errno: errno, command: nil, "reading the id of tracepoint \(category)/\(name) from \(path)")
        }
        defer { _ = close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        var filled = 0
        while filled < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else {
                let errno = Errno(rawValue: errno)
                throw BPFError(errno: errno, command: nil, "reading the id of tracepoint \(category)/\(name) from \(path)")
            }
            if got == 0 { break }
            filled += got
        }
        var text = bytes[..<filled]
        while let last = text.last, last == 0x0A || last == 0x20 { text = text.dropLast() }
        guard let id = UInt64(String(decoding: text, as: UTF8.self)) else {
            throw BPFError(.kernel, "tracepoint \(category)/\(name): \(path) holds no number")
        }
        return id
    }

    /// A category or name is one path component: not empty, no `/`, not `.` or `..`.
    private static func checkComponent(_ text: String, _ role: String, _ category: String, _ name: String) throws(BPFError) {
        guard !text.isEmpty, !text.contains("/"), text != ".", text != ".." else {
            throw BPFError(.invalidArgument, "invalid tracepoint \(category)/\(name): the \(role) must be one word without '/'")
        }
    }
}
