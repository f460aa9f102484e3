#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes that parsers read from: either a read-only memory mapping of a file or an owned copy.
///
/// Mapping is what keeps parsing `/sys/kernel/btf/vmlinux` cheap: nothing is copied, and the pages are
/// shared with the page cache. The storage never changes after creation, so it is safe to share.
public final class ByteStorage: @unchecked Sendable {
    /// The bytes. Valid for the lifetime of this object.
    public let buffer: UnsafeRawBufferPointer
    private let mapped: Bool

    /// Wraps a copy of `bytes`.
    public init(_ bytes: [UInt8]) {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, !source.isEmpty {
                memory.baseAddress!.copyMemory(from: base, byteCount: source.count)
            }
        }
        buffer = UnsafeRawBufferPointer(rebasing: memory[0..<bytes.count])
        mapped = false
    }

    /// Maps the file at `path` read-only. Files the kernel generates on read (sysfs, procfs) cannot
    /// always be mapped; those are read into memory instead.
    ///
    /// - Throws: ``FileReadError`` naming the path and the errno when the file cannot be opened or read.
    public init(contentsOf path: String, maximumSize: Int = 1 << 32) throws(FileReadError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileReadError(path: path, operation: "stat", errno: errno) }
        let size = Int(info.st_size)
        guard size <= maximumSize else {
            throw FileReadError(path: path, operation: "read", errno: EFBIG)
        }
        if size > 0, (info.st_mode & S_IFMT) == S_IFREG,
           let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED {
            buffer = UnsafeRawBufferPointer(start: address, count: size)
            mapped = true
            return
        }
        // Not mappable (pipe, procfs, empty sysfs size): read until EOF with a bounded buffer.
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > maximumSize { throw FileReadError(path: path, operation: "read", errno: EFBIG) }
        }
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, !source.isEmpty {
                memory.baseAddress!.copyMemory(from: base, byteCount: source.count)
            }
        }
        buffer = UnsafeRawBufferPointer(rebasing: memory[0..<bytes.count])
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count)
        } else {
            UnsafeMutableRawPointer(mutating: buffer.baseAddress)?.deallocate()
        }
    }

    /// A view of all the bytes in the given byte order.
    public func view(order: ByteOrder) -> ByteView {
        ByteView(storage: self, start: 0, count: buffer.count, order: order)
    }
}

/// A file could not be opened or read.
public struct FileReadError: Error, Sendable, CustomStringConvertible {
    /// The path that was being read.
    public var path: String
    /// What was being done: `open`, `stat` or `read`.
    public var operation: String
    /// The errno the system returned.
    public var errno: Int32

    /// Creates the error.
    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    /// `cannot open: No such file or directory`: the failure without the path, for messages that
    /// already name the file.
    public var reason: String {
        "cannot \(operation): " + (errno == EFBIG ? "file too large" : String(cString: strerror(errno)))
    }

    /// `cannot open /x: No such file or directory`.
    public var description: String {
        let reason = errno == EFBIG ? "file too large" : String(cString: strerror(errno))
        return "cannot \(operation) \(path): \(reason)"
    }
}
