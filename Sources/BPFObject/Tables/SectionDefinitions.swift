// ELF section names → program type, expected attach type, load flags and attach mechanism.
//
// Users' objects are written for libbpf, so the vocabulary and the matching rules are libbpf's
// (`section_defs[]` in src/libbpf.c): the table below has one row per libbpf definition, in libbpf's order,
// because the first matching row wins.

import ByteParsing

/// One section-name definition: a pattern in libbpf's spelling and what a program in a matching section is.
///
/// Pattern rules (as libbpf):
/// - ending in `+`: matches the word itself or `word/anything` (`kprobe+` matches `kprobe`, `kprobe/f`,
///   not `kprobex`);
/// - ending in `/`: matches only `pattern` followed by more text;
/// - otherwise: matches exactly.
public struct SectionDefinition: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as libbpf spells it (`kprobe+`, `xdp.frags/devmap`, `socket`).
    public let pattern: String
    /// The program type to load with.
    public let programType: ProgramType
    /// The `expected_attach_type` to load with, or nil for none (the kernel then gets 0).
    public let expectedAttachType: AttachType?
    /// Load-time and naming facts (sleepable, XDP frags, BTF attach target, ...).
    public let flags: Flags
    /// How a program of this section is attached, which also says how the rest of the name is read.
    public let mechanism: AttachMechanism

    /// Load-time and naming facts about a section. The first six mirror libbpf's `SEC_*` flags.
    public struct Flags: OptionSet, Hashable, Sendable {
        /// The raw bits (our own numbering).
        public let rawValue: UInt32
        /// Makes a set from raw bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// `expected_attach_type` may be dropped on kernels too old to take it (libbpf `SEC_EXP_ATTACH_OPT`).
        public static let expectedAttachTypeOptional = Flags(rawValue: 1 << 0)
        /// Historically attachable with `BPF_PROG_ATTACH` (libbpf `SEC_ATTACHABLE`; informational).
        public static let attachable = Flags(rawValue: 1 << 1)
        /// The load needs `attach_btf_id`: the target named after the first `/` is looked up in kernel BTF
        /// (or, for freplace, in the target program's BTF) before loading (libbpf `SEC_ATTACH_BTF`).
        public static let attachBTF = Flags(rawValue: 1 << 2)
        /// Load with `BPF_F_SLEEPABLE` (libbpf `SEC_SLEEPABLE`, the `.s` sections).
        public static let sleepable = Flags(rawValue: 1 << 3)
        /// Load with `BPF_F_XDP_HAS_FRAGS` (libbpf `SEC_XDP_FRAGS`, the `xdp.frags` sections).
        public static let xdpFrags = Flags(rawValue: 1 << 4)
        /// USDT: libbpf switches the expected attach type to `trace_uprobe_multi` when the kernel has
        /// uprobe-multi links (libbpf `SEC_USDT`).
        public static let usdt = Flags(rawValue: 1 << 5)
        /// A return probe (`kretprobe`, `uretprobe`, `kretsyscall`, `kretprobe.multi`, ...). Ours, not libbpf's.
        public static let returnProbe = Flags(rawValue: 1 << 6)
    }

    /// How the pattern compares with a section name.
    public enum MatchRule: Sendable, Hashable {
        /// The whole name equals the pattern.
        case exact
        /// The name is the word or `word/…` (pattern ends in `+`).
        case wordOrSlash
        /// The name starts with the pattern and continues (pattern ends in `/`).
        case prefixWithMore
    }

    /// Makes a row.
    public init(
        _ pattern: String, _ programType: ProgramType, _ expectedAttachType: AttachType?, _ flags: Flags,
        _ mechanism: AttachMechanism
    ) {
        self.pattern = pattern
        self.programType = programType
        self.expectedAttachType = expectedAttachType
        self.flags = flags
        self.mechanism = mechanism
    }

    /// How `pattern` compares with names.
    public var matchRule: MatchRule {
        switch pattern.utf8.last {
        case UInt8(ascii: "+"): return .wordOrSlash
        case UInt8(ascii: "/"): return .prefixWithMore
        default: return .exact
        }
    }

    /// The pattern without its trailing `+` (`kprobe+` → `kprobe`); the word a matching name starts with.
    public var prefix: Substring {
        matchRule == .wordOrSlash ? pattern[..<pattern.utf8.index(before: pattern.utf8.endIndex)] : pattern[...]
    }

    /// The raw `expected_attach_type` to pass to `BPF_PROG_LOAD` (0 when there is none).
    public var expectedAttachTypeRawValue: UInt32 { expectedAttachType?.rawValue ?? 0 }

    /// True when programs of this section load with `BPF_F_SLEEPABLE`.
    public var isSleepable: Bool { flags.contains(.sleepable) }

    /// True when libbpf can attach a program of this section from its name alone (given a complete name);
    /// the others need a target from the user (an interface, a cgroup, a map, a program).
    public var supportsAutoAttach: Bool { mechanism.attachesFromSectionName }

    /// The pattern, as libbpf spells it.
    public var description: String { pattern }

    /// Whether `name` (without a leading `?`) matches this definition under libbpf's rules.
    public func matches(_ name: some StringProtocol) -> Bool {
        let n = name.utf8
        let p = prefix.utf8
        switch matchRule {
        case .exact:
            return n.elementsEqual(p)
        case .prefixWithMore:
            return n.count > p.count && n.starts(with: p)
        case .wordOrSlash:
            guard n.starts(with: p) else { return false }
            let rest = n.dropFirst(p.count)
            return rest.isEmpty || rest.first == UInt8(ascii: "/")
        }
    }

    /// The text after the matched word: nil for a bare name (`kprobe`), the part after the `/` otherwise
    /// (`kprobe/do_sys_open` → `do_sys_open`; may be empty for `kprobe/`). For `/`-ending patterns, the text
    /// after the pattern. `name` must match this definition.
    public func suffix(of name: Substring) -> Substring? {
        let p = prefix.utf8.count
        guard name.utf8.count > p else { return nil }
        var rest = name.dropFirst(asciiCount: p)
        if matchRule == .wordOrSlash, rest.utf8.first == UInt8(ascii: "/") { rest = rest.dropFirst(asciiCount: 1) }
        return rest
    }

    /// The first definition matching `name` in table order (libbpf's `find_sec_def`), or nil. `name` must
    /// not start with `?` (see ``ProgramSection``, which strips it).
    public static func find(_ name: some StringProtocol) -> SectionDefinition? {
        for definition in table where definition.matches(name) { return definition }
        return nil
    }

    /// libbpf's `section_defs[]`, row for row and in the same order (the first match wins).
    public static let table: [SectionDefinition] = [
        .init("socket", .socketFilter, nil, [], .socketFilter),
        .init("sk_reuseport/migrate", .skReuseport, .skReuseportSelectOrMigrate, .attachable, .skReuseport),
        .init("sk_reuseport", .skReuseport, .skReuseportSelect, .attachable, .skReuseport),
        .init("kprobe+", .kprobe, nil, [], .kprobe),
        .init("uprobe+", .kprobe, nil, [], .uprobe),
        .init("uprobe.s+", .kprobe, nil, .sleepable, .uprobe),
        .init("kretprobe+", .kprobe, nil, .returnProbe, .kprobe),
        .init("uretprobe+", .kprobe, nil, .returnProbe, .uprobe),
        .init("uretprobe.s+", .kprobe, nil, [.sleepable, .returnProbe], .uprobe),
        .init("kprobe.multi+", .kprobe, .traceKprobeMulti, [], .kprobeMulti),
        .init("kretprobe.multi+", .kprobe, .traceKprobeMulti, .returnProbe, .kprobeMulti),
        .init("kprobe.session+", .kprobe, .traceKprobeSession, [], .kprobeSession),
        .init("uprobe.multi+", .kprobe, .traceUprobeMulti, [], .uprobeMulti),
        .init("uretprobe.multi+", .kprobe, .traceUprobeMulti, .returnProbe, .uprobeMulti),
        .init("uprobe.session+", .kprobe, .traceUprobeSession, [], .uprobeSession),
        .init("uprobe.multi.s+", .kprobe, .traceUprobeMulti, .sleepable, .uprobeMulti),
        .init("uretprobe.multi.s+", .kprobe, .traceUprobeMulti, [.sleepable, .returnProbe], .uprobeMulti),
        .init("uprobe.session.s+", .kprobe, .traceUprobeSession, .sleepable, .uprobeSession),
        .init("ksyscall+", .kprobe, nil, [], .ksyscall),
        .init("kretsyscall+", .kprobe, nil, .returnProbe, .ksyscall),
        .init("usdt+", .kprobe, nil, .usdt, .usdt),
        .init("usdt.s+", .kprobe, nil, [.usdt, .sleepable], .usdt),
        .init("tc/ingress", .schedCls, .tcxIngress, [], .tcx),  // alias of tcx/ingress
        .init("tc/egress", .schedCls, .tcxEgress, [], .tcx),  // alias of tcx/egress
        .init("tcx/ingress", .schedCls, .tcxIngress, [], .tcx),
        .init("tcx/egress", .schedCls, .tcxEgress, [], .tcx),
        .init("tc", .schedCls, nil, [], .tcLegacy),
        .init("classifier", .schedCls, nil, [], .tcLegacy),
        .init("action", .schedAct, nil, [], .tcLegacy),
        .init("netkit/primary", .schedCls, .netkitPrimary, [], .netkit),
        .init("netkit/peer", .schedCls, .netkitPeer, [], .netkit),
        .init("tracepoint+", .tracepoint, nil, [], .tracepoint),
        .init("tp+", .tracepoint, nil, [], .tracepoint),
        .init("tracepoint.s+", .tracepoint, nil, .sleepable, .tracepoint),
        .init("tp.s+", .tracepoint, nil, .sleepable, .tracepoint),
        .init("raw_tracepoint+", .rawTracepoint, nil, [], .rawTracepoint),
        .init("raw_tp+", .rawTracepoint, nil, [], .rawTracepoint),
        .init("raw_tracepoint.s+", .rawTracepoint, nil, .sleepable, .rawTracepoint),
        .init("raw_tp.s+", .rawTracepoint, nil, .sleepable, .rawTracepoint),
        .init("raw_tracepoint.w+", .rawTracepointWritable, nil, [], .rawTracepoint),
        .init("raw_tp.w+", .rawTracepointWritable, nil, [], .rawTracepoint),
        .init("tp_btf+", .tracing, .traceRawTP, .attachBTF, .btfTracepoint),
        .init("tp_btf.s+", .tracing, .traceRawTP, [.attachBTF, .sleepable], .btfTracepoint),
        .init("fentry+", .tracing, .traceFentry, .attachBTF, .fentry),
        .init("fmod_ret+", .tracing, .modifyReturn, .attachBTF, .fmodRet),
        .init("fexit+", .tracing, .traceFexit, .attachBTF, .fexit),
        .init("fentry.s+", .tracing, .traceFentry, [.attachBTF, .sleepable], .fentry),
        .init("fmod_ret.s+", .tracing, .modifyReturn, [.attachBTF, .sleepable], .fmodRet),
        .init("fexit.s+", .tracing, .traceFexit, [.attachBTF, .sleepable], .fexit),
        .init("fsession+", .tracing, .traceFsession, .attachBTF, .fsession),
        .init("fsession.s+", .tracing, .traceFsession, [.attachBTF, .sleepable], .fsession),
        .init("fsession.multi+", .tracing, .traceFsessionMulti, [], .tracingMulti),
        .init("fsession.multi.s+", .tracing, .traceFsessionMulti, .sleepable, .tracingMulti),
        .init("fentry.multi+", .tracing, .traceFentryMulti, [], .tracingMulti),
        .init("fexit.multi+", .tracing, .traceFexitMulti, [], .tracingMulti),
        .init("fentry.multi.s+", .tracing, .traceFentryMulti, .sleepable, .tracingMulti),
        .init("fexit.multi.s+", .tracing, .traceFexitMulti, .sleepable, .tracingMulti),
        .init("freplace+", .ext, nil, .attachBTF, .freplace),
        .init("lsm+", .lsm, .lsmMac, .attachBTF, .lsm),
        .init("lsm.s+", .lsm, .lsmMac, [.attachBTF, .sleepable], .lsm),
        .init("lsm_cgroup+", .lsm, .lsmCgroup, .attachBTF, .lsmCgroup),
        .init("iter+", .tracing, .traceIter, .attachBTF, .iter),
        .init("iter.s+", .tracing, .traceIter, [.attachBTF, .sleepable], .iter),
        .init("syscall", .syscall, nil, .sleepable, .syscall),
        .init("xdp.frags/devmap", .xdp, .xdpDevmap, .xdpFrags, .xdpMapEntry),
        .init("xdp/devmap", .xdp, .xdpDevmap, .attachable, .xdpMapEntry),
        .init("xdp.frags/cpumap", .xdp, .xdpCpumap, .xdpFrags, .xdpMapEntry),
        .init("xdp/cpumap", .xdp, .xdpCpumap, .attachable, .xdpMapEntry),
        .init("xdp.frags", .xdp, .xdp, .xdpFrags, .xdp),
        .init("xdp", .xdp, .xdp, [.attachable, .expectedAttachTypeOptional], .xdp),
        .init("perf_event", .perfEvent, nil, [], .perfEvent),
        .init("lwt_in", .lwtIn, nil, [], .lwt),
        .init("lwt_out", .lwtOut, nil, [], .lwt),
        .init("lwt_xmit", .lwtXmit, nil, [], .lwt),
        .init("lwt_seg6local", .lwtSeg6Local, nil, [], .lwt),
        .init("sockops", .sockOps, .cgroupSockOps, [.attachable, .expectedAttachTypeOptional], .cgroup),
        .init(
            "sk_skb/stream_parser", .skSKB, .skSKBStreamParser, [.attachable, .expectedAttachTypeOptional],
            .sockmap),
        .init(
            "sk_skb/stream_verdict", .skSKB, .skSKBStreamVerdict, [.attachable, .expectedAttachTypeOptional],
            .sockmap),
        .init("sk_skb/verdict", .skSKB, .skSKBVerdict, [.attachable, .expectedAttachTypeOptional], .sockmap),
        .init("sk_skb", .skSKB, nil, [], .sockmap),
        .init("sk_msg", .skMsg, .skMsgVerdict, [.attachable, .expectedAttachTypeOptional], .sockmap),
        .init("lirc_mode2", .lircMode2, .lircMode2, [.attachable, .expectedAttachTypeOptional], .lircMode2),
        .init(
            "flow_dissector", .flowDissector, .flowDissector, [.attachable, .expectedAttachTypeOptional],
            .netns),
        .init(
            "cgroup_skb/ingress", .cgroupSKB, .cgroupInetIngress, [.attachable, .expectedAttachTypeOptional],
            .cgroup),
        .init(
            "cgroup_skb/egress", .cgroupSKB, .cgroupInetEgress, [.attachable, .expectedAttachTypeOptional],
            .cgroup),
        .init("cgroup/skb", .cgroupSKB, nil, [], .cgroup),
        .init("cgroup/sock_create", .cgroupSock, .cgroupInetSockCreate, .attachable, .cgroup),
        .init("cgroup/sock_release", .cgroupSock, .cgroupInetSockRelease, .attachable, .cgroup),
        .init("cgroup/sock", .cgroupSock, .cgroupInetSockCreate, [.attachable, .expectedAttachTypeOptional], .cgroup),
        .init("cgroup/post_bind4", .cgroupSock, .cgroupInet4PostBind, .attachable, .cgroup),
        .init("cgroup/post_bind6", .cgroupSock, .cgroupInet6PostBind, .attachable, .cgroup),
        .init("cgroup/bind4", .cgroupSockAddr, .cgroupInet4Bind, .attachable, .cgroup),
        .init("cgroup/bind6", .cgroupSockAddr, .cgroupInet6Bind, .attachable, .cgroup),
        .init("cgroup/connect4", .cgroupSockAddr, .cgroupInet4Connect, .attachable, .cgroup),
        .init("cgroup/connect6", .cgroupSockAddr, .cgroupInet6Connect, .attachable, .cgroup),
        .init("cgroup/connect_unix", .cgroupSockAddr, .cgroupUnixConnect, .attachable, .cgroup),
        .init("cgroup/sendmsg4", .cgroupSockAddr, .cgroupUDP4Sendmsg, .attachable, .cgroup),
        .init("cgroup/sendmsg6", .cgroupSockAddr, .cgroupUDP6Sendmsg, .attachable, .cgroup),
        .init("cgroup/sendmsg_unix", .cgroupSockAddr, .cgroupUnixSendmsg, .attachable, .cgroup),
        .init("cgroup/recvmsg4", .cgroupSockAddr, .cgroupUDP4Recvmsg, .attachable, .cgroup),
        .init("cgroup/recvmsg6", .cgroupSockAddr, .cgroupUDP6Recvmsg, .attachable, .cgroup),
        .init("cgroup/recvmsg_unix", .cgroupSockAddr, .cgroupUnixRecvmsg, .attachable, .cgroup),
        .init("cgroup/getpeername4", .cgroupSockAddr, .cgroupInet4Getpeername, .attachable, .cgroup),
        .init("cgroup/getpeername6", .cgroupSockAddr, .cgroupInet6Getpeername, .attachable, .cgroup),
        .init("cgroup/getpeername_unix", .cgroupSockAddr, .cgroupUnixGetpeername, .attachable, .cgroup),
        .init("cgroup/getsockname4", .cgroupSockAddr, .cgroupInet4Getsockname, .attachable, .cgroup),
        .init("cgroup/getsockname6", .cgroupSockAddr, .cgroupInet6Getsockname, .attachable, .cgroup),
        .init("cgroup/getsockname_unix", .cgroupSockAddr, .cgroupUnixGetsockname, .attachable, .cgroup),
        .init("cgroup/sysctl", .cgroupSysctl, .cgroupSysctl, .attachable, .cgroup),
        .init("cgroup/getsockopt", .cgroupSockopt, .cgroupGetsockopt, .attachable, .cgroup),
        .init("cgroup/setsockopt", .cgroupSockopt, .cgroupSetsockopt, .attachable, .cgroup),
        .init("cgroup/dev", .cgroupDevice, .cgroupDevice, [.attachable, .expectedAttachTypeOptional], .cgroup),
        .init("struct_ops+", .structOps, nil, [], .structOps),
        .init("struct_ops.s+", .structOps, nil, .sleepable, .structOps),
        .init("sk_lookup", .skLookup, .skLookup, .attachable, .netns),
        .init("netfilter", .netfilter, .netfilter, [], .netfilter),
    ]
}

