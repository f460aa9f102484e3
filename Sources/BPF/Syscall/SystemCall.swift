import CBPF
import SystemPackage

/// The raw `bpf(2)` system call, with the kernel's `-errno` turned into a typed `Errno`.
///
/// Each command has its own attribute struct (`cbpf_*_attr` in the C shim); callers fill a zeroed one and
/// pass exactly its size, as the kernel requires: it rejects non-zero bytes past the fields it knows
/// (`E2BIG`), so a struct never carries fields the caller did not mean to set.
public enum SystemCall {
    /// Calls `bpf(command, attr, MemoryLayout<Attr>.size)`; the result (often a new file descriptor) or
    /// the errno.
    ///
    /// The corresponding system call is `bpf(2)`.
    public static func bpf<Attr>(_ command: BPFCommand, _ attr: inout Attr) -> Result<Int, Errno> {
        bpf(command, &attr, size: MemoryLayout<Attr>.size)
    }

    /// Calls `bpf(command, attr, size)` with an explicit size: the first `size` bytes of `attr` are
    /// passed (for probing whether a kernel knows a field, pass a size that ends before it).
    public static func bpf<Attr>(_ command: BPFCommand, _ attr: inout Attr, size: Int) -> Result<Int, Errno> {
        precondition(size <= MemoryLayout<Attr>.size, "attribute size beyond the struct")
        let result = withUnsafeMutableBytes(of: &attr) { cbpf_bpf(Int32(command.rawValue), $0.baseAddress, UInt32(size)) }
        return result < 0 ? .failure(Errno(rawValue: Int32(-result))) : .success(result)
    }

    /// Calls `bpf` and wraps a new file descriptor in an owner; failures become a ``BPFError`` naming the
    /// command and `what` was being done.
    static func descriptor<Attr>(_ command: BPFCommand, _ attr: inout Attr, _ what: @autoclosure () -> String)
        throws(BPFError) -> OwnedFileDescriptor {
        switch bpf(command, &attr) {
        case .success(let fd): return try OwnedFileDescriptor(adopting: Int32(fd))
        case .failure(let errno): throw BPFError(errno: errno, command: command, what())
        }
    }

    /// Calls `bpf` for a command that returns no descriptor; failures become a ``BPFError``.
    @discardableResult
    static func call<Attr>(_ command: BPFCommand, _ attr: inout Attr, _ what: @autoclosure () -> String)
        throws(BPFError) -> Int {
        switch bpf(command, &attr) {
        case .success(let value): return value
        case .failure(let errno): throw BPFError(errno: errno, command: command, what())
        }
    }
}

/// The address of a buffer as the kernel's `__aligned_u64` pointer fields take it.
@inline(__always)
func kernelPointer(_ pointer: UnsafeRawPointer?) -> UInt64 { UInt64(UInt(bitPattern: pointer)) }

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
        (1, "EPERM"), (2, "ENOENT"), (3, "ESRCH"), (4, "EINTR"), (5, "EIO"), (6, "ENXIO"), (7, "E2BIG"),
        (9, "EBADF"), (11, "EAGAIN"), (12, "ENOMEM"), (13, "EACCES"), (14, "EFAULT"), (16, "EBUSY"),
        (17, "EEXIST"), (19, "ENODEV"), (20, "ENOTDIR"), (21, "EISDIR"), (22, "EINVAL"), (24, "EMFILE"),
        (28, "ENOSPC"), (30, "EROFS"), (34, "ERANGE"), (38, "ENOSYS"), (61, "ENODATA"), (75, "EOVERFLOW"),
        (95, "EOPNOTSUPP"), (524, "ENOTSUPP"),
    ]
}
