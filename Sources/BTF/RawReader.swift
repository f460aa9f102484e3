import ByteParsing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unaligned integer loads from a validated region, swapping bytes when the blob's order differs from
/// the host's. Callers check bounds once per record; this keeps the per-field reads branch-free.
struct RawReader: @unchecked Sendable {
    let base: UnsafeRawPointer
    let swapped: Bool

    init(_ view: ByteView) {
        base = view.base
        swapped = view.order != ByteOrder.host
    }

    @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        let v = base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return swapped ? v.byteSwapped : v
    }
}

/// A mutex-protected value computed once on first use, so that an immutable graph can build its
/// indexes lazily and still be shared between threads.
final class OnceCell<Value: Sendable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value?

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func get(_ make: () -> Value) -> Value {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let value { return value }
        let made = make()
        value = made
        return made
    }
}

/// Length of the CO-RE *essential name*: the name without its last `___flavor` suffix. The separator is
/// found at the last position where a non-underscore is followed by exactly `___` and a non-underscore
/// (libbpf's rule, `bpf_core_essential_name_len`); without one the whole name is essential.
@inline(__always)
func essentialLength(_ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    var i = count - 5
    while i >= 0 {
        let p = pointer.assumingMemoryBound(to: UInt8.self) + i
        if p[0] != 0x5F && p[1] == 0x5F && p[2] == 0x5F && p[3] == 0x5F && p[4] != 0x5F {
            return i + 1
        }
        i -= 1
    }
    return count
}