/// A module-qualified BTF attach name, as written after the `/` of `fentry/…`, `lsm/…`, `tp_btf/…`:
/// `FUNC` or `MODULE:FUNC` (libbpf's rule; `vmlinux:FUNC` names the kernel itself).
public struct BTFAttachName: Sendable, Hashable, CustomStringConvertible {
    /// The kernel module whose BTF holds the target, or nil to search vmlinux first, then modules.
    public let module: String?
    /// The function, hook, tracepoint or iterator name.
    public let name: String

    /// Splits `text` at its first `:` into module and name.
    public init(parsing text: Substring) {
        if let colon = text.firstIndex(of: ":") {
            module = String(text[..<colon])
            name = String(text[text.index(after: colon)...])
        } else {
            module = nil
            name = String(text)
        }
    }

    /// `MODULE:NAME` or `NAME`.
    public var description: String { module.map { "\($0):\(name)" } ?? name }
}

/// What an ELF section name says about the programs in it: the matched definition, whether they load by
/// default, and everything derived from the name.
public struct ProgramSection: Sendable, Hashable, CustomStringConvertible {
    /// The section name exactly as in the object (possibly starting with `?`).
    public let sectionName: String
    /// The name without a leading `?`: what is matched and what attach targets are read from.
    public let name: String
    /// False when the section name starts with `?` (libbpf's "do not load by default").
    public let autoload: Bool
    /// The first definition in ``SectionDefinition/table`` that matches ``name``.
    public let definition: SectionDefinition

