#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A map's value memory mapped into this process (an `BPF_F_MMAPABLE` array such as `.data` or `.bss`):
/// reads and writes go straight to the kernel's copy, which programs see at once. Unmapped in `deinit`.
public final class MappedMapMemory: @unchecked Sendable {
    /// The mapping's first byte.
    public let base: UnsafeMutableRawPointer
    /// The mapping's length in bytes (the value size rounded up to pages).
    public let length: Int
    /// The usable bytes (the map's value size).
    public let valueSize: Int
    /// Whether the mapping is read-only (a frozen `.rodata`).
    public let isReadOnly: Bool

    /// Maps `valueSize` bytes of the array map behind `fd`; nil when the kernel refuses.
    init?(fd: Int32, valueSize: Int, readOnly: Bool) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = max(page, (valueSize + page - 1) / page * page)
        let protection = readOnly ? PROT_READ : (PROT_READ | PROT_WRITE)
        guard let pointer = mmap(nil, length, protection, MAP_SHARED, fd, 0), pointer != MAP_FAILED else { return nil }
        base = pointer
        self.length = length
        self.valueSize = valueSize
        isReadOnly = readOnly
    }

    /// The mapped value bytes.
    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: valueSize) }

    deinit { munmap(base, length) }
}
