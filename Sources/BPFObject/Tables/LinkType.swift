// The kernel's `enum bpf_link_type`, as data.
//
// Raw values: <linux/bpf.h>. Names: libbpf's `libbpf_bpf_link_type_str()`, which `bpftool link show`
// prints. Unknown raw values are kept and print as `type N`.

/// A BPF link type (`enum bpf_link_type`), as reported by `BPF_OBJ_GET_INFO_BY_FD` on a link.
public struct LinkType: KernelEnumeration {
    /// The kernel's value (`struct bpf_link_info`'s `type`).
    public let rawValue: UInt32

    /// Wraps a raw kernel value; any value is accepted (unknown ones print as `type N`).
    public init(rawValue: UInt32) { self.rawValue = rawValue }



    /// Every link type this table knows, in raw-value order (row i has raw value i).
    public static let table: [KernelEnumName] = [
        KernelEnumName(0, "BPF_LINK_TYPE_UNSPEC", "unspec"),
        KernelEnumName(1, "BPF_LINK_TYPE_RAW_TRACEPOINT", "raw_tracepoint"),
        KernelEnumName(2, "BPF_LINK_TYPE_TRACING", "tracing"),
        KernelEnumName(3, "BPF_LINK_TYPE_CGROUP", "cgroup"),
        KernelEnumName(4, "BPF_LINK_TYPE_ITER", "iter"),
        KernelEnumName(5, "BPF_LINK_TYPE_NETNS", "netns"),
        KernelEnumName(6, "BPF_LINK_TYPE_XDP", "xdp"),
        KernelEnumName(7, "BPF_LINK_TYPE_PERF_EVENT", "perf_event"),
        KernelEnumName(8, "BPF_LINK_TYPE_KPROBE_MULTI", "kprobe_multi"),
        KernelEnumName(9, "BPF_LINK_TYPE_STRUCT_OPS", "struct_ops"),
        KernelEnumName(10, "BPF_LINK_TYPE_NETFILTER", "netfilter"),
        KernelEnumName(11, "BPF_LINK_TYPE_TCX", "tcx"),
        KernelEnumName(12, "BPF_LINK_TYPE_UPROBE_MULTI", "uprobe_multi"),
        KernelEnumName(13, "BPF_LINK_TYPE_NETKIT", "netkit"),
        KernelEnumName(14, "BPF_LINK_TYPE_SOCKMAP", "sockmap"),
        // Newer than the 6.18 kernel of the test machines (libbpf's copy of the bpf-next UAPI).
        KernelEnumName(15, "BPF_LINK_TYPE_TRACING_MULTI", "tracing_multi"),
    ]
}

extension LinkType {
    /// `BPF_LINK_TYPE_UNSPEC`.
    public static let unspecified = LinkType(rawValue: 0)
    /// `BPF_LINK_TYPE_RAW_TRACEPOINT`.
    public static let rawTracepoint = LinkType(rawValue: 1)
    /// `BPF_LINK_TYPE_TRACING` (fentry, fexit, fmod_ret, tp_btf, lsm, freplace).
    public static let tracing = LinkType(rawValue: 2)
    /// `BPF_LINK_TYPE_CGROUP`.
    public static let cgroup = LinkType(rawValue: 3)
    /// `BPF_LINK_TYPE_ITER`.
    public static let iter = LinkType(rawValue: 4)
    /// `BPF_LINK_TYPE_NETNS` (flow dissector, sk_lookup).
    public static let netns = LinkType(rawValue: 5)
    /// `BPF_LINK_TYPE_XDP`.
    public static let xdp = LinkType(rawValue: 6)
    /// `BPF_LINK_TYPE_PERF_EVENT` (kprobe, uprobe, tracepoint, perf_event through a perf event fd).
    public static let perfEvent = LinkType(rawValue: 7)
    /// `BPF_LINK_TYPE_KPROBE_MULTI`.
    public static let kprobeMulti = LinkType(rawValue: 8)
    /// `BPF_LINK_TYPE_STRUCT_OPS`.
    public static let structOps = LinkType(rawValue: 9)
    /// `BPF_LINK_TYPE_NETFILTER`.
    public static let netfilter = LinkType(rawValue: 10)
    /// `BPF_LINK_TYPE_TCX`.
    public static let tcx = LinkType(rawValue: 11)
    /// `BPF_LINK_TYPE_UPROBE_MULTI`.
    public static let uprobeMulti = LinkType(rawValue: 12)
    /// `BPF_LINK_TYPE_NETKIT`.
    public static let netkit = LinkType(rawValue: 13)
    /// `BPF_LINK_TYPE_SOCKMAP`.
    public static let sockmap = LinkType(rawValue: 14)
    /// `BPF_LINK_TYPE_TRACING_MULTI` (newer than kernel 6.18).
    public static let tracingMulti = LinkType(rawValue: 15)
}
