import BPFObject
import SystemPackage

extension Program {
    /// Attaches this raw tracepoint program to the kernel tracepoint `name` (`sys_enter`,
    /// `sched_switch`): `BPF_RAW_TRACEPOINT_OPEN`, whose descriptor is a BPF link (it has an id and can be
    /// pinned). The program sees the tracepoint's raw arguments (`struct bpf_raw_tracepoint_args`), with
    /// no perf event in between.
    ///
    /// - Parameter name: the tracepoint's name (without its category), or nil for the one the program's
    ///   section names (`SEC("raw_tp/sys_enter")`).
    /// - Returns: the attachment, with ``Link/target`` `raw_tp/NAME`; closing it detaches the program.
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not a raw tracepoint program or when `name`
    ///   is nil and the section names no tracepoint, `.notFound` when the kernel has no tracepoint `name`,
    ///   `.permission` without root.
    public func attachRawTracepoint(name: String? = nil) throws(BPFError) -> Link {
        let tracepoint: String
        if let name {
            tracepoint = name
        } else if case .rawTracepoint(let sectionTracepoint)? = attachTarget {
            tracepoint = sectionTracepoint
        } else {
            throw BPFError(.invalidArgument, "program \(self.name) (section \(sectionName.isEmpty ? "unknown" : sectionName)) names no raw tracepoint: call attachRawTracepoint(name:)")
        }
        let target = "raw_tp/\(tracepoint)"
        guard type == .rawTracepoint || type == .rawTracepointWritable else {
            var message = "cannot attach program \(self.name) to \(target): it is a \(type) program, and raw tracepoints take raw tracepoint programs (SEC(\"raw_tp/NAME\"))"
            if type == .tracing && expectedAttachType == .traceRawTP {
                message += "; a tp_btf program attaches with attachTracing()"
            }
            throw BPFError(.invalidArgument, message)
        }
        // The kernel copies at most 127 bytes of the name; a NUL inside would silently cut it.
        guard !tracepoint.isEmpty, !tracepoint.utf8.contains(0), tracepoint.utf8.count < 128 else {
            throw BPFError(.invalidArgument, "cannot attach program \(self.name): '\(tracepoint)' is not a raw tracepoint name (1-127 bytes, no NUL)")
        }
        switch SystemCall.rawTracepointOpen(program: descriptor.rawValue, name: tracepoint) {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink,
                        programName: self.name, target: target)
        case .failure(let errno) where errno == .noSuchFileOrDirectory:
            throw BPFError(.notFound, "cannot attach program \(self.name) to \(target): this kernel has no raw tracepoint \(tracepoint) (BPF_RAW_TRACEPOINT_OPEN failed: ENOENT)",
                           command: .rawTracepointOpen, errno: errno)
        case .failure(let errno):
            throw BPFError(errno: errno, command: .rawTracepointOpen, "attaching program \(self.name) to \(target)")
        }
    }
}
