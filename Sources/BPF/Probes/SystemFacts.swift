import BPFObject
import ByteParsing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a file system a loader needs stands: mounted (where), not mounted but known to the kernel (a
/// root process can mount it), or unknown to the kernel.
public enum FileSystemState: Sendable, Hashable, CustomStringConvertible {
    /// Mounted at this path (the first mount listed).
    case mounted(String)
    /// Not mounted; listed in `/proc/filesystems`, so it can be mounted.
    case mountable
    /// Not known to the kernel.
    case unavailable

    /// The mount point, when mounted.
    public var mountPoint: String? { if case .mounted(let path) = self { path } else { nil } }

    /// `mounted at PATH`, `not mounted (mountable)`, `unavailable`.
    public var description: String {
        switch self {
        case .mounted(let path): "mounted at \(path)"
        case .mountable: "not mounted (mountable)"
        case .unavailable: "unavailable"
        }
    }
}

/// Facts about the running system that decide what can be loaded and attached, read from `/proc` and
/// `/sys` (no `bpf()` calls): kernel release, BTF, JIT, privileges, and the attach facilities (probe
/// PMUs, tracefs, bpffs, cgroup v2).
public struct SystemFacts: Sendable, Hashable {
    /// `uname -r`.
    public var kernelRelease: String?
    /// `/sys/kernel/btf/vmlinux` exists.
    public var vmlinuxBTF: Bool
    /// Kernel modules with BTF in `/sys/kernel/btf` (every entry but `vmlinux`).
    public var moduleBTFCount: Int
    /// `/proc/sys/net/core/bpf_jit_enable` (0 off, 1 on, 2 on with debug output), nil when unreadable.
    public var jitEnabled: Int?
    /// `/proc/sys/kernel/unprivileged_bpf_disabled` (0 allowed, 1 disabled for good, 2 disabled by
    /// default), nil when unreadable.
    public var unprivilegedBPFDisabled: Int?
    /// The effective user id.
    public var effectiveUserID: UInt32
    /// The BPF-relevant capabilities held (`cap_bpf`, `cap_perfmon`, `cap_net_admin`, `cap_sys_admin`).
    public var capabilities: [String]
    /// The kernel lockdown mode (`none`, `integrity`, `confidentiality`), nil when unknown.
    public var lockdown: String?
    /// The kprobe PMU `/sys/bus/event_source/devices/kprobe` exists (perf-based kprobes).
    public var kprobePMU: Bool
    /// The uprobe PMU `/sys/bus/event_source/devices/uprobe` exists.
    public var uprobePMU: Bool
    /// `kprobe_events` in the mounted tracefs (legacy kprobes); without tracefs, the kernel config's
    /// `CONFIG_KPROBE_EVENTS`; nil when neither can be read.
    public var kprobeEvents: Bool?
    /// `uprobe_events` likewise (`CONFIG_UPROBE_EVENTS`).
    public var uprobeEvents: Bool?
    /// tracefs (tracepoint ids, legacy probe events).
    public var tracefs: FileSystemState
    /// bpffs (pinning).
    public var bpffs: FileSystemState
    /// cgroup v2 (cgroup programs attach to a directory in it).
    public var cgroup2: FileSystemState

    /// Reads the facts now.
    public static func current() -> SystemFacts {
        let btfEntries = directoryEntries(KernelBTF.directory)
        let mounts = readText("/proc/self/mounts").map(parseMounts) ?? []
        let known = Set((readText("/proc/filesystems") ?? "").split(separator: "\n").compactMap {
            $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).last.map(String.init)
        })
        func state(_ type: String) -> FileSystemState {
            if let mount = mounts.first(where: { $0.type == type }) { return .mounted(mount.path) }
            return known.contains(type) ? .mountable : .unavailable
        }
        let tracefs = state("tracefs")
        var config: [String: String]?
        func event(_ file: String, _ option: String) -> Bool? {
            // tracefs is root-only: an unprivileged reader cannot see its files and falls back to the config.
            if let root = tracefs.mountPoint, access(root, R_OK | X_OK) == 0 { return access(root + "/" + file, F_OK) == 0 }
            if config == nil { config = (try? RunningKernel.config())?.values ?? [:] }
            guard let config, !config.isEmpty else { return nil }
            return config[option] == "y"
        }
        let status = readText("/proc/self/status") ?? ""
        return SystemFacts(
            kernelRelease: RunningKernel.release,
            vmlinuxBTF: access(KernelBTF.directory + "/vmlinux", R_OK) == 0,
            moduleBTFCount: btfEntries.filter { $0 != "vmlinux" && !$0.hasPrefix(".") }.count,
            jitEnabled: readInteger("/proc/sys/net/core/bpf_jit_enable"),
            unprivilegedBPFDisabled: readInteger("/proc/sys/kernel/unprivileged_bpf_disabled"),
            effectiveUserID: geteuid(),
            capabilities: heldCapabilities(status: status),
            lockdown: readText("/sys/kernel/security/lockdown").flatMap(selectedLockdown),
            kprobePMU: access("/sys/bus/event_source/devices/kprobe", F_OK) == 0,
            uprobePMU: access("/sys/bus/event_source/devices/uprobe", F_OK) == 0,
            kprobeEvents: event("kprobe_events", "CONFIG_KPROBE_EVENTS"),
            uprobeEvents: event("uprobe_events", "CONFIG_UPROBE_EVENTS"),
            tracefs: tracefs,
            bpffs: state("bpf"),
            cgroup2: state("cgroup2"))
    }

    // MARK: Parsing (internal for tests)

    /// `(mount point, type)` of each line of `/proc/self/mounts`, with `\040`-style escapes decoded.
    static func parseMounts(_ text: String) -> [(path: String, type: String)] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { return nil }
            return (unescapeMountPath(fields[1]), String(fields[2]))
        }
    }

    static func unescapeMountPath(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
               let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The capabilities named in ``capabilities`` that the `CapEff:` line of `/proc/self/status` holds.
    static func heldCapabilities(status: String) -> [String] {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingWhitespace(), radix: 16) else { return [] }
        let relevant: [(String, UInt64)] = [("cap_bpf", 39), ("cap_perfmon", 38), ("cap_net_admin", 12), ("cap_sys_admin", 21)]
        return relevant.filter { mask & (1 << $0.1) != 0 }.map(\.0)
    }

    /// The bracketed mode of `none [integrity] confidentiality`.
    static func selectedLockdown(_ text: String) -> String? {
        guard let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else { return nil }
        return String(text[text.index(after: open)..<close])
    }

    private static func readText(_ path: String) -> String? {
        guard let storage = try? ByteStorage(contentsOf: path, maximumSize: 1 << 22) else { return nil }
        let view = storage.view(order: .little)
        return view.bytes(0, view.count).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func readInteger(_ path: String) -> Int? {
        readText(path).flatMap { Int($0.trimmingWhitespace()) }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and newlines.
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
