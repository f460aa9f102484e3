import Testing

@testable import BPFObject

/// One real section name and what libbpf makes of it.
struct SectionCase: Sendable, CustomTestStringConvertible {
    let section: String
    let programType: ProgramType
    let attachType: AttachType?
    /// nil: reading the attach target from the name must fail.
    let target: AttachTarget?

    init(_ section: String, _ programType: ProgramType, _ attachType: AttachType?, _ target: AttachTarget?) {
        self.section = section
        self.programType = programType
        self.attachType = attachType
        self.target = target
    }

    var testDescription: String { section }
}

/// Section names from REFERENCE.md §6, libbpf's selftests and its tricky corners.
let sectionCases: [SectionCase] = [
    SectionCase("socket", .socketFilter, nil, .needsTarget(.socketFilter)),
    SectionCase("sk_reuseport", .skReuseport, .skReuseportSelect, .needsTarget(.skReuseport)),
    SectionCase("sk_reuseport/migrate", .skReuseport, .skReuseportSelectOrMigrate, .needsTarget(.skReuseport)),
    SectionCase("kprobe", .kprobe, nil, .needsTarget(.kprobe)),
    SectionCase("kprobe/do_sys_openat2", .kprobe, nil, .kprobe(function: "do_sys_openat2", offset: 0, isReturn: false)),
    SectionCase("kprobe/tcp_v4_connect+0x10", .kprobe, nil, .kprobe(function: "tcp_v4_connect", offset: 16, isReturn: false)),
    SectionCase("kprobe/f+16", .kprobe, nil, .kprobe(function: "f", offset: 16, isReturn: false)),
    SectionCase("kprobe/f+zz", .kprobe, nil, nil),
    SectionCase("kprobe/", .kprobe, nil, nil),
    SectionCase("kretprobe/do_sys_openat2", .kprobe, nil, .kprobe(function: "do_sys_openat2", offset: 0, isReturn: true)),
    SectionCase("kretprobe/f+0x10", .kprobe, nil, nil),
    SectionCase("ksyscall/execve", .kprobe, nil, .ksyscall(name: "execve", isReturn: false)),
    SectionCase("kretsyscall/openat", .kprobe, nil, .ksyscall(name: "openat", isReturn: true)),
    SectionCase("uprobe", .kprobe, nil, .needsTarget(.uprobe)),
    SectionCase(
        "uprobe//usr/lib/libc.so.6:malloc", .kprobe, nil,
        .uprobe(path: "/usr/lib/libc.so.6", symbol: "malloc", offset: 0, isReturn: false, sleepable: false)),
    SectionCase(
        "uprobe.s//usr/lib/libc.so.6:malloc", .kprobe, nil,
        .uprobe(path: "/usr/lib/libc.so.6", symbol: "malloc", offset: 0, isReturn: false, sleepable: true)),
    SectionCase(
        "uretprobe//bin/bash:readline", .kprobe, nil,
        .uprobe(path: "/bin/bash", symbol: "readline", offset: 0, isReturn: true, sleepable: false)),
    SectionCase(
        "uprobe/libc.so.6:malloc+0x4", .kprobe, nil,
        .uprobe(path: "libc.so.6", symbol: "malloc", offset: 4, isReturn: false, sleepable: false)),
    SectionCase(
        "uprobe//bin/true:0x1234", .kprobe, nil,
        .uprobe(path: "/bin/true", symbol: nil, offset: 0x1234, isReturn: false, sleepable: false)),
    SectionCase("uprobe/x", .kprobe, nil, nil),
    SectionCase("uprobe//bin/true:", .kprobe, nil, nil),
    SectionCase("uretprobe//bin/bash:readline+4", .kprobe, nil, nil),
    SectionCase(
        "uprobe.multi//usr/lib/libc.so.6:mal*", .kprobe, .traceUprobeMulti,
        .uprobeMulti(path: "/usr/lib/libc.so.6", pattern: "mal*", isReturn: false, isSession: false, sleepable: false)),
    SectionCase(
        "uretprobe.multi.s//bin/x:f*", .kprobe, .traceUprobeMulti,
        .uprobeMulti(path: "/bin/x", pattern: "f*", isReturn: true, isSession: false, sleepable: true)),
    SectionCase("kprobe.multi/vfs_*", .kprobe, .traceKprobeMulti, .kprobeMulti(pattern: "vfs_*", isReturn: false, isSession: false)),
    SectionCase("kretprobe.multi/tcp_?", .kprobe, .traceKprobeMulti, .kprobeMulti(pattern: "tcp_?", isReturn: true, isSession: false)),
    SectionCase("kprobe.session/do_*", .kprobe, .traceKprobeSession, .kprobeMulti(pattern: "do_*", isReturn: false, isSession: true)),
    SectionCase("usdt", .kprobe, nil, .needsTarget(.usdt)),
    SectionCase("usdt//usr/lib/libc.so.6:libc:setjmp", .kprobe, nil, .usdt(path: "/usr/lib/libc.so.6", provider: "libc", name: "setjmp")),
    SectionCase("usdt//usr/lib/libc.so.6:libc", .kprobe, nil, nil),
    SectionCase("tracepoint", .tracepoint, nil, .needsTarget(.tracepoint)),
    SectionCase(
        "tracepoint/syscalls/sys_enter_execve", .tracepoint, nil,
        .tracepoint(category: "syscalls", name: "sys_enter_execve")),
    SectionCase("tp/sched/sched_switch", .tracepoint, nil, .tracepoint(category: "sched", name: "sched_switch")),
    SectionCase(
        "tracepoint.s/syscalls/sys_enter_openat", .tracepoint, nil,
        .tracepoint(category: "syscalls", name: "sys_enter_openat")),
    SectionCase("tp/", .tracepoint, nil, nil),
    SectionCase("tp/sched", .tracepoint, nil, nil),
    SectionCase("raw_tp/sched_switch", .rawTracepoint, nil, .rawTracepoint(name: "sched_switch")),
    SectionCase("raw_tracepoint/sys_enter", .rawTracepoint, nil, .rawTracepoint(name: "sys_enter")),
    SectionCase("raw_tp.w/bpf_test_finish", .rawTracepointWritable, nil, .rawTracepoint(name: "bpf_test_finish")),
    SectionCase("?raw_tp/x", .rawTracepoint, nil, .rawTracepoint(name: "x")),
    SectionCase("raw_tp/", .rawTracepoint, nil, nil),
    SectionCase("tp_btf/sched_switch", .tracing, .traceRawTP, .btfTracepoint(name: "sched_switch")),
    SectionCase("fentry", .tracing, .traceFentry, .needsTarget(.fentry)),
    SectionCase("fentry/vfs_read", .tracing, .traceFentry, .fentry(function: "vfs_read")),
    SectionCase("fexit/vfs_write", .tracing, .traceFexit, .fexit(function: "vfs_write")),
    SectionCase("fmod_ret/bpf_modify_return_test", .tracing, .modifyReturn, .fmodRet(function: "bpf_modify_return_test")),
    SectionCase("fentry.s/bpf_fentry_test1", .tracing, .traceFentry, .fentry(function: "bpf_fentry_test1")),
    SectionCase("fexit.s/bpf_fentry_test1", .tracing, .traceFexit, .fexit(function: "bpf_fentry_test1")),
    SectionCase("freplace/bar", .ext, nil, .freplace(function: "bar")),
    SectionCase("lsm/file_open", .lsm, .lsmMac, .lsm(hook: "file_open")),
    SectionCase("lsm.s/file_open", .lsm, .lsmMac, .lsm(hook: "file_open")),
    SectionCase("lsm_cgroup/socket_bind", .lsm, .lsmCgroup, .needsTarget(.lsmCgroup)),
    SectionCase("iter/task", .tracing, .traceIter, .iter(name: "task")),
    SectionCase("iter.s/task", .tracing, .traceIter, .iter(name: "task")),
    SectionCase("syscall", .syscall, nil, .indirect(.syscall)),
    SectionCase("xdp", .xdp, .xdp, .needsTarget(.xdp)),
    SectionCase("xdp.frags", .xdp, .xdp, .needsTarget(.xdp)),
    SectionCase("xdp/devmap", .xdp, .xdpDevmap, .indirect(.xdpMapEntry)),
    SectionCase("xdp.frags/devmap", .xdp, .xdpDevmap, .indirect(.xdpMapEntry)),
    SectionCase("xdp/cpumap", .xdp, .xdpCpumap, .indirect(.xdpMapEntry)),
    SectionCase("xdp.frags/cpumap", .xdp, .xdpCpumap, .indirect(.xdpMapEntry)),
    SectionCase("tc", .schedCls, nil, .needsTarget(.tcLegacy)),
    SectionCase("classifier", .schedCls, nil, .needsTarget(.tcLegacy)),
    SectionCase("action", .schedAct, nil, .needsTarget(.tcLegacy)),
    SectionCase("tcx/ingress", .schedCls, .tcxIngress, .needsTarget(.tcx)),
    SectionCase("tcx/egress", .schedCls, .tcxEgress, .needsTarget(.tcx)),
    SectionCase("tc/ingress", .schedCls, .tcxIngress, .needsTarget(.tcx)),
    SectionCase("tc/egress", .schedCls, .tcxEgress, .needsTarget(.tcx)),
    SectionCase("netkit/primary", .schedCls, .netkitPrimary, .needsTarget(.netkit)),
    SectionCase("netkit/peer", .schedCls, .netkitPeer, .needsTarget(.netkit)),
    SectionCase("perf_event", .perfEvent, nil, .needsTarget(.perfEvent)),
    SectionCase("lwt_in", .lwtIn, nil, .needsTarget(.lwt)),
    SectionCase("lwt_out", .lwtOut, nil, .needsTarget(.lwt)),
    SectionCase("lwt_xmit", .lwtXmit, nil, .needsTarget(.lwt)),
    SectionCase("lwt_seg6local", .lwtSeg6Local, nil, .needsTarget(.lwt)),
    SectionCase("sockops", .sockOps, .cgroupSockOps, .needsTarget(.cgroup)),
    SectionCase("sk_skb/stream_parser", .skSKB, .skSKBStreamParser, .needsTarget(.sockmap)),
    SectionCase("sk_skb/stream_verdict", .skSKB, .skSKBStreamVerdict, .needsTarget(.sockmap)),
    SectionCase("sk_skb/verdict", .skSKB, .skSKBVerdict, .needsTarget(.sockmap)),
    SectionCase("sk_skb", .skSKB, nil, .needsTarget(.sockmap)),
    SectionCase("sk_msg", .skMsg, .skMsgVerdict, .needsTarget(.sockmap)),
    SectionCase("lirc_mode2", .lircMode2, .lircMode2, .needsTarget(.lircMode2)),
    SectionCase("flow_dissector", .flowDissector, .flowDissector, .needsTarget(.netns)),
    SectionCase("cgroup_skb/ingress", .cgroupSKB, .cgroupInetIngress, .needsTarget(.cgroup)),
    SectionCase("cgroup_skb/egress", .cgroupSKB, .cgroupInetEgress, .needsTarget(.cgroup)),
    SectionCase("cgroup/skb", .cgroupSKB, nil, .needsTarget(.cgroup)),
    SectionCase("cgroup/sock_create", .cgroupSock, .cgroupInetSockCreate, .needsTarget(.cgroup)),
    SectionCase("cgroup/sock_release", .cgroupSock, .cgroupInetSockRelease, .needsTarget(.cgroup)),
    SectionCase("cgroup/sock", .cgroupSock, .cgroupInetSockCreate, .needsTarget(.cgroup)),
    SectionCase("cgroup/post_bind4", .cgroupSock, .cgroupInet4PostBind, .needsTarget(.cgroup)),
    SectionCase("cgroup/post_bind6", .cgroupSock, .cgroupInet6PostBind, .needsTarget(.cgroup)),
    SectionCase("cgroup/bind4", .cgroupSockAddr, .cgroupInet4Bind, .needsTarget(.cgroup)),
    SectionCase("cgroup/bind6", .cgroupSockAddr, .cgroupInet6Bind, .needsTarget(.cgroup)),
    SectionCase("cgroup/connect4", .cgroupSockAddr, .cgroupInet4Connect, .needsTarget(.cgroup)),
    SectionCase("cgroup/connect6", .cgroupSockAddr, .cgroupInet6Connect, .needsTarget(.cgroup)),
    SectionCase("cgroup/connect_unix", .cgroupSockAddr, .cgroupUnixConnect, .needsTarget(.cgroup)),
    SectionCase("cgroup/sendmsg4", .cgroupSockAddr, .cgroupUDP4Sendmsg, .needsTarget(.cgroup)),
    SectionCase("cgroup/sendmsg6", .cgroupSockAddr, .cgroupUDP6Sendmsg, .needsTarget(.cgroup)),
    SectionCase("cgroup/recvmsg4", .cgroupSockAddr, .cgroupUDP4Recvmsg, .needsTarget(.cgroup)),
    SectionCase("cgroup/recvmsg6", .cgroupSockAddr, .cgroupUDP6Recvmsg, .needsTarget(.cgroup)),
    SectionCase("cgroup/getpeername4", .cgroupSockAddr, .cgroupInet4Getpeername, .needsTarget(.cgroup)),
    SectionCase("cgroup/getsockname6", .cgroupSockAddr, .cgroupInet6Getsockname, .needsTarget(.cgroup)),
    SectionCase("cgroup/sysctl", .cgroupSysctl, .cgroupSysctl, .needsTarget(.cgroup)),
    SectionCase("cgroup/getsockopt", .cgroupSockopt, .cgroupGetsockopt, .needsTarget(.cgroup)),
    SectionCase("cgroup/setsockopt", .cgroupSockopt, .cgroupSetsockopt, .needsTarget(.cgroup)),
    SectionCase("cgroup/dev", .cgroupDevice, .cgroupDevice, .needsTarget(.cgroup)),
    SectionCase("struct_ops", .structOps, nil, .indirect(.structOps)),
    SectionCase("struct_ops/foo", .structOps, nil, .indirect(.structOps)),
    SectionCase("struct_ops.s/foo", .structOps, nil, .indirect(.structOps)),
    SectionCase("sk_lookup", .skLookup, .skLookup, .needsTarget(.netns)),
    SectionCase("netfilter", .netfilter, .netfilter, .needsTarget(.netfilter)),
]

