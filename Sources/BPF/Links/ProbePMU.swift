import ByteParsing
import CBPF
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A perf PMU for dynamic probes: `kprobe` or `uprobe`, as the kernel lists it under
/// `/sys/bus/event_source/devices`.
///
/// Kprobes and uprobes are perf events of a dynamic PMU type (since Linux 4.17): the event's `type` is the
/// PMU's number from sysfs, `config1` points at the function name or binary path, `config2` is the offset
/// (or address), and a return probe sets the bit that `format/retprobe` names in `config`. Both values
/// are read once and cached for the life of the process.
public struct ProbePMU: Sendable, Hashable, CustomStringConvertible {
    /// The PMU's directory name under ``devicesDirectory``: `kprobe` or `uprobe`.
    public let name: String
    /// Where sysfs lists the PMUs; tests point it elsewhere.
    let devicesDirectory: String

    /// Where the kernel lists its perf PMUs.
    public static let sysfsDevices = "/sys/bus/event_source/devices"

    /// The kprobe PMU (kernel functions; `CONFIG_KPROBES` with `CONFIG_KPROBE_EVENTS`).
    public static let kprobe = ProbePMU(name: "kprobe")
    /// The uprobe PMU (functions of user-space binaries; `CONFIG_UPROBES` with `CONFIG_UPROBE_EVENTS`).
    public static let uprobe = ProbePMU(name: "uprobe")

    /// A PMU named `name` under `devicesDirectory`.
    init(name: String, devicesDirectory: String = ProbePMU.sysfsDevices) {
        self.name = name
        self.devicesDirectory = devicesDirectory
    }

    /// The PMU's name.
    public var description: String { name }

    /// The PMU's directory, e.g. `/sys/bus/event_source/devices/uprobe`.
    public var directory: String { devicesDirectory + "/" + name }

    /// The kernel configuration the PMU needs, for messages.
    var configuration: String {
        switch name {
        case "kprobe": "CONFIG_KPROBES"
        case "uprobe": "CONFIG_UPROBE_EVENTS"
        default: "a \(name) PMU"
        }
    }

    /// The PMU's perf event type, the `type` of its `perf_event_attr` (`<directory>/type`).
    ///
    /// - Throws: ``BPFError`` `.unsupported` when the kernel has no such PMU ("this kernel has no kprobe
    ///   support (CONFIG_KPROBES): /sys/bus/event_source/devices/kprobe is missing"), `.kernel` when the file
    ///   holds no number, the errno's code when it cannot be read.
    public func type() throws(BPFError) -> UInt32 {
        if let cached = Self.cache.withLock({ $0.types[directory] }) { return cached }
        let path = directory + "/type"
        let text = try read(path)
        guard let value = Self.parseType(text) else {
            throw BPFError(.kernel, "the \(name) PMU's type is unreadable: \(path) holds \"\(text.escapedForMessage)\", expected a number")
        }
        Self.cache.withLock { $0.types[directory] = value }
        return value
    }

    /// The bit of `config` that makes a probe a return probe, from `<directory>/format/retprobe`
    /// (`config:0` on every kernel so far).
    ///
    /// - Throws: ``BPFError`` `.unsupported` when the PMU is missing, or has no `retprobe` format (return
    ///   probes through the PMU need Linux 4.17); `.kernel` when the format is not `config:N`.
    public func retprobeBit() throws(BPFError) -> Int {
        if let cached = Self.cache.withLock({ $0.retprobeBits[directory] }) { return cached }
        let path = directory + "/format/retprobe"
        let text: String
        do {
            text = try read(path)
        } catch where error.code == .notFound {
            throw BPFError(.unsupported, "the \(name) PMU has no return-probe format (\(path) is missing): \(name == "kprobe" ? "kretprobes" : "uretprobes") through perf need Linux 4.17",
                           errno: error.errno)
        }
        guard let bit = Self.parseRetprobeBit(text) else {
            throw BPFError(.kernel, "the \(name) PMU's return-probe format is unreadable: \(path) holds \"\(text.escapedForMessage)\", expected config:N with N below 64")
        }
        Self.cache.withLock { $0.retprobeBits[directory] = bit }
        return bit
    }

    /// Reads a small sysfs file of the PMU, naming the PMU when it is missing.
    private func read(_ path: String) throws(BPFError) -> String {
        let storage: ByteStorage
        do {
            storage = try ByteStorage(contentsOf: path, maximumSize: 4096)
        } catch {
            let errno = Errno(rawValue: error.errno)
            if errno == .noSuchFileOrDirectory || errno == .notDirectory {
                if access(directory, F_OK) != 0 {
                    var message = "this kernel has no \(name) support (\(configuration)): \(directory) is missing"
                    if access(devicesDirectory, F_OK) != 0 {
                        message += " (so is \(devicesDirectory): is sysfs mounted at /sys?)"
                    }
                    throw BPFError(.unsupported, message, errno: errno)
                }
                throw BPFError(.notFound, "the \(name) PMU has no \(path.dropFirst(directory.count + 1)) (\(path) is missing)", errno: errno)
            }
            throw BPFError(errno: errno, command: nil, "reading \(path)")
        }
        let view = storage.view(order: .little)
        return String(decoding: view.bytes(0, view.count) ?? [], as: UTF8.self)
    }

