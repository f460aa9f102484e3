// The kernel's `enum bpf_prog_type`, as data.
//
// Raw values: <linux/bpf.h>. Names: the ones libbpf's `libbpf_bpf_prog_type_str()` returns, which is what
// `bpftool prog show` prints. Unknown raw values are kept and print as `type N`.

/// One row of a kernel enumeration table: the raw value the kernel uses, the C constant that names it in
/// `<linux/bpf.h>`, and the short lower-case name bpftool and libbpf print.
public struct KernelEnumName: Sendable, Hashable {
    /// The value the kernel reads and writes (`__u32` in `union bpf_attr`).
    public let rawValue: UInt32
    /// The constant in `<linux/bpf.h>`, e.g. `BPF_PROG_TYPE_KPROBE`.
    public let kernelName: String
    /// The name bpftool and libbpf print, e.g. `kprobe`.
    public let name: String

    /// Makes a row; the tables below are lists of these.
    public init(_ rawValue: UInt32, _ kernelName: String, _ name: String) {
        self.rawValue = rawValue
        self.kernelName = kernelName
        self.name = name
    }
}

/// A table row: a raw kernel value and its two names (lets one lookup serve every table).
public protocol KernelEnumRow: Sendable {
    /// The value the kernel reads and writes.
    var rawValue: UInt32 { get }
    /// The `<linux/bpf.h>` constant.
    var kernelName: String { get }
    /// The name bpftool and libbpf print.
    var name: String { get }
}

/// A kernel enumeration wrapped as a raw value with a table of known rows: program, map, attach and link
/// types. Unknown raw values survive and print as `type N`.
public protocol KernelEnumeration: RawRepresentable, Hashable, Sendable, CustomStringConvertible where RawValue == UInt32 {
    /// The kind of row in ``table``.
    associatedtype Row: KernelEnumRow
    /// Every value this table knows, in raw-value order (row i has raw value i).
    static var table: [Row] { get }
    /// Wraps a raw kernel value.
    init(rawValue: UInt32)
}

extension KernelEnumeration {
    /// Looks a value up by its bpftool name (`ringbuf`) or its kernel constant (`BPF_MAP_TYPE_RINGBUF`).
    public init?(name: some StringProtocol) {
        guard let row = Self.table.first(where: { $0.name == name || $0.kernelName == name }) else { return nil }
        self.init(rawValue: row.rawValue)
    }

    /// This value's table row, or nil when the kernel value is newer than the table.
    public var entry: Row? { kernelEnumRow(Self.table, rawValue) }
    /// The bpftool name, or nil when unknown.
    public var name: String? { entry?.name }
    /// The `<linux/bpf.h>` constant, or nil when unknown.
    public var kernelName: String? { entry?.kernelName }
    /// The bpftool name, or `type N` for a value this table does not know.
    public var description: String { name ?? "type \(rawValue)" }
}

extension KernelEnumName: KernelEnumRow {}

/// Finds the row for `rawValue`. The tables are dense (row i has raw value i), so this is usually one
/// indexed load; the linear scan only runs for values past the end (unknown values).
func kernelEnumRow<Row: KernelEnumRow>(_ table: [Row], _ rawValue: UInt32) -> Row? {
    let index = Int(rawValue)
    if index < table.count, table[index].rawValue == rawValue { return table[index] }
    for row in table where row.rawValue == rawValue { return row }
    return nil
}

/// A BPF program type (`enum bpf_prog_type`): what context a program receives, which helpers it may call
/// and where it can be attached. Wraps the raw value so values newer than this table survive intact.
public struct ProgramType: KernelEnumeration {
    /// The kernel's value (`BPF_PROG_LOAD`'s `prog_type`).
    public let rawValue: UInt32

    /// Wraps a raw kernel value; any value is accepted (unknown ones print as `type N`).
    public init(rawValue: UInt32) { self.rawValue = rawValue }