/// Names that match no definition (libbpf agrees: `libbpf_prog_type_by_name` fails with ESRCH).
let unknownSections = [
    "foo/bar", "kprobex", "kprobex/f", "xdp_foo", "socket/eth0", ".text", "?foo", "cgroup/connect4x",
    "sk_reuseport/other", "tcx", "tcx/ingress/eth0", "", "?",
]

@Suite struct SectionDefinitionsTests {
    @Test(arguments: sectionCases)
    func matchesLikeLibbpf(_ c: SectionCase) throws {
        let section = try ProgramSection(c.section)
        #expect(section.programType == c.programType)
        #expect(section.expectedAttachType == c.attachType)
        #expect(section.autoload == !c.section.hasPrefix("?"))
        if let expected = c.target {
            #expect(try section.attachTarget() == expected)
            // The same text is also a valid --attach spec with the same meaning (no '?').
            if !c.section.hasPrefix("?") {
                #expect(try AttachTarget(spec: c.section) == expected)
            }
        } else {
            #expect(throws: AttachSpecError.self) { try section.attachTarget() }
        }
    }

    @Test(arguments: unknownSections)
    func unknownSectionsAreErrors(_ name: String) {
        #expect(throws: UnknownSectionError.self) { try ProgramSection(name) }
    }

