// What to attach a program to, read from its section name (libbpf's rules) or from a command-line
// `--attach [PROGRAM=]SPEC`, which uses the same vocabulary plus forms that name an interface or a cgroup.
//
// Parsing follows libbpf's attach_* functions: `uprobe/PATH:FUNC[+OFF]` splits at the first ':' (so the
// path cannot contain one), `kprobe/FUNC[+OFF]`, `tracepoint/CAT/NAME`, `usdt/PATH:PROVIDER:NAME`, a bare
// word names no target. We are stricter where libbpf silently ignores trailing text.

import ByteParsing

/// How programs of a section are attached; also what a bare section name lacks.
public enum AttachMechanism: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `setsockopt(SO_ATTACH_BPF)` on a socket (`socket`).
    case socketFilter
    /// `SO_ATTACH_REUSEPORT_EBPF` on a reuseport group (`sk_reuseport`).
    case skReuseport
    /// A kprobe or kretprobe through a perf event (`kprobe/FN`, `kretprobe/FN`).
    case kprobe
    /// A multi-kprobe link on a pattern (`kprobe.multi/PATTERN`).
    case kprobeMulti
    /// A kprobe session (entry and return) on a pattern (`kprobe.session/PATTERN`).
    case kprobeSession
    /// A uprobe or uretprobe (`uprobe/PATH:SYMBOL[+OFF]`).
    case uprobe
    /// A multi-uprobe link (`uprobe.multi/PATH:PATTERN`).
    case uprobeMulti
    /// A uprobe session (`uprobe.session/PATH:PATTERN`).
    case uprobeSession
    /// A kprobe on the architecture's syscall entry (`ksyscall/NAME`).
    case ksyscall
    /// USDT notes turned into uprobes (`usdt/PATH:PROVIDER:NAME`).
    case usdt
    /// A perf tracepoint (`tracepoint/CAT/NAME`, `tp/CAT/NAME`).
    case tracepoint
    /// `BPF_RAW_TRACEPOINT_OPEN` (`raw_tp/NAME`).
    case rawTracepoint
    /// A BTF-typed raw tracepoint link (`tp_btf/NAME`).
    case btfTracepoint
    /// fentry trampoline (`fentry/FN`).
    case fentry
    /// fexit trampoline (`fexit/FN`).
    case fexit
    /// fmod_ret trampoline (`fmod_ret/FN`).
    case fmodRet
    /// fsession trampoline (`fsession/FN`).
    case fsession
    /// Multi-function fentry/fexit/fsession link (`fentry.multi/PATTERN`).
    case tracingMulti
    /// Replacing a function of another loaded BPF program (`freplace/FN`); needs that program.
    case freplace
    /// An LSM hook (`lsm/HOOK`).
    case lsm
    /// An LSM hook per cgroup (`lsm_cgroup/HOOK`); needs a cgroup.
    case lsmCgroup
    /// A BPF iterator, read through `BPF_ITER_CREATE` (`iter/NAME`).
    case iter
    /// Never attached: run with `BPF_PROG_TEST_RUN` (`syscall`).
    case syscall
    /// XDP on an interface (`xdp`, `xdp.frags`).
    case xdp
    /// XDP program stored in a devmap or cpumap entry (`xdp/devmap`, `xdp/cpumap`).
    case xdpMapEntry
    /// tcx link on an interface (`tcx/ingress`, `tcx/egress`, `tc/ingress`, `tc/egress`).
    case tcx
    /// netkit link on a netkit device (`netkit/primary`, `netkit/peer`).
    case netkit
    /// Legacy tc: netlink clsact qdisc and cls_bpf filter (`tc`, `classifier`, `action`).
    case tcLegacy
    /// A cgroup hook (`cgroup/…`, `cgroup_skb/…`, `sockops`).
    case cgroup
    /// Attached to a sockmap/sockhash (`sk_skb/…`, `sk_msg`).
    case sockmap
    /// Attached to a network namespace (`flow_dissector`, `sk_lookup`).
    case netns
    /// Attached to a lirc device (`lirc_mode2`).
    case lircMode2
    /// Per-CPU perf events (`perf_event`).
    case perfEvent
    /// Lightweight tunnel routes (`lwt_in`, `lwt_out`, `lwt_xmit`, `lwt_seg6local`), set up with iproute2.
    case lwt
    /// Registered through its struct_ops map, not attached alone (`struct_ops/NAME`).
    case structOps
    /// A netfilter hook (`netfilter`), with protocol family, hook and priority given by the user.
    case netfilter

    /// True when a complete section name is enough to attach (libbpf auto-attaches these).
    public var attachesFromSectionName: Bool {
        switch self {
        case .kprobe, .kprobeMulti, .kprobeSession, .uprobe, .uprobeMulti, .uprobeSession, .ksyscall, .usdt,
            .tracepoint, .rawTracepoint, .btfTracepoint, .fentry, .fexit, .fmodRet, .fsession, .tracingMulti,
            .lsm, .iter:
            return true
        default:
            return false
        }
    }

    /// True for programs that are never attached by themselves (struct_ops, devmap/cpumap entries,
    /// syscall programs).
    public var isIndirect: Bool {
        self == .structOps || self == .xdpMapEntry || self == .syscall
    }

    /// The `--attach` form that names a target for this mechanism, for "needs a target" messages.
    public var targetHint: String {
        switch self {
        case .socketFilter: return "socket/IFNAME"
        case .skReuseport: return "a reuseport socket group (not supported from the command line)"
        case .kprobe: return "kprobe/FUNCTION[+OFFSET] or kretprobe/FUNCTION"
        case .kprobeMulti: return "kprobe.multi/PATTERN or kretprobe.multi/PATTERN"
        case .kprobeSession: return "kprobe.session/PATTERN"
        case .uprobe: return "uprobe/PATH:SYMBOL[+OFFSET] or uretprobe/PATH:SYMBOL"
        case .uprobeMulti: return "uprobe.multi/PATH:PATTERN"
        case .uprobeSession: return "uprobe.session/PATH:PATTERN"
        case .ksyscall: return "ksyscall/NAME or kretsyscall/NAME"
        case .usdt: return "usdt/PATH:PROVIDER:NAME"
        case .tracepoint: return "tracepoint/CATEGORY/NAME"
        case .rawTracepoint: return "raw_tp/NAME"
        case .btfTracepoint: return "tp_btf/NAME"
        case .fentry: return "fentry/FUNCTION"
        case .fexit: return "fexit/FUNCTION"
        case .fmodRet: return "fmod_ret/FUNCTION"
        case .fsession: return "fsession/FUNCTION"
        case .tracingMulti: return "fentry.multi/PATTERN"
        case .freplace: return "a target BPF program (not supported from the command line)"
        case .lsm: return "lsm/HOOK"
        case .lsmCgroup: return "a cgroup (not supported from the command line)"
        case .iter: return "iter/NAME"
        case .syscall: return "nothing: syscall programs are run, not attached"
        case .xdp: return "xdp/IFNAME"
        case .xdpMapEntry: return "a devmap or cpumap entry"
        case .tcx: return "tcx/ingress/IFNAME or tcx/egress/IFNAME"
        case .netkit: return "netkit/primary/IFNAME or netkit/peer/IFNAME"
        case .tcLegacy: return "tcx/ingress/IFNAME or tcx/egress/IFNAME (legacy tc is not attached)"
        case .cgroup: return "cgroup/ATTACH:CGROUP_PATH"
        case .sockmap: return "a sockmap (not supported from the command line)"
        case .netns: return "a network namespace (not supported from the command line)"
        case .lircMode2: return "a lirc device (not supported from the command line)"
        case .perfEvent: return "perf_event/EVENT"
        case .lwt: return "an lwt route (set up with iproute2)"
        case .structOps: return "its struct_ops map"
        case .netfilter: return "a netfilter hook (not supported from the command line)"
        }
    }

    /// A short lower-case word for messages (`kprobe`, `uprobe`, `cgroup`).
    public var description: String {
        switch self {
        case .socketFilter: return "socket"
        case .skReuseport: return "sk_reuseport"
        case .kprobe: return "kprobe"
        case .kprobeMulti: return "kprobe.multi"
        case .kprobeSession: return "kprobe.session"
        case .uprobe: return "uprobe"
        case .uprobeMulti: return "uprobe.multi"
        case .uprobeSession: return "uprobe.session"
        case .ksyscall: return "ksyscall"
        case .usdt: return "usdt"
        case .tracepoint: return "tracepoint"
        case .rawTracepoint: return "raw_tracepoint"
        case .btfTracepoint: return "tp_btf"
        case .fentry: return "fentry"
        case .fexit: return "fexit"
        case .fmodRet: return "fmod_ret"
        case .fsession: return "fsession"
        case .tracingMulti: return "tracing multi"
        case .freplace: return "freplace"
        case .lsm: return "lsm"
        case .lsmCgroup: return "lsm_cgroup"
        case .iter: return "iter"
        case .syscall: return "syscall"
        case .xdp: return "xdp"
        case .xdpMapEntry: return "xdp map entry"
        case .tcx: return "tcx"
        case .netkit: return "netkit"
        case .tcLegacy: return "tc"
        case .cgroup: return "cgroup"
        case .sockmap: return "sockmap"
        case .netns: return "netns"
        case .lircMode2: return "lirc_mode2"
        case .perfEvent: return "perf_event"
        case .lwt: return "lwt"
        case .structOps: return "struct_ops"
        case .netfilter: return "netfilter"
        }
    }
}