    /// Every program type this table knows, in raw-value order (row i has raw value i).
    public static let table: [KernelEnumName] = [
        KernelEnumName(0, "BPF_PROG_TYPE_UNSPEC", "unspec"),
        KernelEnumName(1, "BPF_PROG_TYPE_SOCKET_FILTER", "socket_filter"),
        KernelEnumName(2, "BPF_PROG_TYPE_KPROBE", "kprobe"),
        KernelEnumName(3, "BPF_PROG_TYPE_SCHED_CLS", "sched_cls"),
        KernelEnumName(4, "BPF_PROG_TYPE_SCHED_ACT", "sched_act"),
        KernelEnumName(5, "BPF_PROG_TYPE_TRACEPOINT", "tracepoint"),
        KernelEnumName(6, "BPF_PROG_TYPE_XDP", "xdp"),
        KernelEnumName(7, "BPF_PROG_TYPE_PERF_EVENT", "perf_event"),
        KernelEnumName(8, "BPF_PROG_TYPE_CGROUP_SKB", "cgroup_skb"),
        KernelEnumName(9, "BPF_PROG_TYPE_CGROUP_SOCK", "cgroup_sock"),
        KernelEnumName(10, "BPF_PROG_TYPE_LWT_IN", "lwt_in"),
        KernelEnumName(11, "BPF_PROG_TYPE_LWT_OUT", "lwt_out"),
        KernelEnumName(12, "BPF_PROG_TYPE_LWT_XMIT", "lwt_xmit"),
        KernelEnumName(13, "BPF_PROG_TYPE_SOCK_OPS", "sock_ops"),
        KernelEnumName(14, "BPF_PROG_TYPE_SK_SKB", "sk_skb"),
        KernelEnumName(15, "BPF_PROG_TYPE_CGROUP_DEVICE", "cgroup_device"),
        KernelEnumName(16, "BPF_PROG_TYPE_SK_MSG", "sk_msg"),
        KernelEnumName(17, "BPF_PROG_TYPE_RAW_TRACEPOINT", "raw_tracepoint"),
        KernelEnumName(18, "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "cgroup_sock_addr"),
        KernelEnumName(19, "BPF_PROG_TYPE_LWT_SEG6LOCAL", "lwt_seg6local"),
        KernelEnumName(20, "BPF_PROG_TYPE_LIRC_MODE2", "lirc_mode2"),
        KernelEnumName(21, "BPF_PROG_TYPE_SK_REUSEPORT", "sk_reuseport"),
        KernelEnumName(22, "BPF_PROG_TYPE_FLOW_DISSECTOR", "flow_dissector"),
        KernelEnumName(23, "BPF_PROG_TYPE_CGROUP_SYSCTL", "cgroup_sysctl"),
        KernelEnumName(24, "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE", "raw_tracepoint_writable"),
        KernelEnumName(25, "BPF_PROG_TYPE_CGROUP_SOCKOPT", "cgroup_sockopt"),
        KernelEnumName(26, "BPF_PROG_TYPE_TRACING", "tracing"),
        KernelEnumName(27, "BPF_PROG_TYPE_STRUCT_OPS", "struct_ops"),
        KernelEnumName(28, "BPF_PROG_TYPE_EXT", "ext"),
        KernelEnumName(29, "BPF_PROG_TYPE_LSM", "lsm"),
        KernelEnumName(30, "BPF_PROG_TYPE_SK_LOOKUP", "sk_lookup"),
        KernelEnumName(31, "BPF_PROG_TYPE_SYSCALL", "syscall"),
        KernelEnumName(32, "BPF_PROG_TYPE_NETFILTER", "netfilter"),
    ]
}

extension ProgramType {
    /// `BPF_PROG_TYPE_UNSPEC`: no type (invalid for loading).
    public static let unspecified = ProgramType(rawValue: 0)
    /// `BPF_PROG_TYPE_SOCKET_FILTER`: filters packets on a socket (`SO_ATTACH_BPF`).
    public static let socketFilter = ProgramType(rawValue: 1)
    /// `BPF_PROG_TYPE_KPROBE`: kprobes, uprobes, USDT (context: `struct pt_regs`).
    public static let kprobe = ProgramType(rawValue: 2)
    /// `BPF_PROG_TYPE_SCHED_CLS`: tc / tcx classifier.
    public static let schedCls = ProgramType(rawValue: 3)
    /// `BPF_PROG_TYPE_SCHED_ACT`: tc action.
    public static let schedAct = ProgramType(rawValue: 4)
    /// `BPF_PROG_TYPE_TRACEPOINT`: perf tracepoints.
    public static let tracepoint = ProgramType(rawValue: 5)
    /// `BPF_PROG_TYPE_XDP`: eXpress Data Path.
    public static let xdp = ProgramType(rawValue: 6)
    /// `BPF_PROG_TYPE_PERF_EVENT`: perf events (sampling).
    public static let perfEvent = ProgramType(rawValue: 7)
    /// `BPF_PROG_TYPE_CGROUP_SKB`: cgroup ingress/egress packets.
    public static let cgroupSKB = ProgramType(rawValue: 8)
    /// `BPF_PROG_TYPE_CGROUP_SOCK`: cgroup socket creation, release, post-bind.
    public static let cgroupSock = ProgramType(rawValue: 9)
    /// `BPF_PROG_TYPE_LWT_IN`: lightweight tunnel input.
    public static let lwtIn = ProgramType(rawValue: 10)
    /// `BPF_PROG_TYPE_LWT_OUT`: lightweight tunnel output.
    public static let lwtOut = ProgramType(rawValue: 11)
    /// `BPF_PROG_TYPE_LWT_XMIT`: lightweight tunnel transmit.
    public static let lwtXmit = ProgramType(rawValue: 12)
    /// `BPF_PROG_TYPE_SOCK_OPS`: TCP socket operations (attached to a cgroup).
    public static let sockOps = ProgramType(rawValue: 13)
    /// `BPF_PROG_TYPE_SK_SKB`: sockmap stream parser / verdict.
    public static let skSKB = ProgramType(rawValue: 14)
    /// `BPF_PROG_TYPE_CGROUP_DEVICE`: cgroup device access control.
    public static let cgroupDevice = ProgramType(rawValue: 15)
    /// `BPF_PROG_TYPE_SK_MSG`: sockmap message verdict.
    public static let skMsg = ProgramType(rawValue: 16)
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`: raw tracepoints (untyped arguments).
    public static let rawTracepoint = ProgramType(rawValue: 17)
    /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`: cgroup bind/connect/sendmsg/recvmsg/getname hooks.
    public static let cgroupSockAddr = ProgramType(rawValue: 18)
    /// `BPF_PROG_TYPE_LWT_SEG6LOCAL`: SRv6 local actions.
    public static let lwtSeg6Local = ProgramType(rawValue: 19)
    /// `BPF_PROG_TYPE_LIRC_MODE2`: infrared decoders.
    public static let lircMode2 = ProgramType(rawValue: 20)
    /// `BPF_PROG_TYPE_SK_REUSEPORT`: SO_REUSEPORT socket selection.
    public static let skReuseport = ProgramType(rawValue: 21)
    /// `BPF_PROG_TYPE_FLOW_DISSECTOR`: flow dissector (per network namespace).
    public static let flowDissector = ProgramType(rawValue: 22)
    /// `BPF_PROG_TYPE_CGROUP_SYSCTL`: cgroup sysctl access.
    public static let cgroupSysctl = ProgramType(rawValue: 23)
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`: raw tracepoints that may write their buffer.
    public static let rawTracepointWritable = ProgramType(rawValue: 24)
    /// `BPF_PROG_TYPE_CGROUP_SOCKOPT`: cgroup getsockopt/setsockopt.
    public static let cgroupSockopt = ProgramType(rawValue: 25)
    /// `BPF_PROG_TYPE_TRACING`: BTF-typed tracing (tp_btf, fentry, fexit, fmod_ret, iter).
    public static let tracing = ProgramType(rawValue: 26)
    /// `BPF_PROG_TYPE_STRUCT_OPS`: implementations of kernel ops structures.
    public static let structOps = ProgramType(rawValue: 27)
    /// `BPF_PROG_TYPE_EXT`: freplace, replacing a function of another BPF program.
    public static let ext = ProgramType(rawValue: 28)
    /// `BPF_PROG_TYPE_LSM`: Linux Security Module hooks.
    public static let lsm = ProgramType(rawValue: 29)
    /// `BPF_PROG_TYPE_SK_LOOKUP`: socket lookup (per network namespace).
    public static let skLookup = ProgramType(rawValue: 30)
    /// `BPF_PROG_TYPE_SYSCALL`: programs that call bpf() themselves (run with `BPF_PROG_TEST_RUN`).
    public static let syscall = ProgramType(rawValue: 31)
    /// `BPF_PROG_TYPE_NETFILTER`: netfilter hooks.
    public static let netfilter = ProgramType(rawValue: 32)
}
