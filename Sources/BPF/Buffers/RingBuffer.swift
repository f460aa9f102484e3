import BPFObject
import CBPF
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the records BPF programs write into a ring buffer map (`BPF_MAP_TYPE_RINGBUF`) from shared
/// memory, without a syscall per record.
///
/// The map is mapped twice: its consumer page read-write (where we publish how far we have read), and its
/// producer page plus data area read-only. The kernel maps the data area twice in a row, so a record that
/// wraps around the end of the ring is still contiguous in this mapping. Each record starts with an 8-byte
/// header: a 32-bit length whose bit 31 says the producer is still writing it (BUSY: reading stops there
/// until it is committed) and bit 30 that it was discarded (DISCARD: skipped), then 4 bytes the kernel
/// uses; records are 8-byte aligned. Positions are read with acquire and published with release ordering,
/// pairing with the kernel's.
///
/// Consumers (``consume(_:)``, ``poll(timeout:_:)``, ``forEach(_:)``, ``records(bufferingPolicy:)``) on
/// different threads take turns record batch by batch; calling one from inside a record handler is refused
/// with an error (it would wait for itself).
///
/// ```swift
/// let reader = try RingBufferReader(map: object.map(named: "rb")!)
/// for try await record in reader.records() { print(record.count) }
/// ```
public final class RingBufferReader: @unchecked Sendable {
    /// The ring buffer map (kept alive while the reader exists: its descriptor is in the epoll set).
    public let map: Map
    /// The data area's size in bytes (the map's `max_entries`, a power-of-two number of pages).
    public let capacity: Int
    private let pageSize: Int
    private let consumerPage: UnsafeMutableRawPointer
    private let producerArea: UnsafeRawPointer
    private let producerLength: Int
    // The walk's state is @usableFromInline so that consume and poll can be @inlinable: the caller's
    // record handler is then inlined into the walk instead of being reached through two closure calls
    // per record (libbpf makes one).
    @usableFromInline let cursor: RingBufferCursor
    /// Waiting and stopping: ``poll(timeout:_:)``'s wait and the loops'.
    @usableFromInline let loops: ReaderLoops
    /// Held while records are walked, so consumers on different threads take turns.
    @usableFromInline let walking = Mutex<Void>(())
    /// The thread walking records (0 when none), to refuse a walk started from inside a handler.
    @usableFromInline let walker = Atomic<UInt>(0)

    /// Maps `map`'s consumer and producer pages and registers the map for epoll.
    /// - Throws: ``BPFError`` `.invalidArgument` when `map` is not a `RINGBUF` map, `.kernel` when mmap fails.
    public init(map: Map) throws(BPFError) {
        guard map.type == .ringbuf else {
            throw BPFError(.invalidArgument, "map \(map.name) is a \(map.type) map; a ring buffer reader needs a ringbuf map")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let capacity = Int(map.maxEntries)
        guard capacity >= page, capacity & (capacity - 1) == 0 else {
            throw BPFError(.invalidArgument, "ring buffer \(map.name) has \(capacity) bytes, not a power-of-two number of pages")
        }
        let fd = map.descriptor.rawValue
        guard let consumer = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), consumer != MAP_FAILED else {
            let errno = Errno(rawValue: errno)
            throw BPFError(errno: errno, command: nil, "mapping the consumer page of ring buffer \(map.name)")
        }
        // The producer page, then the data area twice (the kernel's double mapping).
        let producerLength = page + 2 * capacity
        guard let producer = mmap(nil, producerLength, PROT_READ, MAP_SHARED, fd, off_t(page)), producer != MAP_FAILED else {
            let errno = Errno(rawValue: errno)
            munmap(consumer, page)
            throw BPFError(errno: errno, command: nil, "mapping the producer page and data of ring buffer \(map.name)")
        }
        let waiter: EventWaiter
        do {
            waiter = try EventWaiter()
            try waiter.add(fd, token: 0, what: "ring buffer \(map.name)")
        } catch {
            munmap(consumer, page)
            munmap(producer, producerLength)
            throw error
        }
        self.map = map
        self.capacity = capacity
        pageSize = page
        consumerPage = consumer
        producerArea = UnsafeRawPointer(producer)
        self.producerLength = producerLength
        loops = ReaderLoops(waiter: waiter, watched: [.init(descriptor: fd, what: "ring buffer \(map.name)")])
        cursor = RingBufferCursor(consumerPosition: consumer, producerPosition: UnsafeRawPointer(producer),
                                  data: UnsafeRawPointer(producer) + page, capacity: UInt64(capacity))
    }