/// Ingress or egress, for tcx links.
public enum TrafficDirection: Sendable, Hashable, CustomStringConvertible {
    /// Packets arriving on the interface.
    case ingress
    /// Packets leaving the interface.
    case egress

    /// `tcx_ingress` or `tcx_egress`.
    public var tcxAttachType: AttachType { self == .ingress ? .tcxIngress : .tcxEgress }
    /// `ingress` or `egress`.
    public var description: String { self == .ingress ? "ingress" : "egress" }
}

/// Where a program attaches, as named by its section or by `--attach`. Cases whose target is fully named
/// can be attached without more input (see ``fullyNamesTarget``); ``needsTarget(_:)`` says what kind of
/// target is missing, ``indirect(_:)`` marks programs that are not attached on their own.
public enum AttachTarget: Sendable, Hashable, CustomStringConvertible {
    /// A perf tracepoint `<tracefs>/events/CATEGORY/NAME`.
    case tracepoint(category: String, name: String)
    /// A raw tracepoint by name.
    case rawTracepoint(name: String)
    /// A BTF-typed raw tracepoint (`btf_trace_NAME` in kernel BTF).
    case btfTracepoint(name: String)
    /// A kernel function probe; `offset` bytes into the function (entry probes only).
    case kprobe(function: String, offset: UInt64, isReturn: Bool)
    /// A multi-kprobe on a glob pattern (`*`, `?`).
    case kprobeMulti(pattern: String, isReturn: Bool, isSession: Bool)
    /// A probe on a syscall's kernel entry point (`__x64_sys_NAME` or the plain name).
    case ksyscall(name: String, isReturn: Bool)
    /// A user-space probe on `path`: at `symbol + offset`, or at file `offset` when `symbol` is nil
    /// (`uprobe/PATH:0x1234`, our extension). A relative `path` is searched like libbpf does (by the
    /// attach layer).
    case uprobe(path: String, symbol: String?, offset: UInt64, isReturn: Bool, sleepable: Bool)
    /// A multi-uprobe on a symbol glob pattern in `path`.
    case uprobeMulti(path: String, pattern: String, isReturn: Bool, isSession: Bool, sleepable: Bool)
    /// A USDT probe `PROVIDER:NAME` in `path`.
    case usdt(path: String, provider: String, name: String)
    /// fentry on a kernel function (`MODULE:FUNC` allowed, see ``BTFAttachName``).
    case fentry(function: String)
    /// fexit on a kernel function.
    case fexit(function: String)
    /// fmod_ret on a kernel function.
    case fmodRet(function: String)
    /// fsession on a kernel function.
    case fsession(function: String)
    /// fentry/fexit/fsession on every kernel function matching `pattern` (attach type says which).
    case tracingMulti(attachType: AttachType, pattern: String)
    /// Replace `function` in another BPF program (which the caller must supply).
    case freplace(function: String)
    /// An LSM hook (`bpf_lsm_HOOK` in kernel BTF).
    case lsm(hook: String)
    /// A BPF iterator (`bpf_iter_NAME` in kernel BTF).
    case iter(name: String)
    /// XDP on a network interface.
    case xdp(interface: String)
    /// A tcx link on a network interface.
    case tcx(direction: TrafficDirection, interface: String)
    /// A netkit link on a netkit device (primary or peer side).
    case netkit(peer: Bool, interface: String)
    /// A cgroup hook on the cgroup at `path`.
    case cgroup(attachType: AttachType, path: String)
    /// A socket filter on a packet socket bound to a network interface.
    case socket(interface: String)
    /// Per-CPU perf events; `event` is interpreted by the attach layer (e.g. `cpu-clock`).
    case perfEvent(event: String)
    /// The name does not say what to attach to; the mechanism tells what kind of target is needed.
    case needsTarget(AttachMechanism)
    /// Not attached on its own (struct_ops map member, devmap/cpumap entry, syscall program).
    case indirect(AttachMechanism)

