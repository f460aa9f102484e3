import BPFObject
import ByteParsing
import CBPF
import SystemPackage

/// A perf event a `perf_event` program samples, by the name `perf record -e` uses.
public struct SamplingEvent: Sendable, Hashable, CustomStringConvertible {
    /// The event's name (`cpu-clock`).
    public let name: String
    /// `PERF_TYPE_SOFTWARE` or `PERF_TYPE_HARDWARE`.
    public let type: UInt32
    /// The `PERF_COUNT_SW_*` or `PERF_COUNT_HW_*` value.
    public let config: UInt64

    /// Whether the event counts in the CPU's performance monitoring unit (absent on many virtual machines).
    public var isHardware: Bool { type == PERF_TYPE_HARDWARE.rawValue }

    /// Every event this type knows: the software ones first, which every kernel with perf events has.
    public static let known: [SamplingEvent] = [
        SamplingEvent(name: "cpu-clock", type: PERF_TYPE_SOFTWARE.rawValue, config: UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue)),
        SamplingEvent(name: "task-clock", type: PERF_TYPE_SOFTWARE.rawValue, config: UInt64(PERF_COUNT_SW_TASK_CLOCK.rawValue)),
        SamplingEvent(name: "page-faults", type: PERF_TYPE_SOFTWARE.rawValue, config: UInt64(PERF_COUNT_SW_PAGE_FAULTS.rawValue)),
        SamplingEvent(name: "context-switches", type: PERF_TYPE_SOFTWARE.rawValue, config: UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue)),
        SamplingEvent(name: "cpu-migrations", type: PERF_TYPE_SOFTWARE.rawValue, config: UInt64(PERF_COUNT_SW_CPU_MIGRATIONS.rawValue)),
        SamplingEvent(name: "cycles", type: PERF_TYPE_HARDWARE.rawValue, config: UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue)),
        SamplingEvent(name: "instructions", type: PERF_TYPE_HARDWARE.rawValue, config: UInt64(PERF_COUNT_HW_INSTRUCTIONS.rawValue)),
    ]

    /// perf's other names for the known events.
    static let aliases = ["faults": "page-faults", "cs": "context-switches", "migrations": "cpu-migrations",
                          "cpu-cycles": "cycles"]

    /// Looks an event up by name or perf alias (`cs`, `faults`, `migrations`, `cpu-cycles`).
    public init?(name: some StringProtocol) {
        let name = String(name)
        let canonical = Self.aliases[name] ?? name
        guard let event = Self.known.first(where: { $0.name == canonical }) else { return nil }
        self = event
    }

    private init(name: String, type: UInt32, config: UInt64) {
        self.name = name
        self.type = type
        self.config = config
    }

    /// The name.
    public var description: String { name }
}

/// The CPUs online now (`/sys/devices/system/cpu/online`), which sampling events are opened on.
public enum OnlineCPUs {
    /// Where the kernel publishes the online-CPU mask.
    public static let path = "/sys/devices/system/cpu/online"

    /// The online CPU numbers, ascending, read afresh (CPUs come and go).
    /// - Throws: ``BPFError`` when the file is missing or malformed.
    public static func cpus() throws(BPFError) -> [Int] {
        guard let storage = try? ByteStorage(contentsOf: path, maximumSize: 1 << 16),
              let bytes = storage.view(order: .little).bytes(0, storage.view(order: .little).count) else {
            throw BPFError(.unsupported, "cannot read \(path): the online CPUs are unknown")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let cpus = PossibleCPUs.parse(text) else {
            throw BPFError(.kernel, "\(path): malformed CPU list \"\(text.filter { $0 != "\n" })\"")
        }
        return cpus
    }
}

extension Program {
    /// Attaches this `perf_event` program to sampling event `event` on every online CPU: opens one perf
    /// event per CPU (every process, `frequency` samples per second) and attaches the program to each
    /// through ``attach(perfEvent:cookie:target:)``. All or nothing: when one CPU fails, the events already
    /// attached are closed before the error is thrown.
    ///
    /// - Parameters:
    ///   - event: a name of ``SamplingEvent/known`` (`cpu-clock`, `task-clock`, `page-faults`,
    ///     `context-switches`, `cpu-migrations`; `cycles`, `instructions` where the CPU's PMU is there).
    ///   - frequency: samples per second on each CPU (the `freq` bit with `sample_freq`); at most
    ///     `kernel.perf_event_max_sample_rate`.
    /// - Returns: one link per online CPU, in CPU order, with targets `perf_event/EVENT (CPU N)`.
    /// - Throws: ``BPFError`` `.invalidArgument` for another program type, an unknown event (the error lists
    ///   the known ones) or a zero frequency; `.unsupported` for a hardware event without a PMU;
    ///   `.permission` without root.
    public func attachPerfEvent(event: String = "cpu-clock", frequency: UInt64 = 99) throws(BPFError) -> [Link] {
        try attachPerfEvent(event: event, frequency: frequency, cpus: nil)
    }