    deinit {
        munmap(consumerPage, pageSize)
        munmap(UnsafeMutableRawPointer(mutating: producerArea), producerLength)
    }

    /// Bytes written by the producer and not yet consumed (committed, busy and discarded records alike).
    public var pendingBytes: Int { cursor.pendingBytes }

    /// Calls `handler` with every committed record available now, in order, without waiting; discarded
    /// records are skipped and reading stops at a record still being written. The bytes are the kernel's
    /// memory and valid only during the call: copy what you keep.
    /// - Returns: how many records were handed to `handler`.
    /// - Throws: ``BPFError`` `.invalidArgument` when called from inside a record handler, `.kernel` when a
    ///   record header is impossible (longer than the ring).
    @discardableResult @inlinable
    public func consume(_ handler: (UnsafeRawBufferPointer) -> Void) throws(BPFError) -> Int {
        try consumeRecords { record in
            handler(record)
            return true
        }
    }

    /// Waits until records are available (or `timeout` passes, or ``wake()`` / ``stop()`` is called, or a
    /// signal arrives), then consumes them as ``consume(_:)`` does.
    /// - Parameters:
    ///   - timeout: nil waits without limit; `.zero` does not wait.
    ///   - handler: called with each record's bytes, valid only during the call.
    /// - Returns: how many records were handed to `handler` (0 on timeout or wake-up).
    @discardableResult @inlinable
    public func poll(timeout: Duration? = nil, _ handler: (UnsafeRawBufferPointer) -> Void) throws(BPFError) -> Int {
        try loops.wait(timeout: timeout)
        return try consume(handler)
    }

    /// Reads records until `body` returns false or ``stop()`` is called from another thread, blocking
    /// between batches. Records still pending when `body` returns false stay for the next consumer.
    public func forEach(_ body: (UnsafeRawBufferPointer) -> Bool) throws(BPFError) {
        try loops.forEach({ [self] handler throws(BPFError) in (try consumeRecords(handler), false) }, body)
    }

    /// Ends every ``forEach(_:)`` and ``records(bufferingPolicy:)`` loop running now and wakes a waiting
    /// ``poll(timeout:_:)``. Safe from any thread.
    public func stop() { loops.stop() }

    /// Makes a waiting ``poll(timeout:_:)`` return early (one of them, when several threads poll). Safe
    /// from any thread.
    public func wake() { loops.wake() }

    /// The records as an asynchronous sequence of byte arrays. Waiting happens on a dedicated thread (never
    /// on Swift's cooperative pool) with its own epoll instance; the sequence ends when the consuming task
    /// is cancelled, when the iteration is abandoned, or after ``stop()``, and finishes with an error if
    /// reading fails. The thread ends with the sequence.
    /// - Parameter bufferingPolicy: what happens when records arrive faster than they are taken
    ///   (default: keep them all).
    public func records(
        bufferingPolicy: AsyncThrowingStream<[UInt8], any Error>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncThrowingStream<[UInt8], any Error> {
        loops.stream(bufferingPolicy: bufferingPolicy) { [self] yield throws(BPFError) in
            (try consumeRecords { record in yield(Array(record)) }, false)
        }
    }

    @inlinable
    func consumeRecords(_ handler: (UnsafeRawBufferPointer) -> Bool) throws(BPFError) -> Int {
        let thread = UInt(pthread_self())
        guard walker.load(ordering: .relaxed) != thread else { throw reentered() }
        let outcome = walking.withLock { _ in
            walker.store(thread, ordering: .relaxed)
            defer { walker.store(0, ordering: .relaxed) }
            return cursor.consume(handler)
        }
        if let position = outcome.corruptedAt { throw corrupted(at: position) }
        return outcome.records
    }

    // The errors are built out of line: the inlined walk stays small.
    @usableFromInline
    func reentered() -> BPFError {
        BPFError(.invalidArgument, "ring buffer \(map.name) is already being consumed by this thread: a record handler cannot consume")
    }

    @usableFromInline
    func corrupted(at position: UInt64) -> BPFError {
        BPFError(.kernel, "ring buffer \(map.name): the record at position \(position) claims more bytes than the ring holds (\(capacity))")
    }
}

/// The consumer's side of a ring buffer's shared memory: the positions and the data area, with the
/// record walk. Separate from the mapping so that its rules (busy, discard, alignment, wrap-around) can be
/// checked on memory a test lays out.
@usableFromInline
struct RingBufferCursor: @unchecked Sendable {
    /// `BPF_RINGBUF_BUSY_BIT`: the producer has reserved the record and not committed it yet.
    @usableFromInline static let busyBit: UInt32 = 1 << 31
    /// `BPF_RINGBUF_DISCARD_BIT`: the producer discarded the record; skip it.
    @usableFromInline static let discardBit: UInt32 = 1 << 30
    /// `BPF_RINGBUF_HDR_SZ`: the record header (length word, then the kernel's page offset).
    @usableFromInline static let headerSize: UInt64 = 8