    /// True when this names everything needed to attach (the `run` command attaches such programs
    /// without `--attach`). False for ``needsTarget(_:)``, ``indirect(_:)`` and freplace (which needs a
    /// target program).
    public var fullyNamesTarget: Bool {
        switch self {
        case .needsTarget, .indirect, .freplace: return false
        default: return true
        }
    }

    /// The mechanism that attaches this target.
    public var mechanism: AttachMechanism {
        switch self {
        case .tracepoint: return .tracepoint
        case .rawTracepoint: return .rawTracepoint
        case .btfTracepoint: return .btfTracepoint
        case .kprobe: return .kprobe
        case .kprobeMulti(_, _, let isSession): return isSession ? .kprobeSession : .kprobeMulti
        case .ksyscall: return .ksyscall
        case .uprobe: return .uprobe
        case .uprobeMulti(_, _, _, let isSession, _): return isSession ? .uprobeSession : .uprobeMulti
        case .usdt: return .usdt
        case .fentry: return .fentry
        case .fexit: return .fexit
        case .fmodRet: return .fmodRet
        case .fsession: return .fsession
        case .tracingMulti: return .tracingMulti
        case .freplace: return .freplace
        case .lsm: return .lsm
        case .iter: return .iter
        case .xdp: return .xdp
        case .tcx: return .tcx
        case .netkit: return .netkit
        case .cgroup: return .cgroup
        case .socket: return .socketFilter
        case .perfEvent: return .perfEvent
        case .needsTarget(let m), .indirect(let m): return m
        }
    }