    /// ``attachPerfEvent(event:frequency:)`` on the CPUs `cpus` (nil: every online CPU), so tests can make
    /// a later CPU fail.
    func attachPerfEvent(event: String, frequency: UInt64, cpus: [Int]?) throws(BPFError) -> [Link] {
        let target = AttachTarget.perfEvent(event: event).description
        guard type == .perfEvent else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it is a \(type) program, and sampling events take perf_event programs (SEC(\"perf_event\"))")
        }
        guard let sampled = SamplingEvent(name: event) else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): unknown perf event \"\(event)\"; known events: \(SamplingEvent.known.map(\.name).joined(separator: ", "))")
        }
        guard frequency > 0 else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): the sampling frequency must be at least 1 Hz")
        }
        let attribute = Self.samplingAttribute(sampled, frequency: frequency)
        let chosen: [Int]
        if let cpus { chosen = cpus } else { chosen = try OnlineCPUs.cpus() }
        var links: [Link] = []
        for cpu in chosen {
            let cpuTarget = "\(target) (CPU \(cpu))"
            do throws(BPFError) {
                let opened: OwnedFileDescriptor
                do throws(BPFError) {
                    opened = try PerfEvent.open(attribute, pid: -1, cpu: Int32(cpu), what: cpuTarget)
                } catch {
                    throw Self.samplingRefusal(error, program: name, target: cpuTarget, event: sampled, frequency: frequency)
                }
                links.append(try attach(perfEvent: opened, cookie: nil, target: cpuTarget))
            } catch {
                // All or nothing: detach what this call attached on the CPUs before.
                for link in links { link.close() }
                throw error
            }
        }
        return links
    }

    /// The `perf_event_attr` of a sampling event: type and config of `event`, `frequency` samples per
    /// second (`freq` bit set, `sample_freq`), enabled at open.
    static func samplingAttribute(_ event: SamplingEvent, frequency: UInt64) -> perf_event_attr {
        var attribute = perf_event_attr()
        attribute.size = UInt32(MemoryLayout<perf_event_attr>.size)
        attribute.type = event.type
        attribute.config = event.config
        attribute.sample_freq = frequency
        attribute.freq = 1
        return attribute
    }

    /// The error for a sampling event `perf_event_open` refused: no PMU for a hardware event, a frequency
    /// above the kernel's limit, or the original error.
    static func samplingRefusal(_ error: BPFError, program: String, target: String, event: SamplingEvent,
                                frequency: UInt64, maximumRate: () -> UInt64? = maximumSampleRate) -> BPFError {
        var error = error
        let what = "cannot attach program \(program) to \(target)"
        guard let errno = error.errno else { return error }
        if event.isHardware && (errno == .noSuchFileOrDirectory || errno == .notSupported || errno == .operationNotSupportedByDevice) {
            let software = SamplingEvent.known.filter { !$0.isHardware }.map(\.name).joined(separator: ", ")
            error.code = .unsupported
            error.message = "\(what): this machine has no hardware PMU for \(event.name) (perf_event_open: \(errno.symbolicName)); software events work without one: \(software)"
        } else if errno == .invalidArgument, let limit = maximumRate(), frequency > limit {
            error.code = .invalidArgument
            error.message = "\(what): \(frequency) Hz is above kernel.perf_event_max_sample_rate (\(limit) Hz) (perf_event_open: EINVAL)"
        }
        return error
    }

    /// `/proc/sys/kernel/perf_event_max_sample_rate`, nil when unreadable.
    static func maximumSampleRate() -> UInt64? {
        guard let storage = try? ByteStorage(contentsOf: "/proc/sys/kernel/perf_event_max_sample_rate", maximumSize: 64),
              let bytes = storage.view(order: .little).bytes(0, storage.view(order: .little).count) else { return nil }
        return UInt64(String(decoding: bytes, as: UTF8.self).filter { $0 != "\n" && $0 != " " })
    }
}
