import CBPF
import SystemPackage

/// The raw `bpf(2)` system call, with the kernel's `-errno` turned into a typed `Errno`.
///
/// Callers fill a zeroed `bpf_attr` and pass only the size of what they filled, as the kernel requires:
/// it rejects non-zero bytes past the fields it knows (`E2BIG`).
public enum SystemCall {
    /// Calls `bpf(command, attr, size)`; the result (often a new file descriptor) or the errno.
    ///
    /// The corresponding system call is `bpf(2)`.
    public static func bpf(_ command: bpf_cmd, _ attr: inout bpf_attr, size: Int = MemoryLayout<bpf_attr>.size) -> Result<Int, Errno> {
        let result = cbpf_bpf(Int32(command.rawValue), &attr, UInt32(size))
        return result < 0 ? .failure(Errno(rawValue: Int32(-result))) : .success(result)
    }
}

extension Errno {
    /// `ENOTSUPP` (524): the kernel's internal "operation not supported", which glibc does not name and
    /// the verifier and BTF loader return.
    public static let kernelNotSupported = Errno(rawValue: 524)

    /// The symbolic name (`EPERM`, `ENOTSUPP`), or `errno N` for one this table does not know.
    public var symbolicName: String {
        ErrnoNames.table.first { $0.0 == rawValue }?.1 ?? "errno \(rawValue)"
    }
}

/// errno values the loader reports by name: one table, data, not a switch.
enum ErrnoNames {
    static let table: [(Int32, String)] = [
        (1, "EPERM"), (2, "ENOENT"), (3, "ESRCH"), (4, "EINTR"), (5, "EIO"), (7, "E2BIG"), (9, "EBADF"),
        (11, "EAGAIN"), (12, "ENOMEM"), (13, "EACCES"), (14, "EFAULT"), (16, "EBUSY"), (17, "EEXIST"),
        (19, "ENODEV"), (20, "ENOTDIR"), (22, "EINVAL"), (24, "EMFILE"), (28, "ENOSPC"), (34, "ERANGE"),
        (38, "ENOSYS"), (61, "ENODATA"), (75, "EOVERFLOW"), (95, "EOPNOTSUPP"), (524, "ENOTSUPP"),
    ]
}
