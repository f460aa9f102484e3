import BPFObject
import BTF

/// How ``LoadedObject/load(_:options:)`` loads an object: the user's edits that are not part of the spec.
public struct LoadOptions: Sendable {
    /// The BTF CO-RE relocations resolve against, and `attach_btf_id` and kfuncs are looked up in;
    /// `nil` means the running kernel's vmlinux and modules.
    public var coreTargets: CoreTargets?
    /// The directory maps with `pinning = LIBBPF_PIN_BY_NAME` are pinned in and reused from;
    /// `nil` means `/sys/fs/bpf` (libbpf's default).
    public var pinDirectory: String?
    /// Load only these programs (by name); `nil` loads every program whose `autoload` is set. Maps are
    /// always created.
    public var programNames: Set<String>?
    /// Ask the verifier for a log even when a program loads (level 1; 2 adds every state). 0: a log only
    /// on failure, as libbpf does.
    public var logLevel: UInt32
    /// Keep loading the other programs when one fails; the failures are in ``LoadedObject/failures``.
    /// When false (the library's default, like libbpf) the first failure throws after every program was
    /// tried, and nothing stays loaded.
    public var allowsPartialLoad: Bool

    /// Options with every default.
    public init(coreTargets: CoreTargets? = nil, pinDirectory: String? = nil, programNames: Set<String>? = nil,
                logLevel: UInt32 = 0, allowsPartialLoad: Bool = false) {
        self.coreTargets = coreTargets
        self.pinDirectory = pinDirectory
        self.programNames = programNames
        self.logLevel = logLevel
        self.allowsPartialLoad = allowsPartialLoad
    }

    /// libbpf's default pin directory.
    public static let defaultPinDirectory = "/sys/fs/bpf"
}