    /// The `--attach` spelling of this target (parsing it gives this target back); for
    /// ``needsTarget(_:)`` and ``indirect(_:)`` a phrase saying what is missing.
    public var description: String {
        switch self {
        case .tracepoint(let category, let name): return "tracepoint/\(category)/\(name)"
        case .rawTracepoint(let name): return "raw_tp/\(name)"
        case .btfTracepoint(let name): return "tp_btf/\(name)"
        case .kprobe(let function, let offset, let isReturn):
            if isReturn { return "kretprobe/\(function)" }
            return offset == 0 ? "kprobe/\(function)" : "kprobe/\(function)+\(hex(offset))"
        case .kprobeMulti(let pattern, let isReturn, let isSession):
            let word = isSession ? "kprobe.session" : (isReturn ? "kretprobe.multi" : "kprobe.multi")
            return "\(word)/\(pattern)"
        case .ksyscall(let name, let isReturn): return "\(isReturn ? "kretsyscall" : "ksyscall")/\(name)"
        case .uprobe(let path, let symbol, let offset, let isReturn, let sleepable):
            let word = (isReturn ? "uretprobe" : "uprobe") + (sleepable ? ".s" : "")
            let location: String
            if let symbol {
                location = offset == 0 ? symbol : "\(symbol)+\(hex(offset))"
            } else {
                location = hex(offset)
            }
            return "\(word)/\(path):\(location)"
        case .uprobeMulti(let path, let pattern, let isReturn, let isSession, let sleepable):
            let word = isSession ? "uprobe.session" : (isReturn ? "uretprobe.multi" : "uprobe.multi")
            return "\(word)\(sleepable ? ".s" : "")/\(path):\(pattern)"
        case .usdt(let path, let provider, let name): return "usdt/\(path):\(provider):\(name)"
        case .fentry(let function): return "fentry/\(function)"
        case .fexit(let function): return "fexit/\(function)"
        case .fmodRet(let function): return "fmod_ret/\(function)"
        case .fsession(let function): return "fsession/\(function)"
        case .tracingMulti(let attachType, let pattern):
            let word =
                SectionDefinition.table.first {
                    $0.mechanism == .tracingMulti && $0.expectedAttachType == attachType && !$0.isSleepable
                }?.prefix ?? "\(attachType)"
            return "\(word)/\(pattern)"
        case .freplace(let function): return "freplace/\(function)"
        case .lsm(let hook): return "lsm/\(hook)"
        case .iter(let name): return "iter/\(name)"
        case .xdp(let interface): return "xdp/\(interface)"
        case .tcx(let direction, let interface): return "tcx/\(direction)/\(interface)"
        case .netkit(let peer, let interface): return "netkit/\(peer ? "peer" : "primary")/\(interface)"
        case .cgroup(let attachType, let path):
            let word =
                SectionDefinition.table.first {
                    $0.mechanism == .cgroup && $0.expectedAttachType == attachType
                }?.pattern ?? "cgroup/\(attachType)"
            return "\(word):\(path)"
        case .socket(let interface): return "socket/\(interface)"
        case .perfEvent(let event): return "perf_event/\(event)"
        case .needsTarget(let m): return "\(m) (needs a target: \(m.targetHint))"
        case .indirect(let m): return "\(m) (attached through \(m.targetHint))"
        }
    }
}