    /// Matches `sectionName` against the table (a leading `?` is stripped first and sets ``autoload``).
    /// Throws ``UnknownSectionError`` when no definition matches: such programs cannot be loaded.
    public init(_ sectionName: String) throws(UnknownSectionError) {
        self.sectionName = sectionName
        if sectionName.utf8.first == UInt8(ascii: "?") {
            name = String(sectionName.dropFirst())
            autoload = false
        } else {
            name = sectionName
            autoload = true
        }
        guard let definition = SectionDefinition.find(name) else {
            throw UnknownSectionError(sectionName: sectionName)
        }
        self.definition = definition
    }

    /// The program type to load with.
    public var programType: ProgramType { definition.programType }
    /// The expected attach type to load with (nil: none, the kernel gets 0).
    public var expectedAttachType: AttachType? { definition.expectedAttachType }
    /// True when the program loads with `BPF_F_SLEEPABLE`.
    public var isSleepable: Bool { definition.flags.contains(.sleepable) }

    /// `BPF_F_SLEEPABLE` in `BPF_PROG_LOAD`'s `prog_flags`.
    public static let sleepableLoadFlag: UInt32 = 1 << 4
    /// `BPF_F_XDP_HAS_FRAGS` in `BPF_PROG_LOAD`'s `prog_flags`.
    public static let xdpHasFragsLoadFlag: UInt32 = 1 << 5