    @Test func unknownSectionErrorNamesSectionAndKnownNames() {
        do {
            _ = try ProgramSection("foo/bar")
            Issue.record("foo/bar matched")
        } catch {
            #expect(error.sectionName == "foo/bar")
            #expect(error.description.hasPrefix("unknown section 'foo/bar'"))
            #expect(error.description.contains("kprobe+"))
            #expect(error.knownPatterns.count == SectionDefinition.table.count)
        }
    }

    @Test func questionMarkMeansNoAutoload() throws {
        let section = try ProgramSection("?raw_tp/x")
        #expect(!section.autoload)
        #expect(section.name == "raw_tp/x")
        #expect(section.sectionName == "?raw_tp/x")
        #expect(try ProgramSection("raw_tp/x").autoload)
    }

    @Test func sleepableAndFragsLoadFlags() throws {
        #expect(try ProgramSection("uprobe.s//bin/x:f").loadFlags == ProgramSection.sleepableLoadFlag)
        #expect(try ProgramSection("lsm.s/file_open").isSleepable)
        #expect(try ProgramSection("iter.s/task").isSleepable)
        #expect(try ProgramSection("syscall").isSleepable)
        #expect(try ProgramSection("struct_ops.s/foo").isSleepable)
        #expect(try !ProgramSection("lsm/file_open").isSleepable)
        #expect(try ProgramSection("xdp.frags").loadFlags == ProgramSection.xdpHasFragsLoadFlag)
        #expect(try ProgramSection("xdp.frags/devmap").loadFlags == ProgramSection.xdpHasFragsLoadFlag)
        #expect(try ProgramSection("xdp").loadFlags == 0)
        #expect(ProgramSection.sleepableLoadFlag == 16 && ProgramSection.xdpHasFragsLoadFlag == 32)
    }