// MARK: - Parsing

extension AttachTarget {
    /// Parses a command-line attach SPEC (DESIGN.md "The command line"): any section name libbpf knows
    /// (`tracepoint/syscalls/sys_enter_execve`, `kprobe/do_sys_openat2+0x10`, `uprobe//bin/bash:readline`,
    /// `iter/task`, a bare `xdp` giving ``needsTarget(_:)``), plus the forms that name a target no section
    /// name can: `xdp/IFNAME`, `xdp.frags/IFNAME`, `tcx/ingress/IFNAME`, `tcx/egress/IFNAME` (and `tc/…`),
    /// `netkit/primary/IFNAME`, `netkit/peer/IFNAME`, `socket/IFNAME`, `perf_event/EVENT`, and
    /// `<cgroup section>:CGROUP_PATH` (`cgroup/connect4:/sys/fs/cgroup`, `cgroup_skb/ingress:/sys/fs/cgroup/x`,
    /// `sockops:/sys/fs/cgroup`).
    public init(spec: some StringProtocol) throws(AttachSpecError) {
        let text = Substring(spec)
        if let definition = SectionDefinition.find(text) {
            try self.init(name: text, definition: definition)
            return
        }
        if let target = try Self.parseInterfaceOrEventForm(text) {
            self = target
            return
        }
        if let colon = text.firstIndex(ofASCII: UInt8(ascii: ":")), let definition = SectionDefinition.find(text[..<colon]),
            definition.mechanism == .cgroup
        {
            let path = text.suffix(afterASCII: colon)
            guard !path.isEmpty else {
                throw AttachSpecError(spec: text, subject: "cgroup", .missingPart, "needs a cgroup path after ':'")
            }
            guard let attachType = definition.expectedAttachType else {
                throw AttachSpecError(
                    spec: text, subject: "cgroup", .missingPart,
                    "does not say which hook; use cgroup_skb/ingress:PATH or cgroup_skb/egress:PATH")
            }
            self = .cgroup(attachType: attachType, path: String(path))
            return
        }
        throw AttachSpecError(
            spec: text, subject: "attach", .unknownKind,
            "is not a known section name or attach form (e.g. tracepoint/CAT/NAME, kprobe/FN, "
                + "uprobe/PATH:SYMBOL, xdp/IFNAME, tcx/ingress/IFNAME, cgroup/connect4:PATH)")
    }

