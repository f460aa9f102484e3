// The kernel's `enum bpf_attach_type`, as data.
//
// Raw values: <linux/bpf.h>. Names: libbpf's `libbpf_bpf_attach_type_str()`, which bpftool prints
// (`bpftool cgroup show`, `bpftool link show`). Unknown raw values are kept and print as `type N`.

/// A BPF attach type (`enum bpf_attach_type`): the hook a program is attached to, and for several program
/// types the `expected_attach_type` it must be loaded with. Wraps the raw value so values newer than this
/// table survive intact.
public struct AttachType: KernelEnumeration {
    /// The kernel's value (`expected_attach_type`, `attach_type`).
    public let rawValue: UInt32

    /// Wraps a raw kernel value; any value is accepted (unknown ones print as `type N`).
    public init(rawValue: UInt32) { self.rawValue = rawValue }



    /// Every attach type this table knows, in raw-value order (row i has raw value i). Values from 58
    /// (`trace_fsession`) on are newer than the 6.18 kernel of the test machines (libbpf's copy of the
    /// bpf-next UAPI).
    public static let table: [KernelEnumName] = [
        KernelEnumName(0, "BPF_CGROUP_INET_INGRESS", "cgroup_inet_ingress"),
        KernelEnumName(1, "BPF_CGROUP_INET_EGRESS", "cgroup_inet_egress"),
        KernelEnumName(2, "BPF_CGROUP_INET_SOCK_CREATE", "cgroup_inet_sock_create"),
        KernelEnumName(3, "BPF_CGROUP_SOCK_OPS", "cgroup_sock_ops"),
        KernelEnumName(4, "BPF_SK_SKB_STREAM_PARSER", "sk_skb_stream_parser"),
        KernelEnumName(5, "BPF_SK_SKB_STREAM_VERDICT", "sk_skb_stream_verdict"),
        KernelEnumName(6, "BPF_CGROUP_DEVICE", "cgroup_device"),
        KernelEnumName(7, "BPF_SK_MSG_VERDICT", "sk_msg_verdict"),
        KernelEnumName(8, "BPF_CGROUP_INET4_BIND", "cgroup_inet4_bind"),
        KernelEnumName(9, "BPF_CGROUP_INET6_BIND", "cgroup_inet6_bind"),
        KernelEnumName(10, "BPF_CGROUP_INET4_CONNECT", "cgroup_inet4_connect"),
        KernelEnumName(11, "BPF_CGROUP_INET6_CONNECT", "cgroup_inet6_connect"),
        KernelEnumName(12, "BPF_CGROUP_INET4_POST_BIND", "cgroup_inet4_post_bind"),
        KernelEnumName(13, "BPF_CGROUP_INET6_POST_BIND", "cgroup_inet6_post_bind"),
        KernelEnumName(14, "BPF_CGROUP_UDP4_SENDMSG", "cgroup_udp4_sendmsg"),
        KernelEnumName(15, "BPF_CGROUP_UDP6_SENDMSG", "cgroup_udp6_sendmsg"),
        KernelEnumName(16, "BPF_LIRC_MODE2", "lirc_mode2"),
        KernelEnumName(17, "BPF_FLOW_DISSECTOR", "flow_dissector"),
        KernelEnumName(18, "BPF_CGROUP_SYSCTL", "cgroup_sysctl"),
        KernelEnumName(19, "BPF_CGROUP_UDP4_RECVMSG", "cgroup_udp4_recvmsg"),
        KernelEnumName(20, "BPF_CGROUP_UDP6_RECVMSG", "cgroup_udp6_recvmsg"),
        KernelEnumName(21, "BPF_CGROUP_GETSOCKOPT", "cgroup_getsockopt"),
        KernelEnumName(22, "BPF_CGROUP_SETSOCKOPT", "cgroup_setsockopt"),
        KernelEnumName(23, "BPF_TRACE_RAW_TP", "trace_raw_tp"),
        KernelEnumName(24, "BPF_TRACE_FENTRY", "trace_fentry"),
        KernelEnumName(25, "BPF_TRACE_FEXIT", "trace_fexit"),
        KernelEnumName(26, "BPF_MODIFY_RETURN", "modify_return"),
        KernelEnumName(27, "BPF_LSM_MAC", "lsm_mac"),
        KernelEnumName(28, "BPF_TRACE_ITER", "trace_iter"),
        KernelEnumName(29, "BPF_CGROUP_INET4_GETPEERNAME", "cgroup_inet4_getpeername"),
        KernelEnumName(30, "BPF_CGROUP_INET6_GETPEERNAME", "cgroup_inet6_getpeername"),
        KernelEnumName(31, "BPF_CGROUP_INET4_GETSOCKNAME", "cgroup_inet4_getsockname"),
        KernelEnumName(32, "BPF_CGROUP_INET6_GETSOCKNAME", "cgroup_inet6_getsockname"),
        KernelEnumName(33, "BPF_XDP_DEVMAP", "xdp_devmap"),
        KernelEnumName(34, "BPF_CGROUP_INET_SOCK_RELEASE", "cgroup_inet_sock_release"),
        KernelEnumName(35, "BPF_XDP_CPUMAP", "xdp_cpumap"),
        KernelEnumName(36, "BPF_SK_LOOKUP", "sk_lookup"),
        KernelEnumName(37, "BPF_XDP", "xdp"),
        KernelEnumName(38, "BPF_SK_SKB_VERDICT", "sk_skb_verdict"),
        KernelEnumName(39, "BPF_SK_REUSEPORT_SELECT", "sk_reuseport_select"),
        KernelEnumName(40, "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE", "sk_reuseport_select_or_migrate"),
        KernelEnumName(41, "BPF_PERF_EVENT", "perf_event"),
        KernelEnumName(42, "BPF_TRACE_KPROBE_MULTI", "trace_kprobe_multi"),
        KernelEnumName(43, "BPF_LSM_CGROUP", "lsm_cgroup"),
        KernelEnumName(44, "BPF_STRUCT_OPS", "struct_ops"),
        KernelEnumName(45, "BPF_NETFILTER", "netfilter"),
        KernelEnumName(46, "BPF_TCX_INGRESS", "tcx_ingress"),
        KernelEnumName(47, "BPF_TCX_EGRESS", "tcx_egress"),
        KernelEnumName(48, "BPF_TRACE_UPROBE_MULTI", "trace_uprobe_multi"),
        KernelEnumName(49, "BPF_CGROUP_UNIX_CONNECT", "cgroup_unix_connect"),
        KernelEnumName(50, "BPF_CGROUP_UNIX_SENDMSG", "cgroup_unix_sendmsg"),
        KernelEnumName(51, "BPF_CGROUP_UNIX_RECVMSG", "cgroup_unix_recvmsg"),
        KernelEnumName(52, "BPF_CGROUP_UNIX_GETPEERNAME", "cgroup_unix_getpeername"),
        KernelEnumName(53, "BPF_CGROUP_UNIX_GETSOCKNAME", "cgroup_unix_getsockname"),
        KernelEnumName(54, "BPF_NETKIT_PRIMARY", "netkit_primary"),
        KernelEnumName(55, "BPF_NETKIT_PEER", "netkit_peer"),
        KernelEnumName(56, "BPF_TRACE_KPROBE_SESSION", "trace_kprobe_session"),
        KernelEnumName(57, "BPF_TRACE_UPROBE_SESSION", "trace_uprobe_session"),
        KernelEnumName(58, "BPF_TRACE_FSESSION", "trace_fsession"),
        KernelEnumName(59, "BPF_TRACE_FENTRY_MULTI", "trace_fentry_multi"),
        KernelEnumName(60, "BPF_TRACE_FEXIT_MULTI", "trace_fexit_multi"),
        KernelEnumName(61, "BPF_TRACE_FSESSION_MULTI", "trace_fsession_multi"),
    ]
}

