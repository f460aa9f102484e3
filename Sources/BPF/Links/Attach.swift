import BPFObject

extension Program {
    /// Attaches this program to `target` through the mechanism the target names (``AttachTarget`` is what a
    /// section name or a `--attach` SPEC says): the one entry point the run command uses, and the
    /// library's equivalent of libbpf's `bpf_program__attach`.
    ///
    /// Targets whose kernel object is fixed when the program is loaded (`tp_btf`, `fentry`, `fexit`,
    /// `fmod_ret`, `lsm`, `iter`: the program carries its `attach_btf_id`) must name the target the program
    /// was loaded for; to attach one elsewhere, change its spec's section name before loading.
    ///
    /// - Returns: the attachments: one, or one per CPU for `perf_event` sampling.
    /// - Throws: ``BPFError`` `.invalidArgument` when the program's type cannot take the target or the
    ///   target names nothing to attach to, `.unsupported` for mechanisms swift-load does not attach
    ///   (multi-kprobes, USDT, freplace, netkit, struct_ops), and each mechanism's own errors.
    public func attach(to target: AttachTarget, cookie: UInt64? = nil) throws(BPFError) -> [Link] {
        switch target {
        case .tracepoint(let category, let name):
            return [try attachTracepoint(category: category, name: name, cookie: cookie)]
        case .rawTracepoint(let name):
            return [try attachRawTracepoint(name: name)]
        case .btfTracepoint, .fentry, .fexit, .fmodRet, .lsm:
            try requireLoadedTarget(target)
            return [try attachTracing(cookie: cookie)]
        case .iter:
            try requireLoadedTarget(target)
            return [try attachIterator()]
        case .kprobe(let function, let offset, let isReturn):
            return [try attachKprobe(function: function, offset: offset, isReturn: isReturn, cookie: cookie)]
        case .ksyscall(let name, let isReturn):
            return [try attachKsyscall(name: name, isReturn: isReturn, cookie: cookie)]
        case .uprobe(let path, let symbol, let offset, let isReturn, _):
            return [try attachUprobe(path: path, symbol: symbol, offset: offset, isReturn: isReturn, cookie: cookie)]
        case .xdp(let interface):
            return [try attachXDP(interface: interface)]
        case .tcx(let direction, let interface):
            return [try attachTCX(direction: direction, interface: interface)]
        case .cgroup(let attachType, let path):
            return [try attachCgroup(path: path, attachType: attachType)]
        case .socket(let interface):
            return [try attachSocketFilter(interface: interface)]
        case .perfEvent(let event):
            return try attachPerfEvent(event: event)
        case .needsTarget(let mechanism):
            throw BPFError(.invalidArgument, "cannot attach program \(name): section \(sectionName.isEmpty ? "?" : sectionName) does not say where; give a target: \(mechanism.targetHint)")
        case .indirect(let mechanism):
            throw BPFError(.invalidArgument, "program \(name) is not attached on its own: it is used through \(mechanism.targetHint)")
        case .kprobeMulti, .uprobeMulti, .usdt, .fsession, .tracingMulti, .freplace, .netkit:
            throw BPFError(.unsupported, "cannot attach program \(name) to \(target): swift-load does not attach \(target.mechanism) programs")
        }
    }

    /// Attaches this program where its section name says (`SEC("tracepoint/syscalls/sys_enter_execve")`).
    /// - Throws: ``BPFError`` `.invalidArgument` when the section names no target (`SEC("xdp")`: use
    ///   ``attach(to:cookie:)`` with one), and the errors of ``attach(to:cookie:)``.
    public func attach(cookie: UInt64? = nil) throws(BPFError) -> [Link] {
        guard let attachTarget else {
            throw BPFError(.invalidArgument, "cannot attach program \(name): its section \(sectionName.isEmpty ? "(none)" : "'\(sectionName)'") is not one swift-load knows")
        }
        return try attach(to: attachTarget, cookie: cookie)
    }

    /// Targets fixed at load time (BTF ids) must be the one the program was loaded for.
    private func requireLoadedTarget(_ target: AttachTarget) throws(BPFError) {
        guard let loadedFor = attachTarget, loadedFor != target else { return }
        guard loadedFor.mechanism == target.mechanism else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) (\(type), section \(sectionName)) to \(target): it takes \(loadedFor.mechanism.targetHint)")
        }
        throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it was loaded for \(loadedFor) (the kernel fixes \(target.mechanism) targets at load time; name \(target) in its section, or pass the attach spec before loading)")
    }
}