    /// Reads the target from a section `name` (without `?`) that matches `definition`, following the rules
    /// of libbpf's auto-attach for that kind of section.
    public init(name: Substring, definition: SectionDefinition) throws(AttachSpecError) {
        let mechanism = definition.mechanism
        let isReturn = definition.flags.contains(.returnProbe)
        let sleepable = definition.isSleepable
        guard let rest = definition.suffix(of: name) else {
            self = mechanism.isIndirect ? .indirect(mechanism) : .needsTarget(mechanism)
            return
        }
        func fail(_ code: AttachSpecError.Code, _ message: String) -> AttachSpecError {
            AttachSpecError(spec: name, subject: mechanism.description, code, message)
        }
        if rest.isEmpty, mechanism.attachesFromSectionName || mechanism == .freplace {
            throw fail(.missingPart, "names nothing after '/'; expected \(mechanism.targetHint)")
        }
        switch mechanism {
        case .kprobe:
            self = try Self.parseKprobe(rest, isReturn: isReturn, fail: fail)
        case .kprobeMulti, .kprobeSession:
            guard rest.utf8.allSatisfy({ isSymbolByte($0) || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") })
            else { throw fail(.invalidName, "has an invalid function pattern '\(rest)'") }
            self = .kprobeMulti(pattern: String(rest), isReturn: isReturn, isSession: mechanism == .kprobeSession)
        case .uprobe:
            self = try Self.parseUprobe(rest, isReturn: isReturn, sleepable: sleepable, fail: fail)
        case .uprobeMulti, .uprobeSession:
            guard let colon = rest.firstIndex(ofASCII: UInt8(ascii: ":")), colon != rest.startIndex,
                !rest.suffix(afterASCII: colon).isEmpty
            else { throw fail(.missingPart, "needs PATH:PATTERN") }
            self = .uprobeMulti(
                path: String(rest[..<colon]), pattern: String(rest.suffix(afterASCII: colon)),
                isReturn: isReturn, isSession: mechanism == .uprobeSession, sleepable: sleepable)
        case .ksyscall:
            self = .ksyscall(name: String(rest), isReturn: isReturn)
        case .usdt:
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
                throw fail(.missingPart, "needs PATH:PROVIDER:NAME")
            }
            self = .usdt(path: String(parts[0]), provider: String(parts[1]), name: String(parts[2]))
        case .tracepoint:
            guard let slash = rest.firstIndex(ofASCII: UInt8(ascii: "/")), slash != rest.startIndex,
                !rest.suffix(afterASCII: slash).isEmpty
            else { throw fail(.missingPart, "needs CATEGORY/NAME") }
            self = .tracepoint(category: String(rest[..<slash]), name: String(rest.suffix(afterASCII: slash)))
        case .rawTracepoint: self = .rawTracepoint(name: String(rest))
        case .btfTracepoint: self = .btfTracepoint(name: String(rest))
        case .fentry: self = .fentry(function: String(rest))
        case .fexit: self = .fexit(function: String(rest))
        case .fmodRet: self = .fmodRet(function: String(rest))
        case .fsession: self = .fsession(function: String(rest))
        case .tracingMulti:
            self = .tracingMulti(attachType: definition.expectedAttachType ?? .traceFentryMulti, pattern: String(rest))
        case .freplace: self = .freplace(function: String(rest))
        case .lsm: self = .lsm(hook: String(rest))
        case .iter: self = .iter(name: String(rest))
        default:
            // `struct_ops/NAME`, `lsm_cgroup/HOOK`: the rest names the member or hook, not an attach point.
            self = mechanism.isIndirect ? .indirect(mechanism) : .needsTarget(mechanism)
        }
    }

    /// `xdp/IF`, `tcx/ingress/IF`, `netkit/peer/IF`, `socket/IF`, `perf_event/EVENT`; nil when `text` is
    /// none of these.
    private static func parseInterfaceOrEventForm(_ text: Substring) throws(AttachSpecError) -> AttachTarget? {
        for form in interfaceForms {
            guard text.utf8.starts(with: form.prefix.utf8) else { continue }
            let rest = text.dropFirst(asciiCount: form.prefix.utf8.count)
            if form.mechanism == .perfEvent {
                guard !rest.isEmpty else {
                    throw AttachSpecError(spec: text, subject: "perf_event", .missingPart, "needs an event name")
                }
                return .perfEvent(event: String(rest))
            }
            guard isValidInterfaceName(rest) else {
                throw AttachSpecError(
                    spec: text, subject: form.mechanism.description, .invalidInterface,
                    rest.isEmpty
                        ? "needs an interface name"
                        : "has an invalid interface name '\(rest)' (1-15 characters, no '/', ':' or spaces)")
            }
            let interface = String(rest)
            switch form.mechanism {
            case .xdp: return .xdp(interface: interface)
            case .tcx: return .tcx(direction: form.detail == "egress" ? .egress : .ingress, interface: interface)
            case .netkit: return .netkit(peer: form.detail == "peer", interface: interface)
            default: return .socket(interface: interface)
            }
        }
        return nil
    }

    /// The command-line forms that end in an interface name (or, for perf_event, an event), as data.
    private static let interfaceForms: [(prefix: String, mechanism: AttachMechanism, detail: String)] = [
        ("xdp/", .xdp, ""),
        ("xdp.frags/", .xdp, ""),
        ("tcx/ingress/", .tcx, "ingress"),
        ("tcx/egress/", .tcx, "egress"),
        ("tc/ingress/", .tcx, "ingress"),
        ("tc/egress/", .tcx, "egress"),
        ("netkit/primary/", .netkit, "primary"),
        ("netkit/peer/", .netkit, "peer"),
        ("socket/", .socketFilter, ""),
        ("perf_event/", .perfEvent, ""),
    ]

    /// `FUNC[+OFFSET]`: libbpf reads the function as `[A-Za-z0-9_.]+`, then `+` and a C integer.
    private static func parseKprobe(
        _ rest: Substring, isReturn: Bool, fail: (AttachSpecError.Code, String) -> AttachSpecError
    ) throws(AttachSpecError) -> AttachTarget {
        var function = rest
        var offset: UInt64 = 0
        if let plus = rest.firstIndex(ofASCII: UInt8(ascii: "+")) {
            function = rest[..<plus]
            let text = rest.suffix(afterASCII: plus)
            guard let value = parseCInteger(text) else {
                throw fail(.invalidOffset, "has an offset '\(text)' that is not a non-negative integer")
            }
            offset = value
        }
        guard !function.isEmpty else { throw fail(.missingPart, "needs a function name") }
        guard function.utf8.allSatisfy(isSymbolByte) else {
            throw fail(.invalidName, "has an invalid function name '\(function)' (letters, digits, '_' and '.')")
        }
        if isReturn, offset != 0 { throw fail(.offsetNotAllowed, "cannot take an offset (kretprobes do not)") }
        return .kprobe(function: String(function), offset: offset, isReturn: isReturn)
    }

    /// `PATH:SYMBOL[+OFFSET]` or `PATH:OFFSET`. The path ends at the first ':' (as libbpf); a `+OFFSET`
    /// that is not an integer stays part of the symbol (C++ names may contain '+').
    private static func parseUprobe(
        _ rest: Substring, isReturn: Bool, sleepable: Bool,
        fail: (AttachSpecError.Code, String) -> AttachSpecError
    ) throws(AttachSpecError) -> AttachTarget {
        guard let colon = rest.firstIndex(ofASCII: UInt8(ascii: ":")), colon != rest.startIndex else {
            throw fail(.missingPart, "needs PATH:SYMBOL")
        }
        let path = String(rest[..<colon])
        var location = rest.suffix(afterASCII: colon)
        guard !location.isEmpty else { throw fail(.missingPart, "needs a symbol or offset after ':'") }
        if let address = parseCInteger(location) {
            return .uprobe(path: path, symbol: nil, offset: address, isReturn: isReturn, sleepable: sleepable)
        }
        var offset: UInt64 = 0
        if let plus = location.lastIndex(ofASCII: UInt8(ascii: "+")), let value = parseCInteger(location.suffix(afterASCII: plus)) {
            offset = value
            location = location[..<plus]
            guard !location.isEmpty else { throw fail(.missingPart, "needs a symbol before '+'") }
        }
        if isReturn, offset != 0 {
            throw fail(.offsetNotAllowed, "cannot take an offset after the symbol (uretprobes do not)")
        }
        return .uprobe(path: path, symbol: String(location), offset: offset, isReturn: isReturn, sleepable: sleepable)
    }
}

/// `[A-Za-z0-9_.]`: the characters libbpf accepts in kprobe function names.
private func isSymbolByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."):
        return true
    default:
        return false
    }
}