    @Test func firstMatchWinsInTableOrder() throws {
        // `uprobe.s/…` is not `uprobe+` (the word must be followed by '/' or end), so it reaches `uprobe.s+`.
        #expect(SectionDefinition.find("uprobe.s//x:f")?.pattern == "uprobe.s+")
        #expect(SectionDefinition.find("sk_reuseport/migrate")?.pattern == "sk_reuseport/migrate")
        #expect(SectionDefinition.find("tc/ingress")?.pattern == "tc/ingress")
        #expect(SectionDefinition.find("tc")?.pattern == "tc")
        #expect(SectionDefinition.find("cgroup/sock")?.pattern == "cgroup/sock")
        #expect(SectionDefinition.find("cgroup/sock_create")?.pattern == "cgroup/sock_create")
        #expect(SectionDefinition.find("xdp.frags/devmap")?.pattern == "xdp.frags/devmap")
    }

    @Test func matchRules() {
        let plus = SectionDefinition("kprobe+", .kprobe, nil, [], .kprobe)
        #expect(plus.matchRule == .wordOrSlash)
        #expect(plus.matches("kprobe") && plus.matches("kprobe/") && plus.matches("kprobe/f"))
        #expect(!plus.matches("kprobex") && !plus.matches("kprob") && !plus.matches("xkprobe"))
        let slash = SectionDefinition("sec/", .kprobe, nil, [], .kprobe)
        #expect(slash.matchRule == .prefixWithMore)
        #expect(slash.matches("sec/x") && !slash.matches("sec/") && !slash.matches("sec"))
        #expect(slash.suffix(of: "sec/x") == "x")
        let exact = SectionDefinition("xdp", .xdp, .xdp, [], .xdp)
        #expect(exact.matchRule == .exact)
        #expect(exact.matches("xdp") && !exact.matches("xdp/") && !exact.matches("xd"))
        #expect(plus.suffix(of: "kprobe") == nil)
        #expect(plus.suffix(of: "kprobe/") == "")
        #expect(plus.suffix(of: "kprobe/f+1") == "f+1")
    }