    /// The `prog_flags` this section asks for at load (`BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`).
    public var loadFlags: UInt32 {
        var flags: UInt32 = 0
        if definition.flags.contains(.sleepable) { flags |= Self.sleepableLoadFlag }
        if definition.flags.contains(.xdpFrags), programType == .xdp { flags |= Self.xdpHasFragsLoadFlag }
        return flags
    }

    /// True when loading needs `attach_btf_id` (fentry, fexit, fmod_ret, tp_btf, lsm, iter, freplace).
    public var needsBTFAttachTarget: Bool { definition.flags.contains(.attachBTF) }

    /// For ``needsBTFAttachTarget`` sections: the name after the first `/` (`fentry/vfs_read` →
    /// `vfs_read`, `fentry/nf_tables:nft_do_chain` → module `nf_tables`). Nil when the section names none
    /// (bare `fentry`), in which case the caller must supply a target before loading.
    public var btfAttachName: BTFAttachName? {
        guard needsBTFAttachTarget, let slash = name.firstIndex(of: "/") else { return nil }
        let rest = name[name.index(after: slash)...]
        return rest.isEmpty ? nil : BTFAttachName(parsing: rest)
    }

    /// What the section name says to attach to. Bare names (`kprobe`, `xdp`) give
    /// ``AttachTarget/needsTarget(_:)``; malformed ones (`uprobe/x`) throw.
    public func attachTarget() throws(AttachSpecError) -> AttachTarget {
        try AttachTarget(name: name[...], definition: definition)
    }

    /// The section name as in the object.
    public var description: String { sectionName }
}

/// A section name that matches none of libbpf's definitions: the programs in it cannot be loaded.
public struct UnknownSectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The section name as in the object.
    public let sectionName: String

    /// Makes the error.
    public init(sectionName: String) { self.sectionName = sectionName }

    /// Every pattern the table knows, in table order (`+` means "the word, or the word then `/…`").
    public var knownPatterns: [String] { SectionDefinition.table.map(\.pattern) }

    /// One line: the section, then the known names.
    public var description: String {
        "unknown section '\(sectionName)': the program type cannot be guessed; known sections are "
            + knownPatterns.joined(separator: " ") + " ('+' means the name may continue with '/…')"
    }
}
