import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one owner of a kernel file descriptor (map, program, link, BTF, perf event): closes it in `deinit`.
///
/// Never holds descriptors 0, 1 or 2: a process that closed its standard streams would otherwise get a
/// BPF object there, and a later write to "stdout" would go to the kernel (libbpf's `ensure_good_fd`).
/// Every descriptor is close-on-exec, so programs and maps do not leak into child processes.
public final class OwnedFileDescriptor: @unchecked Sendable {
    /// The descriptor number; valid while this object lives.
    public let rawValue: Int32

    /// Takes ownership of `fd`, a descriptor the kernel just returned. A descriptor below 3 is moved to a
    /// close-on-exec duplicate numbered 3 or more and the original closed.
    public init(adopting fd: Int32) throws(BPFError) {
        guard fd >= 0 else { throw BPFError(.invalidArgument, "invalid file descriptor \(fd)") }
        if fd >= 3 {
            rawValue = fd
            return
        }
        let moved = cbpf_dup_cloexec(fd, 3)
        _ = close(fd)
        guard moved >= 0 else {
            throw BPFError(errno: Errno(rawValue: -moved), command: nil, "moving descriptor \(fd) above the standard streams")
        }
        rawValue = moved
    }

    /// A second owner of the same kernel object (a close-on-exec duplicate), for handing out independently
    /// closable references.
    public func duplicate() throws(BPFError) -> OwnedFileDescriptor {
        let fd = cbpf_dup_cloexec(rawValue, 3)
        guard fd >= 0 else { throw BPFError(errno: Errno(rawValue: -fd), command: nil, "duplicating descriptor \(rawValue)") }
        return try OwnedFileDescriptor(adopting: fd)
    }

    deinit { _ = close(rawValue) }
}