    @Test func tableRowsAreWellFormed() {
        var seen = Set<String>()
        for row in SectionDefinition.table {
            #expect(!row.pattern.isEmpty)
            #expect(seen.insert(row.pattern).inserted, "duplicate pattern \(row.pattern)")
            #expect(row.programType.name != nil, "\(row.pattern): unknown program type")
            if let attach = row.expectedAttachType { #expect(attach.name != nil, "\(row.pattern)") }
            // `.s` in the pattern exactly when the row is sleepable (plus `syscall`, always sleepable).
            let hasDotS = row.prefix.hasSuffix(".s") || row.prefix.contains(".s/")
            #expect(hasDotS == row.isSleepable || row.pattern == "syscall", "\(row.pattern)")
            #expect(row.flags.contains(.xdpFrags) == row.pattern.hasPrefix("xdp.frags"))
            #expect(row.flags.contains(.attachBTF) == (row.programType == .tracing && row.mechanism != .tracingMulti
                    || row.programType == .ext || row.programType == .lsm), "\(row.pattern)")
        }
        #expect(SectionDefinition.table.count == 116)
    }

    @Test func btfAttachNames() throws {
        #expect(try ProgramSection("fentry/vfs_read").btfAttachName == BTFAttachName(parsing: "vfs_read"))
        let mod = try #require(try ProgramSection("fentry/nf_tables:nft_do_chain").btfAttachName)
        #expect(mod.module == "nf_tables" && mod.name == "nft_do_chain")
        #expect(mod.description == "nf_tables:nft_do_chain")
        #expect(try ProgramSection("fentry").btfAttachName == nil)
        #expect(try ProgramSection("kprobe/f").btfAttachName == nil)
        #expect(try ProgramSection("iter/bpf_map_elem").btfAttachName?.name == "bpf_map_elem")
        #expect(try ProgramSection("lsm/file_open").needsBTFAttachTarget)
    }

    @Test func fullyNamesTarget() throws {
        let auto = [
            "tracepoint/syscalls/sys_enter_execve", "tp/a/b", "raw_tp/x", "tp_btf/x", "kprobe/f", "kretprobe/f",
            "ksyscall/execve", "uprobe//bin/x:f", "usdt//bin/x:p:n", "fentry/f", "fexit/f", "lsm/h", "iter/task",
            "kprobe.multi/f*", "uprobe.multi//bin/x:f*",
        ]
        for name in auto {
            #expect(try ProgramSection(name).attachTarget().fullyNamesTarget, "\(name)")
            #expect(try ProgramSection(name).definition.supportsAutoAttach, "\(name)")
        }
        let manual = [
            "kprobe", "xdp", "tcx/ingress", "cgroup/connect4", "socket", "struct_ops/x", "syscall", "freplace/f",
            "sk_skb/verdict", "perf_event", "lsm_cgroup/x", "tracepoint", "usdt",
        ]
        for name in manual {
            #expect(try !ProgramSection(name).attachTarget().fullyNamesTarget, "\(name)")
        }
    }
}

