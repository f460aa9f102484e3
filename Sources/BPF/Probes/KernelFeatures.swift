import BPFObject
import BTF
import Synchronization
import SystemPackage

/// The answer of one probe: supported or not, and when not, the errno of the refused call (for messages
/// such as "lsm: no (EPERM)").
public struct ProbeResult: Sendable, Hashable, CustomStringConvertible {
    /// The kernel accepted what was asked.
    public var supported: Bool
    /// The errno of the refusal when not supported (nil when the answer came from elsewhere, e.g. a file).
    public var errno: Errno?

    /// A result.
    public init(supported: Bool, errno: Errno? = nil) {
        self.supported = supported
        self.errno = errno
    }

    /// Supported.
    public static let yes = ProbeResult(supported: true)
    /// Not supported, for a reason other than an errno.
    public static let no = ProbeResult(supported: false)

    /// `yes`, `no`, or `no (EPERM)`.
    public var description: String {
        supported ? "yes" : errno.map { "no (\($0.symbolicName))" } ?? "no"
    }
}

/// What the running kernel offers, probed lazily (each probe runs at most once per instance, on first
/// question) and cached: BTF kinds, global data, ring buffers, links, program and map types, helpers.
///
/// Every probe asks the kernel for the smallest object that needs the feature (a BTF blob of one or two
/// types, a two-instruction program, a one-entry map) and closes it at once through
/// ``OwnedFileDescriptor``: probing leaves no descriptor and no kernel object behind. A probe that fails
/// for lack of privilege answers "no"; check ``access`` first to tell the two apart.
///
/// ``shared`` is the process-wide instance the loader uses; tests may make their own to probe afresh.
/// Thread-safe: the cache sits behind a mutex, and probes run outside it (two threads asking the same
/// new question at once may both probe; they get the same answer).
public final class KernelFeatures: Sendable {
    /// The process-wide instance.
    public static let shared = KernelFeatures()

    private struct Cache {
        var access: BPFAccess?
        // By the feature's place in `KernelFeature.allCases` (an array: hashing a new key type costs a
        // run-time conformance lookup the first time, more than the lookups it would save).
        var features = [ProbeResult?](repeating: nil, count: KernelFeatures.featureOrder.count)
        var programTypes: [UInt32: ProbeResult] = [:]
        var mapTypes: [UInt32: ProbeResult] = [:]
        var helpers: [UInt32: [Int32]?] = [:]
    }

    private let cache = Mutex(Cache())

    /// Every feature, in the order of the cache's slots.
    private static let featureOrder = KernelFeature.allCases

    /// `feature`'s slot in the cache.
    private static func slot(_ feature: KernelFeature) -> Int {
        featureOrder.firstIndex(of: feature) ?? 0
    }

    /// A fresh instance with nothing probed yet.
    public init() {}

    /// Looks `read` up in the cache; on a miss computes `probe()` without holding the lock and stores it.
    private func cached<Value: Sendable>(_ read: (inout Cache) -> Value?, _ store: (inout Cache, Value) -> Void,
                                         _ probe: () -> Value) -> Value {
        if let value = cache.withLock({ read(&$0) }) { return value }
        let value = probe()
        cache.withLock { store(&$0, value) }
        return value
    }

    // MARK: Questions

    /// Whether this process may call `bpf()` at all.
    public var access: BPFAccess {
        cached({ $0.access }, { $0.access = $1 }) { Probes.access() }
    }

    /// The probe's answer for `feature`.
    public func result(for feature: KernelFeature) -> ProbeResult {
        let slot = Self.slot(feature)
        return cached({ $0.features[slot] }, { $0.features[slot] = $1 }) { Probes.run(feature) }
    }

    /// Whether the kernel supports `feature`.
    public func supports(_ feature: KernelFeature) -> Bool { result(for: feature).supported }