/// A Linux interface name: 1-15 bytes, not `.` or `..`, no '/', ':' or whitespace (`dev_valid_name`).
private func isValidInterfaceName(_ name: Substring) -> Bool {
    let bytes = name.utf8
    guard (1...15).contains(bytes.count), name != ".", name != ".." else { return false }
    return bytes.allSatisfy { byte in
        byte != UInt8(ascii: "/") && byte != UInt8(ascii: ":") && byte > 0x20 && byte != 0x7f
    }
}

/// A non-negative integer as C's `strtoul(text, NULL, 0)` reads it when it consumes all of `text`:
/// `0x`/`0X` hexadecimal, a leading `0` octal, else decimal. Nil on anything else or on overflow.
func parseCInteger(_ text: Substring) -> UInt64? {
    var digits = text.utf8[...]
    var radix: UInt64 = 10
    if digits.count > 2, digits.first == UInt8(ascii: "0"),
        digits.dropFirst().first == UInt8(ascii: "x") || digits.dropFirst().first == UInt8(ascii: "X")
    {
        radix = 16
        digits = digits.dropFirst(2)
    } else if digits.count > 1, digits.first == UInt8(ascii: "0") {
        radix = 8
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty else { return nil }
    var value: UInt64 = 0
    for byte in digits {
        let digit: UInt64
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
        guard digit < radix else { return nil }
        let (shifted, overflow1) = value.multipliedReportingOverflow(by: radix)
        let (sum, overflow2) = shifted.addingReportingOverflow(digit)
        if overflow1 || overflow2 { return nil }
        value = sum
    }
    return value
}

/// `0x` followed by lower-case hexadecimal digits.
private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// An attach SPEC or section name that cannot be read: which text, what kind of target, and why.
public struct AttachSpecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, for callers that branch on it.
    public enum Code: Sendable, Hashable {
        /// The text is not a known section name or attach form.
        case unknownKind
        /// A required part is missing (`uprobe/x` lacks `:SYMBOL`).
        case missingPart
        /// A function, pattern or symbol has characters that cannot be right.
        case invalidName
        /// An offset is not a non-negative integer.
        case invalidOffset
        /// An offset where none is allowed (return probes).
        case offsetNotAllowed
        /// An interface name is empty or invalid.
        case invalidInterface
    }

    /// The SPEC or section name as given.
    public let spec: String
    /// The kind of target being read (`uprobe`, `tracepoint`, `attach` when unknown).
    public let subject: String
    /// What went wrong.
    public let code: Code
    /// The reason, phrased to follow the spec (`needs PATH:SYMBOL`).
    public let message: String

    /// Makes the error.
    public init(spec: some StringProtocol, subject: String, _ code: Code, _ message: String) {
        self.spec = String(spec)
        self.subject = subject
        self.code = code
        self.message = message
    }

    /// One line: `uprobe spec 'uprobe/x' needs PATH:SYMBOL`.
    public var description: String { "\(subject) spec '\(spec)' \(message)" }
}