@Suite struct AttachSpecTests {
    @Test func interfaceForms() throws {
        #expect(try AttachTarget(spec: "xdp/eth0") == .xdp(interface: "eth0"))
        #expect(try AttachTarget(spec: "xdp.frags/lo") == .xdp(interface: "lo"))
        #expect(try AttachTarget(spec: "tcx/ingress/eth0") == .tcx(direction: .ingress, interface: "eth0"))
        #expect(try AttachTarget(spec: "tcx/egress/veth1") == .tcx(direction: .egress, interface: "veth1"))
        #expect(try AttachTarget(spec: "tc/egress/veth1") == .tcx(direction: .egress, interface: "veth1"))
        #expect(try AttachTarget(spec: "netkit/peer/nk0") == .netkit(peer: true, interface: "nk0"))
        #expect(try AttachTarget(spec: "netkit/primary/nk0") == .netkit(peer: false, interface: "nk0"))
        #expect(try AttachTarget(spec: "socket/lo") == .socket(interface: "lo"))
        #expect(try AttachTarget(spec: "perf_event/cpu-clock") == .perfEvent(event: "cpu-clock"))
        #expect(TrafficDirection.egress.tcxAttachType == .tcxEgress)
        // Section names that happen to look like these keep their table meaning.
        #expect(try AttachTarget(spec: "xdp/devmap") == .indirect(.xdpMapEntry))
        #expect(try AttachTarget(spec: "xdp") == .needsTarget(.xdp))
    }