    /// The 64-bit consumer position (the consumer page's first word), which we publish.
    @usableFromInline let consumerPosition: UnsafeMutableRawPointer
    /// The 64-bit producer position (the producer page's first word), which the kernel publishes.
    @usableFromInline let producerPosition: UnsafeRawPointer
    /// The data area, mapped twice in a row (2 × capacity readable bytes).
    @usableFromInline let data: UnsafeRawPointer
    /// The data area's size, a power of two.
    @usableFromInline let capacity: UInt64

    /// What a walk did.
    @usableFromInline
    struct Outcome: Sendable {
        /// Records handed to the handler.
        @usableFromInline var records = 0
        /// The position of a header whose length cannot be right, when one stopped the walk.
        @usableFromInline var corruptedAt: UInt64?
        @inlinable init() {}
    }

    var pendingBytes: Int {
        Int(truncatingIfNeeded: cbpf_load_acquire_u64(producerPosition) &- cbpf_load_acquire_u64(consumerPosition))
    }

    /// Walks committed records from the consumer position to the producer position, calling `handler` for
    /// each one that was not discarded, until a busy record, the end, or `handler` returning false. The
    /// consumer position is published after every record, so the kernel can reuse the space at once.
    @inlinable
    func consume(_ handler: (UnsafeRawBufferPointer) -> Bool) -> Outcome {
        var outcome = Outcome()
        let mask = capacity - 1
        var consumer = cbpf_load_acquire_u64(consumerPosition)
        var sawNewData = true
        while sawNewData {
            sawNewData = false
            let producer = cbpf_load_acquire_u64(producerPosition)
            while consumer < producer {
                let header = data + Int(consumer & mask)
                let word = cbpf_load_acquire_u32(header)
                if word & Self.busyBit != 0 { return outcome }
                let length = UInt64(word & ~(Self.busyBit | Self.discardBit))
                let span = (length + Self.headerSize + 7) & ~7
                guard span <= capacity else {
                    outcome.corruptedAt = consumer
                    return outcome
                }
                sawNewData = true
                consumer += span
                var going = true
                if word & Self.discardBit == 0 {
                    outcome.records += 1
                    going = handler(UnsafeRawBufferPointer(start: header + Int(Self.headerSize), count: Int(length)))
                }
                cbpf_store_release_u64(consumerPosition, consumer)
                if !going { return outcome }
            }
        }
        return outcome
    }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    /// Sets the flag.
    func set() { value.store(true, ordering: .releasing) }
    /// Whether the flag is set.
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Runs `body` on a new detached POSIX thread (for loops that block in the kernel, which must not occupy
/// a thread of Swift's cooperative pool).
func startThread(_ body: @escaping @Sendable () -> Void) throws(BPFError) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { context in
        guard let context else { return nil }
        let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
        box.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        throw BPFError(errno: Errno(rawValue: result), command: nil, "starting a reader thread")
    }
    pthread_detach(thread)
}