/// One `--attach [PROGRAM=]SPEC` argument: an optional program name and the target.
public struct AttachRequest: Sendable, Hashable, CustomStringConvertible {
    /// The program to attach, or nil to pick the program(s) whose section fits the spec.
    public let program: String?
    /// The SPEC text (after `PROGRAM=`).
    public let spec: String
    /// The parsed target.
    public let target: AttachTarget

    /// Parses `[PROGRAM=]SPEC`. The part before the first `=` is a program name only when it is a C
    /// identifier (so paths containing `=` stay in the spec).
    public init(parsing text: String) throws(AttachSpecError) {
        var program: String? = nil
        var spec = Substring(text)
        if let equals = text.firstIndex(ofASCII: UInt8(ascii: "=")) {
            let candidate = text[..<equals]
            if !candidate.isEmpty,
                candidate.utf8.allSatisfy({ isSymbolByte($0) && $0 != UInt8(ascii: ".") }),
                candidate.utf8.first.map({ !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) == true
            {
                program = String(candidate)
                spec = text.suffix(afterASCII: equals)
            }
        }
        self.program = program
        self.spec = String(spec)
        self.target = try AttachTarget(spec: spec)
    }

    /// `PROGRAM=SPEC` or `SPEC`, with the spec as given.
    public var description: String { program.map { "\($0)=\(spec)" } ?? spec }
}