    @Test func cgroupForms() throws {
        #expect(
            try AttachTarget(spec: "cgroup/connect4:/sys/fs/cgroup")
                == .cgroup(attachType: .cgroupInet4Connect, path: "/sys/fs/cgroup"))
        #expect(
            try AttachTarget(spec: "cgroup_skb/egress:/sys/fs/cgroup/a:b")
                == .cgroup(attachType: .cgroupInetEgress, path: "/sys/fs/cgroup/a:b"))
        #expect(try AttachTarget(spec: "sockops:/sys/fs/cgroup") == .cgroup(attachType: .cgroupSockOps, path: "/sys/fs/cgroup"))
        #expect(try AttachTarget(spec: "cgroup/connect4") == .needsTarget(.cgroup))
    }

    @Test(arguments: [
        ("uprobe/x", AttachSpecError.Code.missingPart, "uprobe spec 'uprobe/x' needs PATH:SYMBOL"),
        ("tp/sched", .missingPart, "tracepoint spec 'tp/sched' needs CATEGORY/NAME"),
        ("kretprobe/f+8", .offsetNotAllowed, "kprobe spec 'kretprobe/f+8' cannot take an offset (kretprobes do not)"),
        ("kprobe/f+x", .invalidOffset, "kprobe spec 'kprobe/f+x' has an offset 'x' that is not a non-negative integer"),
        ("kprobe/f-g", .invalidName, "kprobe spec 'kprobe/f-g' has an invalid function name 'f-g' (letters, digits, '_' and '.')"),
        ("xdp/", .invalidInterface, "xdp spec 'xdp/' needs an interface name"),
        ("tcx/ingress/a/b", .invalidInterface, "tcx spec 'tcx/ingress/a/b' has an invalid interface name 'a/b' (1-15 characters, no '/', ':' or spaces)"),
        ("xdp/abcdefghijklmnop", .invalidInterface, nil),
        ("cgroup/connect4:", .missingPart, "cgroup spec 'cgroup/connect4:' needs a cgroup path after ':'"),
        ("cgroup/skb:/sys/fs/cgroup", .missingPart, nil),
        ("perf_event/", .missingPart, nil),
        ("foo/bar", .unknownKind, nil),
        ("fentry/", .missingPart, "fentry spec 'fentry/' names nothing after '/'; expected fentry/FUNCTION"),
        ("usdt//bin/x:p", .missingPart, "usdt spec 'usdt//bin/x:p' needs PATH:PROVIDER:NAME"),
        ("uprobe.multi//bin/x", .missingPart, nil),
    ] as [(String, AttachSpecError.Code, String?)])
    func specErrors(_ spec: String, _ code: AttachSpecError.Code, _ message: String?) {
        do {
            let target = try AttachTarget(spec: spec)
            Issue.record("'\(spec)' parsed as \(target)")
        } catch {
            #expect(error.code == code)
            #expect(error.spec == spec)
            if let message { #expect(error.description == message) }
        }
    }

    @Test func descriptionsRoundTrip() throws {
        let targets: [AttachTarget] = [
            .tracepoint(category: "syscalls", name: "sys_enter_execve"),
            .rawTracepoint(name: "sched_switch"), .btfTracepoint(name: "sched_switch"),
            .kprobe(function: "f", offset: 0, isReturn: false), .kprobe(function: "f", offset: 0x10, isReturn: false),
            .kprobe(function: "f", offset: 0, isReturn: true),
            .kprobeMulti(pattern: "vfs_*", isReturn: true, isSession: false),
            .kprobeMulti(pattern: "vfs_*", isReturn: false, isSession: true),
            .ksyscall(name: "execve", isReturn: true),
            .uprobe(path: "/bin/bash", symbol: "readline", offset: 4, isReturn: false, sleepable: true),
            .uprobe(path: "/bin/bash", symbol: nil, offset: 0x1234, isReturn: true, sleepable: false),
            .uprobeMulti(path: "/bin/x", pattern: "f*", isReturn: false, isSession: true, sleepable: false),
            .usdt(path: "/bin/x", provider: "p", name: "n"),
            .fentry(function: "f"), .fexit(function: "f"), .fmodRet(function: "f"), .fsession(function: "f"),
            .tracingMulti(attachType: .traceFexitMulti, pattern: "vfs_*"),
            .freplace(function: "f"), .lsm(hook: "file_open"), .iter(name: "task"),
            .xdp(interface: "eth0"), .tcx(direction: .egress, interface: "eth0"),
            .netkit(peer: true, interface: "nk0"), .cgroup(attachType: .cgroupInet6Connect, path: "/sys/fs/cgroup"),
            .socket(interface: "lo"), .perfEvent(event: "cpu-clock"),
        ]
        for target in targets {
            #expect(try AttachTarget(spec: target.description) == target, "\(target)")
        }
        #expect(AttachTarget.kprobe(function: "f", offset: 16, isReturn: false).description == "kprobe/f+0x10")
        #expect(AttachTarget.needsTarget(.xdp).description == "xdp (needs a target: xdp/IFNAME)")
    }

    @Test func attachRequests() throws {
        let named = try AttachRequest(parsing: "handle_exec=tracepoint/sched/sched_process_exec")
        #expect(named.program == "handle_exec")
        #expect(named.target == .tracepoint(category: "sched", name: "sched_process_exec"))
        let bare = try AttachRequest(parsing: "kprobe/do_unlinkat")
        #expect(bare.program == nil && bare.spec == "kprobe/do_unlinkat")
        let pathWithEquals = try AttachRequest(parsing: "uprobe//opt/a=b/x:f")
        #expect(pathWithEquals.program == nil)
        #expect(pathWithEquals.target == .uprobe(path: "/opt/a=b/x", symbol: "f", offset: 0, isReturn: false, sleepable: false))
        #expect(throws: AttachSpecError.self) { try AttachRequest(parsing: "p=uprobe/x") }
    }

    @Test func cIntegers() {
        #expect(parseCInteger("0") == 0)
        #expect(parseCInteger("10") == 10)
        #expect(parseCInteger("0x1f") == 31)
        #expect(parseCInteger("0X1F") == 31)
        #expect(parseCInteger("010") == 8)
        #expect(parseCInteger("0x") == nil)
        #expect(parseCInteger("08") == nil)
        #expect(parseCInteger("") == nil)
        #expect(parseCInteger("-1") == nil)
        #expect(parseCInteger("0xffffffffffffffff") == UInt64.max)
        #expect(parseCInteger("0x10000000000000000") == nil)
        #expect(parseCInteger("99999999999999999999") == nil)
    }
}
