/// The byte order of a file: BPF objects come as `bpfel` and `bpfeb`.
public enum ByteOrder: String, Sendable, Hashable, CustomStringConvertible {
    /// Least significant byte first (`bpfel`, x86, arm64).
    case little
    /// Most significant byte first (`bpfeb`, s390x).
    case big

    /// The byte order of the machine running this code.
    public static var host: ByteOrder { 1.littleEndian == 1 ? .little : .big }

    /// `little-endian` or `big-endian`.
    public var description: String { self == .little ? "little-endian" : "big-endian" }
}

/// A bounds-checked window on ``ByteStorage``, reading integers in one byte order.
///
/// Offsets are relative to the window. Checked readers return `nil` past the end (callers turn that into
/// an error that names what they were reading); `unchecked` readers are for ranges already validated with
/// ``contains(_:_:)``, which is how the hot loops avoid a branch per field.
public struct ByteView: Sendable {
    /// The storage this view reads from (kept alive by the view).
    public let storage: ByteStorage
    /// Start of the window in the storage.
    public let start: Int
    /// Length of the window in bytes.
    public let count: Int
    /// Byte order used by the integer readers.
    public let order: ByteOrder

    /// Creates a window; the caller guarantees `start + count <= storage.buffer.count`.
    public init(storage: ByteStorage, start: Int, count: Int, order: ByteOrder) {
        precondition(start >= 0 && count >= 0 && start <= storage.buffer.count - count)
        self.storage = storage
        self.start = start
        self.count = count
        self.order = order
    }

    /// A view of a copy of `bytes`.
    public init(_ bytes: [UInt8], order: ByteOrder = .little) {
        self = ByteStorage(bytes).view(order: order)
    }

    /// Whether `[offset, offset + length)` lies inside the window, without overflow.
    @inlinable
    public func contains(_ offset: Int, _ length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }

    /// The sub-window `[offset, offset + length)`, or `nil` if it does not fit.
    public func slice(_ offset: Int, _ length: Int) -> ByteView? {
        guard contains(offset, length) else { return nil }
        return ByteView(storage: storage, start: start + offset, count: length, order: order)
    }

    /// The same bytes read in another byte order.
    public func with(order: ByteOrder) -> ByteView {
        ByteView(storage: storage, start: start, count: count, order: order)
    }

    /// Raw pointer to the window's first byte.
    @inlinable
    public var base: UnsafeRawPointer { storage.buffer.baseAddress! + start }

    @inlinable
    func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
        let raw = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        return order == .little ? T(littleEndian: raw) : T(bigEndian: raw)
    }

    /// Unsigned byte at `offset`, or `nil` past the end.
    @inlinable public func u8(_ offset: Int) -> UInt8? { contains(offset, 1) ? base.load(fromByteOffset: offset, as: UInt8.self) : nil }
    /// 16-bit integer at `offset`, or `nil` past the end.
    @inlinable public func u16(_ offset: Int) -> UInt16? { contains(offset, 2) ? load(offset, as: UInt16.self) : nil }
    /// 32-bit integer at `offset`, or `nil` past the end.
    @inlinable public func u32(_ offset: Int) -> UInt32? { contains(offset, 4) ? load(offset, as: UInt32.self) : nil }
    /// 64-bit integer at `offset`, or `nil` past the end.
    @inlinable public func u64(_ offset: Int) -> UInt64? { contains(offset, 8) ? load(offset, as: UInt64.self) : nil }

    /// Unsigned byte at a validated offset.
    @inlinable public func u8(unchecked offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }
    /// 16-bit integer at a validated offset.
    @inlinable public func u16(unchecked offset: Int) -> UInt16 { load(offset, as: UInt16.self) }
    /// 32-bit integer at a validated offset.
    @inlinable public func u32(unchecked offset: Int) -> UInt32 { load(offset, as: UInt32.self) }
    /// 64-bit integer at a validated offset.
    @inlinable public func u64(unchecked offset: Int) -> UInt64 { load(offset, as: UInt64.self) }

    /// A copy of `[offset, offset + length)`, or `nil` if it does not fit.
    public func bytes(_ offset: Int, _ length: Int) -> [UInt8]? {
        guard contains(offset, length) else { return nil }
        return Array(UnsafeRawBufferPointer(start: base + offset, count: length))
    }

    /// All bytes of the window, copied.
    public var allBytes: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: count)) }

    /// Length of the NUL-terminated string at `offset` (without the NUL), or `nil` when `offset` is out of
    /// the window or no NUL follows before the end.
    public func cStringLength(at offset: Int) -> Int? {
        guard offset >= 0, offset < count else { return nil }
        let remaining = count - offset
        guard let nul = memchrNUL(base + offset, remaining) else { return nil }
        return nul
    }

    /// The NUL-terminated string at `offset` decoded as UTF-8 (invalid bytes repaired), or `nil` when it
    /// is out of the window or unterminated.
    public func cString(at offset: Int) -> String? {
        guard let length = cStringLength(at: offset) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: base + offset, count: length), as: UTF8.self)
    }

    /// Whether the NUL-terminated string at `offset` equals `name` byte for byte; no allocation.
    public func cStringEquals(at offset: Int, _ name: UnsafeRawBufferPointer) -> Bool {
        guard contains(offset, name.count + 1) else { return false }
        if base.load(fromByteOffset: offset + name.count, as: UInt8.self) != 0 { return false }
        return name.count == 0 || memcmp(base + offset, name.baseAddress!, name.count) == 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@usableFromInline
func memchrNUL(_ pointer: UnsafeRawPointer, _ count: Int) -> Int? {
    guard let hit = memchr(pointer, 0, count) else { return nil }
    return UnsafeRawPointer(hit) - pointer
}