extension AttachType {
    /// `BPF_CGROUP_INET_INGRESS`.
    public static let cgroupInetIngress = AttachType(rawValue: 0)
    /// `BPF_CGROUP_INET_EGRESS`.
    public static let cgroupInetEgress = AttachType(rawValue: 1)
    /// `BPF_CGROUP_INET_SOCK_CREATE`.
    public static let cgroupInetSockCreate = AttachType(rawValue: 2)
    /// `BPF_CGROUP_SOCK_OPS`.
    public static let cgroupSockOps = AttachType(rawValue: 3)
    /// `BPF_SK_SKB_STREAM_PARSER`.
    public static let skSKBStreamParser = AttachType(rawValue: 4)
    /// `BPF_SK_SKB_STREAM_VERDICT`.
    public static let skSKBStreamVerdict = AttachType(rawValue: 5)
    /// `BPF_CGROUP_DEVICE`.
    public static let cgroupDevice = AttachType(rawValue: 6)
    /// `BPF_SK_MSG_VERDICT`.
    public static let skMsgVerdict = AttachType(rawValue: 7)
    /// `BPF_CGROUP_INET4_BIND`.
    public static let cgroupInet4Bind = AttachType(rawValue: 8)
    /// `BPF_CGROUP_INET6_BIND`.
    public static let cgroupInet6Bind = AttachType(rawValue: 9)
    /// `BPF_CGROUP_INET4_CONNECT`.
    public static let cgroupInet4Connect = AttachType(rawValue: 10)
    /// `BPF_CGROUP_INET6_CONNECT`.
    public static let cgroupInet6Connect = AttachType(rawValue: 11)
    /// `BPF_CGROUP_INET4_POST_BIND`.
    public static let cgroupInet4PostBind = AttachType(rawValue: 12)
    /// `BPF_CGROUP_INET6_POST_BIND`.
    public static let cgroupInet6PostBind = AttachType(rawValue: 13)
    /// `BPF_CGROUP_UDP4_SENDMSG`.
    public static let cgroupUDP4Sendmsg = AttachType(rawValue: 14)
    /// `BPF_CGROUP_UDP6_SENDMSG`.
    public static let cgroupUDP6Sendmsg = AttachType(rawValue: 15)
    /// `BPF_LIRC_MODE2`.
    public static let lircMode2 = AttachType(rawValue: 16)
    /// `BPF_FLOW_DISSECTOR`.
    public static let flowDissector = AttachType(rawValue: 17)
    /// `BPF_CGROUP_SYSCTL`.
    public static let cgroupSysctl = AttachType(rawValue: 18)
    /// `BPF_CGROUP_UDP4_RECVMSG`.
    public static let cgroupUDP4Recvmsg = AttachType(rawValue: 19)
    /// `BPF_CGROUP_UDP6_RECVMSG`.
    public static let cgroupUDP6Recvmsg = AttachType(rawValue: 20)
    /// `BPF_CGROUP_GETSOCKOPT`.
    public static let cgroupGetsockopt = AttachType(rawValue: 21)
    /// `BPF_CGROUP_SETSOCKOPT`.
    public static let cgroupSetsockopt = AttachType(rawValue: 22)
    /// `BPF_TRACE_RAW_TP`.
    public static let traceRawTP = AttachType(rawValue: 23)
    /// `BPF_TRACE_FENTRY`.
    public static let traceFentry = AttachType(rawValue: 24)
    /// `BPF_TRACE_FEXIT`.
    public static let traceFexit = AttachType(rawValue: 25)
    /// `BPF_MODIFY_RETURN`.
    public static let modifyReturn = AttachType(rawValue: 26)
    /// `BPF_LSM_MAC`.
    public static let lsmMac = AttachType(rawValue: 27)
    /// `BPF_TRACE_ITER`.
    public static let traceIter = AttachType(rawValue: 28)
    /// `BPF_CGROUP_INET4_GETPEERNAME`.
    public static let cgroupInet4Getpeername = AttachType(rawValue: 29)
    /// `BPF_CGROUP_INET6_GETPEERNAME`.
    public static let cgroupInet6Getpeername = AttachType(rawValue: 30)
    /// `BPF_CGROUP_INET4_GETSOCKNAME`.
    public static let cgroupInet4Getsockname = AttachType(rawValue: 31)
    /// `BPF_CGROUP_INET6_GETSOCKNAME`.
    public static let cgroupInet6Getsockname = AttachType(rawValue: 32)
    /// `BPF_XDP_DEVMAP`.
    public static let xdpDevmap = AttachType(rawValue: 33)
    /// `BPF_CGROUP_INET_SOCK_RELEASE`.
    public static let cgroupInetSockRelease = AttachType(rawValue: 34)
    /// `BPF_XDP_CPUMAP`.
    public static let xdpCpumap = AttachType(rawValue: 35)
    /// `BPF_SK_LOOKUP`.
    public static let skLookup = AttachType(rawValue: 36)
    /// `BPF_XDP`.
    public static let xdp = AttachType(rawValue: 37)
    /// `BPF_SK_SKB_VERDICT`.
    public static let skSKBVerdict = AttachType(rawValue: 38)
    /// `BPF_SK_REUSEPORT_SELECT`.
    public static let skReuseportSelect = AttachType(rawValue: 39)
    /// `BPF_SK_REUSEPORT_SELECT_OR_MIGRATE`.
    public static let skReuseportSelectOrMigrate = AttachType(rawValue: 40)
    /// `BPF_PERF_EVENT`.
    public static let perfEvent = AttachType(rawValue: 41)
    /// `BPF_TRACE_KPROBE_MULTI`.
    public static let traceKprobeMulti = AttachType(rawValue: 42)
    /// `BPF_LSM_CGROUP`.
    public static let lsmCgroup = AttachType(rawValue: 43)
    /// `BPF_STRUCT_OPS`.
    public static let structOps = AttachType(rawValue: 44)
    /// `BPF_NETFILTER`.
    public static let netfilter = AttachType(rawValue: 45)
    /// `BPF_TCX_INGRESS`.
    public static let tcxIngress = AttachType(rawValue: 46)
    /// `BPF_TCX_EGRESS`.
    public static let tcxEgress = AttachType(rawValue: 47)
    /// `BPF_TRACE_UPROBE_MULTI`.
    public static let traceUprobeMulti = AttachType(rawValue: 48)
    /// `BPF_CGROUP_UNIX_CONNECT`.
    public static let cgroupUnixConnect = AttachType(rawValue: 49)
    /// `BPF_CGROUP_UNIX_SENDMSG`.
    public static let cgroupUnixSendmsg = AttachType(rawValue: 50)
    /// `BPF_CGROUP_UNIX_RECVMSG`.
    public static let cgroupUnixRecvmsg = AttachType(rawValue: 51)
    /// `BPF_CGROUP_UNIX_GETPEERNAME`.
    public static let cgroupUnixGetpeername = AttachType(rawValue: 52)
    /// `BPF_CGROUP_UNIX_GETSOCKNAME`.
    public static let cgroupUnixGetsockname = AttachType(rawValue: 53)
    /// `BPF_NETKIT_PRIMARY`.
    public static let netkitPrimary = AttachType(rawValue: 54)
    /// `BPF_NETKIT_PEER`.
    public static let netkitPeer = AttachType(rawValue: 55)
    /// `BPF_TRACE_KPROBE_SESSION`.
    public static let traceKprobeSession = AttachType(rawValue: 56)
    /// `BPF_TRACE_UPROBE_SESSION`.
    public static let traceUprobeSession = AttachType(rawValue: 57)
    /// `BPF_TRACE_FSESSION`.
    public static let traceFsession = AttachType(rawValue: 58)
    /// `BPF_TRACE_FENTRY_MULTI`.
    public static let traceFentryMulti = AttachType(rawValue: 59)
    /// `BPF_TRACE_FEXIT_MULTI`.
    public static let traceFexitMulti = AttachType(rawValue: 60)
    /// `BPF_TRACE_FSESSION_MULTI`.
    public static let traceFsessionMulti = AttachType(rawValue: 61)
}
