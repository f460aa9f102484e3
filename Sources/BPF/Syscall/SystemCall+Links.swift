import CBPF
import SystemPackage

/// One typed function per link and attach command.
extension SystemCall {
    /// Creates a link between a program and its target; the result is the link's descriptor. The
    /// corresponding kernel command is `BPF_LINK_CREATE`.
    public static func linkCreate(_ attr: inout cbpf_link_create_attr) -> Result<Int, Errno> {
        bpf(.linkCreate, &attr)
    }

    /// Replaces a link's program (only if it is still `oldProgram`, when given). The corresponding kernel
    /// command is `BPF_LINK_UPDATE`.
    public static func linkUpdate(_ link: Int32, program: Int32, oldProgram: Int32? = nil) -> Result<Void, Errno> {
        var attr = cbpf_link_update_attr(link_fd: UInt32(bitPattern: link), new_prog_fd: UInt32(bitPattern: program),
                                         flags: oldProgram == nil ? 0 : UInt32(BPF_F_REPLACE),
                                         old_prog_fd: UInt32(bitPattern: oldProgram ?? 0))
        return bpf(.linkUpdate, &attr).map { _ in }
    }

    /// Detaches a link from its target while its descriptor stays open. The corresponding kernel command is
    /// `BPF_LINK_DETACH`.
    public static func linkDetach(_ link: Int32) -> Result<Void, Errno> {
        var attr = cbpf_link_detach_attr(link_fd: UInt32(bitPattern: link))
        return bpf(.linkDetach, &attr).map { _ in }
    }

    /// Opens an iterator on an `iter` link; reading the result runs the program. The corresponding kernel
    /// command is `BPF_ITER_CREATE`.
    public static func iterCreate(_ link: Int32) -> Result<Int, Errno> {
        var attr = cbpf_iter_create_attr(link_fd: UInt32(bitPattern: link), flags: 0)
        return bpf(.iterCreate, &attr)
    }

    /// Attaches a raw tracepoint, `tp_btf`, fentry/fexit or lsm program the pre-link way (`name` nil for
    /// BTF-typed programs); the result is a link-like descriptor. The corresponding kernel command is
    /// `BPF_RAW_TRACEPOINT_OPEN`.
    public static func rawTracepointOpen(program: Int32, name: String?) -> Result<Int, Errno> {
        func open(_ pointer: UnsafePointer<CChar>?) -> Result<Int, Errno> {
            var attr = cbpf_raw_tracepoint_attr(name: kernelPointer(pointer), prog_fd: UInt32(bitPattern: program), pad: 0)
            return bpf(.rawTracepointOpen, &attr)
        }
        guard let name else { return open(nil) }
        return name.withCString(open)
    }

    /// Attaches a program the pre-link way (cgroup, sockmap, flow dissector). The corresponding kernel
    /// command is `BPF_PROG_ATTACH`.
    public static func programAttach(_ attr: inout cbpf_prog_attach_attr) -> Result<Void, Errno> {
        bpf(.programAttach, &attr).map { _ in }
    }

    /// Detaches what ``programAttach(_:)`` attached. The corresponding kernel command is `BPF_PROG_DETACH`.
    public static func programDetach(_ attr: inout cbpf_prog_attach_attr) -> Result<Void, Errno> {
        bpf(.programDetach, &attr).map { _ in }
    }
}
