extension ProgramSpec {
    /// Whether this program can be attached to `target`: the target's mechanism is the one its section
    /// names (`tracepoint/a/b` takes any `tracepoint/…`), or, for probes, which share the `kprobe`
    /// program type, any probe mechanism (a `kprobe` program on a uprobe, a `uprobe` one on a ksyscall).
    public func accepts(_ target: AttachTarget) -> Bool {
        if let own = attachTarget?.mechanism, own == target.mechanism { return true }
        let probes: Set<AttachMechanism> = [.kprobe, .ksyscall, .uprobe]
        return type == .kprobe && probes.contains(target.mechanism)
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
