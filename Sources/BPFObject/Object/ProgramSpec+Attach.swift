extension ProgramSpec {
    /// Whether this program can be attached to `target`: the target's mechanism is the one its section
    /// names (`tracepoint/a/b` takes any `tracepoint/…`), or, for probes, which share the `kprobe`
    /// program type, any probe mechanism (a `kprobe` program on a uprobe, a `uprobe` one on a ksyscall).
    public func accepts(_ target: AttachTarget) -> Bool {
        if let own = attachTarget?.mechanism, own == target.mechanism { return true }
        let probes: Set<AttachMechanism> = [.kprobe, .ksyscall, .uprobe]
        return type == .kprobe && probes.contains(target.mechanism)
    }

    /// Whether this program was built for exactly the hook `target` names: the same expected attach type
    /// for targets that imply one (a `tcx/egress` program for `tcx/egress/IFNAME`, a `cgroup_skb/ingress`
    /// one for `cgroup_skb/ingress:PATH`). Used to choose among several programs that ``accepts(_:)``.
    public func matchesHook(of target: AttachTarget) -> Bool {
        let implied: AttachType?
        switch target {
        case .tcx(let direction, _): implied = direction == .ingress ? .tcxIngress : .tcxEgress
        case .cgroup(let attachType, _): implied = attachType
        default: implied = nil
        }
        return implied != nil && implied == expectedAttachType
    }

    /// Whether the kernel fixes this program's target when it loads it (`tp_btf`, `fentry`, `fexit`,
    /// `fmod_ret`, `lsm`, `iter`: the program carries the target's BTF id), so that attaching it somewhere
    /// else means naming the new target in ``sectionName`` before loading.
    public var targetIsFixedAtLoad: Bool {
        switch attachTarget?.mechanism {
        case .btfTracepoint?, .fentry?, .fexit?, .fmodRet?, .lsm?, .iter?: true
        default: false
        }
    }
}
