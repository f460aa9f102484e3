/// One capability of the running kernel that the loader's decisions depend on, probed by asking the kernel
/// to do the smallest thing that needs it (see ``KernelFeatures``).
///
/// Raw values are the stable snake_case keys `swift-load probe --json` prints under `"features"`.
public enum KernelFeature: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// `BPF_BTF_LOAD` accepts BTF at all (a blob with one `int`).
    case btf = "btf"
    /// BTF `FUNC` and `FUNC_PROTO` kinds (static linkage).
    case btfFunctions = "btf_func"
    /// BTF `FUNC` with global linkage (global subprograms verified on their own).
    case btfGlobalFunctions = "btf_global_func"
    /// BTF `VAR` and `DATASEC` kinds (global data described in BTF).
    case btfDataSections = "btf_datasec"
    /// `DATASEC` names starting with `?` (optional sections such as `?.struct_ops`, kernel 6.9).
    case btfQuestionMarkDataSections = "btf_qmark_datasec"
    /// BTF `FLOAT` kind.
    case btfFloats = "btf_float"
    /// BTF `DECL_TAG` kind.
    case btfDeclTags = "btf_decl_tag"
    /// BTF `TYPE_TAG` kind.
    case btfTypeTags = "btf_type_tag"
    /// BTF `ENUM64` kind.
    case btfEnum64 = "btf_enum64"
    /// Programs and maps may carry a name (`prog_name`, `map_name`).
    case programNames = "prog_name"
    /// Global data: an `ld_imm64` of a map value address (`BPF_PSEUDO_MAP_VALUE`) into an array map.
    case globalData = "global_data"
    /// Array maps may be created `BPF_F_MMAPABLE` and mapped into user space.
    case mmapableArrays = "array_mmap"
    /// `BPF_PROG_LOAD` takes `expected_attach_type`.
    case expectedAttachType = "expected_attach_type"
    /// The `bpf_probe_read_kernel` helper (instead of `bpf_probe_read`).
    case probeReadKernel = "probe_read_kernel"
    /// `BPF_PROG_BIND_MAP` ties a map to a program that does not reference it (libbpf's `.rodata`).
    case programBindMap = "prog_bind_map"
    /// Kernel modules' BTF objects are visible (`bpf_btf_info` has a name).
    case moduleBTF = "module_btf"
    /// Maps are charged to the memory cgroup, so no `RLIMIT_MEMLOCK` bump is needed.
    case memcgAccounting = "memcg_account"
    /// `BPF_MAP_TYPE_RINGBUF` maps.
    case ringBuffer = "ringbuf"
    /// BPF cookies: the `bpf_get_attach_cookie` helper (what libbpf probes for `LINUX_HAS_BPF_COOKIE`).
    case bpfCookie = "bpf_cookie"
    /// `BPF_LINK_CREATE` for perf events (`BPF_PERF_EVENT`): kprobe, uprobe, tracepoint links.
    case perfLink = "perf_link"
    /// tcx links (`BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` through `BPF_LINK_CREATE`, kernel 6.6).
    case tcx = "tcx"
    /// `BPF_PROG_LOAD` reports `log_true_size` (kernel 6.4): a verifier log can be sized exactly.
    case logTrueSize = "log_true_size"
    /// `BPF_MAP_CREATE` takes `map_extra` (bloom filter hash count, arena address).
    case mapExtra = "map_extra"
    /// Programs may call kernel functions (`BPF_PSEUDO_KFUNC_CALL`) found in vmlinux BTF.
    case kfuncCalls = "kfunc_call"
    /// System calls go through arch wrappers (`__x64_sys_bpf`): `LINUX_HAS_SYSCALL_WRAPPER`, ksyscall names.
    case syscallWrapper = "syscall_wrapper"

    /// What the feature is, in a few words (the human output of `swift-load probe`).
    public var summary: String {
        switch self {
        case .btf: "BTF"
        case .btfFunctions: "BTF FUNC / FUNC_PROTO"
        case .btfGlobalFunctions: "BTF global FUNC linkage"
        case .btfDataSections: "BTF VAR / DATASEC"
        case .btfQuestionMarkDataSections: "BTF DATASEC named ?..."
        case .btfFloats: "BTF FLOAT"
        case .btfDeclTags: "BTF DECL_TAG"
        case .btfTypeTags: "BTF TYPE_TAG"
        case .btfEnum64: "BTF ENUM64"
        case .programNames: "program and map names"
        case .globalData: "global data (BPF_PSEUDO_MAP_VALUE)"
        case .mmapableArrays: "mmapable array maps (BPF_F_MMAPABLE)"
        case .expectedAttachType: "expected_attach_type at load"
        case .probeReadKernel: "bpf_probe_read_kernel helper"
        case .programBindMap: "BPF_PROG_BIND_MAP"
        case .moduleBTF: "module BTF objects"
        case .memcgAccounting: "memcg accounting (no memlock limit)"
        case .ringBuffer: "ring buffer maps"
        case .bpfCookie: "BPF cookies (bpf_get_attach_cookie)"
        case .perfLink: "perf event links (BPF_PERF_EVENT)"
        case .tcx: "tcx links"
        case .logTrueSize: "verifier log_true_size"
        case .mapExtra: "map_extra (bloom filter)"
        case .kfuncCalls: "kfunc calls"
        case .syscallWrapper: "syscall wrappers (LINUX_HAS_SYSCALL_WRAPPER)"
        }
    }

    /// The snake_case key.
    public var description: String { rawValue }
}

/// Whether this process may use `bpf()` at all; probed once, before anything else, so that "no" answers
/// caused by missing privilege are not mistaken for missing kernel features.
public enum BPFAccess: String, Sendable, Hashable {
    /// `bpf()` works (creating a small array map succeeded).
    case permitted = "permitted"
    /// The kernel refused with `EPERM`/`EACCES`: not root, no `CAP_BPF`, or `unprivileged_bpf_disabled`.
    case notPermitted = "not_permitted"
    /// The kernel has no `bpf()` system call (`ENOSYS`: built without `CONFIG_BPF_SYSCALL`).
    case notAvailable = "not_available"

    /// One line for a person.
    public var explanation: String {
        switch self {
        case .permitted: "bpf() available"
        case .notPermitted: "bpf() not permitted: not root / missing CAP_BPF (or kernel.unprivileged_bpf_disabled)"
        case .notAvailable: "bpf() not available: the kernel was built without CONFIG_BPF_SYSCALL"
        }
    }
}