    /// `8\n` → 8: a decimal number, surrounding white space allowed.
    static func parseType(_ text: String) -> UInt32? {
        UInt32(text.trimmedForSysfs)
    }

    /// `config:0\n` → 0: one bit of `config` (a range `config:A-B` is not a flag and is refused).
    static func parseRetprobeBit(_ text: String) -> Int? {
        let trimmed = text.trimmedForSysfs
        guard trimmed.hasPrefix("config:"), let bit = Int(trimmed.dropFirst("config:".count)), (0..<64).contains(bit) else {
            return nil
        }
        return bit
    }

    private struct Cache {
        var types: [String: UInt32] = [:]
        var retprobeBits: [String: Int] = [:]
    }

    /// Values read so far, per PMU directory (sysfs does not change them while the system runs).
    private static let cache = Mutex(Cache())
}

// MARK: - The perf event attribute of a probe

extension ProbePMU {
    /// Builds the `perf_event_attr` of a probe on this PMU (type and, for return probes, the retprobe bit
    /// read from sysfs) and passes it to `body`; see
    /// ``withAttribute(type:retprobeBit:name:offset:isReturn:_:)`` for the fields and the pointer's lifetime.
    func withAttribute<Result>(name probeName: String?, offset: UInt64, isReturn: Bool,
                               _ body: (perf_event_attr) throws(BPFError) -> Result) throws(BPFError) -> Result {
        let type = try type()
        let bit = isReturn ? try retprobeBit() : nil
        return try Self.withAttribute(type: type, retprobeBit: bit, name: probeName, offset: offset,
                                      isReturn: isReturn, body)
    }

    /// Builds the `perf_event_attr` of a kprobe or uprobe and passes it to `body`:
    /// - `type`: the PMU's type;
    /// - `config`: `1 << retprobeBit` for a return probe, else 0;
    /// - `config1` (`kprobe_func` / `uprobe_path`): a pointer to `name` as a NUL-terminated string, or 0
    ///   when `name` is nil (a kprobe on an address);
    /// - `config2` (`kprobe_addr` / `probe_offset`): `offset` (the offset in the function or file, or the
    ///   address).
    ///
    /// The pointer in `config1` is valid only while `body` runs: open the perf event inside `body` (the
    /// kernel copies the string during `perf_event_open`), and never keep the attribute.
    ///
    /// - Throws: ``BPFError`` `.invalidArgument` when a return probe has no `retprobeBit` or `name` holds a NUL
    ///   byte; whatever `body` throws.
    static func withAttribute<Result>(type: UInt32, retprobeBit: Int?, name probeName: String?, offset: UInt64,
                                      isReturn: Bool,
                                      _ body: (perf_event_attr) throws(BPFError) -> Result) throws(BPFError) -> Result {
        var attribute = perf_event_attr()
        attribute.size = UInt32(MemoryLayout<perf_event_attr>.size)
        attribute.type = type
        if isReturn {
            guard let retprobeBit, (0..<64).contains(retprobeBit) else {
                throw BPFError(.invalidArgument, "a return probe needs the PMU's retprobe bit (0-63), got \(retprobeBit.map(String.init) ?? "none")")
            }
            attribute.config = 1 << UInt64(retprobeBit)
        }
        attribute.config2 = offset
        guard let probeName else {
            attribute.config1 = 0
            return try body(attribute)
        }
        guard !probeName.utf8.contains(0) else {
            throw BPFError(.invalidArgument, "probe target \"\(probeName.escapedForMessage)\" contains a NUL byte")
        }
        let outcome = probeName.withCString { pointer -> Swift.Result<Result, BPFError> in
            var withName = attribute
            withName.config1 = UInt64(UInt(bitPattern: pointer))
            do throws(BPFError) {
                return .success(try body(withName))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}

extension String {
    /// Without surrounding spaces, tabs and newlines (sysfs values end in `\n`).
    fileprivate var trimmedForSysfs: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }

    /// At most 64 characters with control characters escaped, for quoting file contents in messages.
    fileprivate var escapedForMessage: String {
        var out = ""
        for scalar in unicodeScalars.prefix(64) {
            out += scalar.value < 0x20 || scalar.value == 0x7f ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return unicodeScalars.count > 64 ? out + "…" : out
    }
}