    /// Whether a minimal program of `type` loads (`r0 = 0; exit`, with the expected attach type and
    /// attributes the type needs, as bpftool probes it). For `tracing` the probe asks for a `tp_btf`
    /// program (the kernel answers "not a typedef" for a bogus target, which proves the type); `ext` and
    /// `lsm` count only when the kernel gets as far as checking their target.
    public func result(forProgramType type: ProgramType) -> ProbeResult {
        cached({ $0.programTypes[type.rawValue] }, { $0.programTypes[type.rawValue] = $1 }) {
            Probes.programType(type)
        }
    }

    /// Whether programs of `type` can be loaded.
    public func supports(programType type: ProgramType) -> Bool { result(forProgramType: type).supported }

    /// Whether a minimal map of `type` can be created (sizes and flags per type as bpftool probes it).
    public func result(forMapType type: MapType) -> ProbeResult {
        cached({ $0.mapTypes[type.rawValue] }, { $0.mapTypes[type.rawValue] = $1 }) { Probes.mapType(type) }
    }

    /// Whether maps of `type` can be created.
    public func supports(mapType type: MapType) -> Bool { result(forMapType: type).supported }

    /// The helper ids (``HelperFunctions``) programs of `type` may call, ascending; nil when the type
    /// cannot be probed this way (it does not load here, or it needs a BTF target: tracing, ext, lsm,
    /// struct_ops). One load per helper, judged by the verifier's log as bpftool does.
    public func helpers(forProgramType type: ProgramType) -> [Int32]? {
        cached({ $0.helpers[type.rawValue] }, { $0.helpers[type.rawValue] = .some($1) }) {
            supports(programType: type) ? Probes.helpers(type) : nil
        }
    }

    /// Whether programs of `type` may call helper `id`; nil when the type cannot be probed.
    public func supports(helper id: Int32, inProgramType type: ProgramType) -> Bool? {
        helpers(forProgramType: type).map { $0.contains(id) }
    }

    /// Runs every feature, program type and map type probe now (helpers only when `helpers` is set),
    /// so later questions are answered from the cache.
    public func probeAll(helpers: Bool = false) {
        _ = access
        for feature in KernelFeature.allCases { _ = result(for: feature) }
        for row in ProgramType.table.dropFirst() {
            let type = ProgramType(rawValue: row.rawValue)
            _ = result(forProgramType: type)
            if helpers { _ = self.helpers(forProgramType: type) }
        }
        for row in MapType.table.dropFirst() { _ = result(forMapType: MapType(rawValue: row.rawValue)) }
    }

    // MARK: BTF kinds

    /// The BTF kinds `BPF_BTF_LOAD` accepts, for sanitising an object's BTF before loading it
    /// (``BTFImage/sanitize(for:)``). Meaningful only when ``supports(_:)`` says `.btf` is supported: a
    /// kernel without BTF gets no BTF at all.
    public var btfSupport: BTFKernelSupport { btfSupport(for: .all) }

    /// The kernel's answer for each BTF feature in `needed` (probed on first use); every feature not in it
    /// is reported supported without a probe. A loader passes the features its BTF uses
    /// (``BTFImage/neededFeatures``): sanitising for an unused feature would change nothing.
    public func btfSupport(for needed: BTFKernelSupport) -> BTFKernelSupport {
        func answer(_ isNeeded: Bool, _ feature: KernelFeature) -> Bool { !isNeeded || supports(feature) }
        return BTFKernelSupport(
            functions: answer(needed.functions, .btfFunctions),
            globalFunctions: answer(needed.globalFunctions, .btfGlobalFunctions),
            dataSections: answer(needed.dataSections, .btfDataSections),
            questionMarkDataSections: answer(needed.questionMarkDataSections, .btfQuestionMarkDataSections),
            floats: answer(needed.floats, .btfFloats), declTags: answer(needed.declTags, .btfDeclTags),
            typeTags: answer(needed.typeTags, .btfTypeTags), enum64: answer(needed.enum64, .btfEnum64))
    }
}
