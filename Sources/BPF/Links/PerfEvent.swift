import BPFObject
import CBPF
import SystemPackage

/// perf events as attachment points: tracepoints, kprobes, uprobes and sampling events all attach a
/// program to an open perf event, through a BPF link where the kernel has perf links (5.15) and through
/// `PERF_EVENT_IOC_SET_BPF` before that.
public enum PerfEvent {
    /// `PERF_FLAG_FD_CLOEXEC` (a function-like macro in `<linux/perf_event.h>`).
    static let closeOnExec: UInt = 1 << 3

    /// Opens a perf event described by `attribute` on `cpu` for every process (`pid` -1) or on `pid` for
    /// any CPU (`cpu` -1), close-on-exec. `what` names the event in errors.
    /// The corresponding system call is `perf_event_open(2)`.
    public static func open(_ attribute: perf_event_attr, pid: Int32 = -1, cpu: Int32 = 0,
                            what: String) throws(BPFError) -> OwnedFileDescriptor {
        var attribute = attribute
        attribute.size = UInt32(MemoryLayout<perf_event_attr>.size)
        let result = cbpf_perf_event_open(&attribute, pid, cpu, -1, closeOnExec)
        guard result >= 0 else {
            let errno = Errno(rawValue: Int32(-result))
            var error = BPFError(errno: errno, command: nil, "opening the perf event for \(what): perf_event_open failed")
            if errno == .notPermitted || errno == .permissionDenied {
                error.message += "; perf events for BPF need root (or CAP_PERFMON and CAP_BPF)"
            }
            throw error
        }
        return try OwnedFileDescriptor(adopting: Int32(result))
    }

    /// Opens the tracepoint with tracefs id `id` on CPU 0 for every process (a tracepoint event fires on
    /// every CPU whatever CPU it is opened on).
    public static func openTracepoint(id: UInt64, what: String) throws(BPFError) -> OwnedFileDescriptor {
        var attribute = perf_event_attr()
        attribute.type = PERF_TYPE_TRACEPOINT.rawValue
        attribute.config = id
        return try open(attribute, pid: -1, cpu: 0, what: what)
    }
}

extension Program {
    /// Attaches this program to an open perf event (a tracepoint, kprobe, uprobe or sampling event).
    ///
    /// Tries `BPF_LINK_CREATE` with attach type `BPF_PERF_EVENT` (kernel 5.15), which gives a pinnable
    /// link that holds the event itself; `event` can then be released. When the kernel does not know
    /// perf links (`EINVAL`), falls back to `PERF_EVENT_IOC_SET_BPF` and the returned link owns `event`
    /// (closing it detaches). Either way the event is enabled (`PERF_EVENT_IOC_ENABLE`).
    ///
    /// - Parameters:
    ///   - event: the perf event; the link takes it over. Keep no other reference to it: on the ioctl path
    ///     the kernel detaches the program only when the event's last descriptor closes.
    ///   - cookie: a value the program reads with `bpf_get_attach_cookie()`; needs perf links.
    ///   - target: what the event is, for messages and ``Link/target`` (`tracepoint/syscalls/sys_enter_execve`).
    public func attach(perfEvent event: OwnedFileDescriptor, cookie: UInt64? = nil,
                       target: String) throws(BPFError) -> Link {
        try attach(perfEvent: event, cookie: cookie, target: target, forceIoctl: false)
    }

    /// ``attach(perfEvent:cookie:target:)``, optionally skipping the link (libbpf's `force_ioctl_attach`),
    /// so that the pre-5.15 path can be exercised on any kernel.
    func attach(perfEvent event: OwnedFileDescriptor, cookie: UInt64?, target: String,
                forceIoctl: Bool) throws(BPFError) -> Link {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: descriptor.rawValue)
        attr.target = UInt32(bitPattern: event.rawValue)
        attr.attach_type = AttachType.perfEvent.rawValue
        attr.tail.perf_event.bpf_cookie = cookie ?? 0
        let what = "attaching program \(name) to \(target)"
        let created: Result<Int, Errno> = forceIoctl ? .failure(.invalidArgument) : SystemCall.linkCreate(&attr)
        switch created {
        case .success(let fd):
            let link = try OwnedFileDescriptor(adopting: Int32(fd))
            // Events open enabled; enabling again is harmless and covers events opened disabled.
            _ = cbpf_ioctl(event.rawValue, cbpf_PERF_EVENT_IOC_ENABLE, 0)
            return Link(descriptor: link, kind: .bpfLink, programName: name, target: target)
        case .failure(let linkErrno) where linkErrno == .invalidArgument:
            // No perf links on this kernel: the pre-5.15 way, where the event itself holds the program.
            if let cookie, cookie != 0 {
                throw BPFError(.unsupported, "\(what): BPF cookies need perf links (Linux 5.15), and BPF_LINK_CREATE with BPF_PERF_EVENT failed: EINVAL",
                               command: .linkCreate, errno: linkErrno)
            }
            let set = cbpf_ioctl(event.rawValue, cbpf_PERF_EVENT_IOC_SET_BPF, UInt(UInt32(bitPattern: descriptor.rawValue)))
            guard set >= 0 else {
                let errno = Errno(rawValue: Int32(-set))
                var error = BPFError(errno: errno, command: nil, "\(what): PERF_EVENT_IOC_SET_BPF failed")
                error.details.append("BPF_LINK_CREATE with BPF_PERF_EVENT failed first: EINVAL")
                throw error
            }
            let enable = cbpf_ioctl(event.rawValue, cbpf_PERF_EVENT_IOC_ENABLE, 0)
            guard enable >= 0 else {
                throw BPFError(errno: Errno(rawValue: Int32(-enable)), command: nil, "\(what): PERF_EVENT_IOC_ENABLE failed")
            }
            return Link(descriptor: event, kind: .perfEvent, programName: name, target: target)
        case .failure(let errno):
            throw BPFError(errno: errno, command: .linkCreate, what)
        }
    }
}
