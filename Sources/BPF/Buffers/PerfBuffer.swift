import BPFObject
import CBPF
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One record of a perf buffer: a sample a BPF program sent with `bpf_perf_event_output`, or the kernel's
/// note that samples were dropped because a CPU's ring was full.
public enum PerfBufferRecord: Sendable, Hashable {
    /// A sample written on `cpu`. `data` is the raw area exactly as the kernel sized it: the bytes the
    /// program sent, followed by up to 7 bytes of padding (the kernel pads the raw area so that, with its
    /// 4-byte length, it fills whole 8-byte words).
    case sample(cpu: Int, data: [UInt8])
    /// `count` samples were dropped on `cpu` because its ring had no room (`PERF_RECORD_LOST`).
    case lost(cpu: Int, count: UInt64)
}

/// Reads the samples BPF programs send through a perf event array (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`,
/// `bpf_perf_event_output`), one ring per CPU.
///
/// For every possible CPU that is online (and has a slot in the map), the reader opens a software perf
/// event of type `PERF_COUNT_SW_BPF_OUTPUT` on that CPU (raw samples, a wake-up for every sample), maps its
/// ring (one metadata page, then a power-of-two number of data pages) and stores the event's descriptor in
/// the map at the CPU's index, where `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, …)` finds it.
/// Records are read from shared memory without a syscall per record: the kernel's `data_head` is read with
/// acquire ordering and our `data_tail` published with release ordering. A record that wraps around the
/// end of a ring is copied into a scratch buffer so that it reaches the handler in one piece. Records of
/// types other than samples and lost counts are skipped.
///
/// Consumers (``consume(_:)``, ``poll(timeout:_:)``, ``forEach(_:)``, ``records(bufferingPolicy:)``) on
/// different threads take turns batch by batch; calling one from inside a record handler is refused with an
/// error. The map slots are cleared and the rings unmapped and closed when the reader is released; one
/// reader per map at a time (a second reader would take over the slots).
///
/// ```swift
/// let reader = try PerfBufferReader(map: object.map(named: "perf_events")!)
/// for try await record in reader.records() {
///     if case .sample(let cpu, let data) = record { print(cpu, data.count) }
/// }
/// ```
public final class PerfBufferReader: @unchecked Sendable {
    /// The perf event array (kept alive while the reader exists: its slots hold our events).
    public let map: Map
    /// Data pages per CPU ring (a power of two).
    public let pagesPerCPU: Int
    /// The CPUs that have a ring, ascending.
    public let cpus: [Int]
    private let rings: [PerfCPURing]
    /// Waiting and stopping: ``poll(timeout:_:)``'s wait and the loops'.
    private let loops: ReaderLoops
    /// Held while records are walked (consumers take turns); holds the copy area for wrapped records.
    private let walking = Mutex<[UInt8]>([])
    /// The thread walking records (0 when none), to refuse a walk started from inside a handler.
    private let walker = Atomic<UInt>(0)
    private let lostSamples = Atomic<UInt64>(0)

    /// Opens one `PERF_COUNT_SW_BPF_OUTPUT` event per online possible CPU, maps its ring, stores it in
    /// `map` at the CPU's index and registers it for epoll.
    /// - Parameters:
    ///   - map: a `PERF_EVENT_ARRAY` map.
    ///   - pagesPerCPU: data pages of each CPU's ring, a power of two (8 pages: 32 KiB on 4 KiB pages).
    /// - Throws: ``BPFError`` `.invalidArgument` for another map type or a page count that is not a power
    ///   of two; the kernel's refusal of `perf_event_open`, `mmap` or the map update. Nothing stays in the
    ///   map or open after a failure.
    public init(map: Map, pagesPerCPU: Int = 8) throws(BPFError) {
        guard map.type == .perfEventArray else {
            throw BPFError(.invalidArgument, "map \(map.name) is a \(map.type) map; a perf buffer reader needs a perf_event_array map")
        }
        guard pagesPerCPU > 0, pagesPerCPU & (pagesPerCPU - 1) == 0, pagesPerCPU <= 1 << 20 else {
            throw BPFError(.invalidArgument, "perf buffer \(map.name): \(pagesPerCPU) pages per CPU is not a power of two")
        }
        let online = try? OnlineCPUs.cpus()  // nil when the kernel does not say: every possible CPU is tried
        let cpus = try PossibleCPUs.cpus().filter { cpu in
            cpu < Int(map.maxEntries) && (online?.contains(cpu) ?? true)
        }
        guard !cpus.isEmpty else {
            throw BPFError(.invalidArgument, "perf buffer \(map.name): the map has \(map.maxEntries) slots, none for an online CPU")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var rings: [PerfCPURing] = []
        // On failure, `rings` is released: each ring unmaps and closes itself; its map slot is cleared here.
        func undo() {
            for ring in rings { _ = try? map.delete(UInt32(ring.cpu)) }
        }
        let waiter: EventWaiter
        do throws(BPFError) {
            waiter = try EventWaiter()
            for (index, cpu) in cpus.enumerated() {
                let ring = try PerfCPURing(cpu: cpu, dataPages: pagesPerCPU, pageSize: page, mapName: map.name)
                rings.append(ring)
                do throws(BPFError) {
                    try map.update(UInt32(cpu), UInt32(bitPattern: ring.event.rawValue))
                } catch {
                    var error = error
                    error.message = "perf buffer \(map.name): storing CPU \(cpu)'s event in the map: " + error.message
                    throw error
                }
                try waiter.add(ring.event.rawValue, token: UInt64(index), what: "perf buffer \(map.name) CPU \(cpu)")
            }
        } catch {
            undo()
            throw error
        }
        self.map = map
        self.pagesPerCPU = pagesPerCPU
        self.cpus = cpus
        self.rings = rings
        loops = ReaderLoops(waiter: waiter, watched: rings.map {
            .init(descriptor: $0.event.rawValue, what: "perf buffer \(map.name) CPU \($0.cpu)")
        })
    }

    deinit {
        // Clear the slots first, so programs stop writing into events about to close.
        for ring in rings { _ = try? map.delete(UInt32(ring.cpu)) }
    }

    /// Samples dropped so far because a ring was full: the sum of the lost records' counts read by this
    /// reader.
    public var lostCount: UInt64 { lostSamples.load(ordering: .relaxed) }

    /// Bytes written by the kernel and not yet read, over every CPU's ring.
    public var pendingBytes: Int { rings.reduce(0) { $0 + $1.cursor.pendingBytes } }

    /// Calls `handler` with every record available now, CPU by CPU, in each CPU's order, without waiting.
    /// - Returns: how many records (samples and lost notes) were handed to `handler`.
    /// - Throws: ``BPFError`` `.invalidArgument` when called from inside a record handler, `.kernel` when a
    ///   ring holds an impossible record (its unread bytes are then dropped, so reading can go on).
    @discardableResult
    public func consume(_ handler: (PerfBufferRecord) -> Void) throws(BPFError) -> Int {
        try consumeRecords { record in
            handler(record)
            return true
        }
    }

    /// Waits until a ring has records (or `timeout` passes, or ``wake()`` / ``stop()`` is called, or a
    /// signal arrives), then consumes what every ring holds as ``consume(_:)`` does.
    /// - Parameters:
    ///   - timeout: nil waits without limit; `.zero` does not wait.
    ///   - handler: called with each record.
    /// - Returns: how many records were handed to `handler` (0 on timeout or wake-up).
    @discardableResult
    public func poll(timeout: Duration? = nil, _ handler: (PerfBufferRecord) -> Void) throws(BPFError) -> Int {
        try loops.wait(timeout: timeout)
        return try consume(handler)
    }

    /// Reads records until `body` returns false or ``stop()`` is called from another thread, blocking
    /// between batches. Records still pending when `body` returns false stay for the next consumer.
    public func forEach(_ body: (PerfBufferRecord) -> Bool) throws(BPFError) {
        try loops.forEach({ [self] handler throws(BPFError) in (try consumeRecords(handler), false) }, body)
    }

    /// Ends every ``forEach(_:)`` and ``records(bufferingPolicy:)`` loop running now and wakes a waiting
    /// ``poll(timeout:_:)``. Safe from any thread.
    public func stop() { loops.stop() }

    /// Makes a waiting ``poll(timeout:_:)`` return early. Safe from any thread.
    public func wake() { loops.wake() }

    /// The records as an asynchronous sequence. Waiting happens on a dedicated thread (never on Swift's
    /// cooperative pool) with its own epoll instance; the sequence ends when the consuming task is
    /// cancelled, when the iteration is abandoned, or after ``stop()``, and finishes with an error if
    /// reading fails. The thread ends with the sequence.
    /// - Parameter bufferingPolicy: what happens when records arrive faster than they are taken
    ///   (default: keep them all).
    public func records(
        bufferingPolicy: AsyncThrowingStream<PerfBufferRecord, any Error>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncThrowingStream<PerfBufferRecord, any Error> {
        loops.stream(bufferingPolicy: bufferingPolicy) { [self] yield throws(BPFError) in
            (try consumeRecords(yield), false)
        }
    }

    /// Walks every ring in turn, handing each record to `handler` until it returns false.
    private func consumeRecords(_ handler: (PerfBufferRecord) -> Bool) throws(BPFError) -> Int {
        let thread = UInt(pthread_self())
        guard walker.load(ordering: .relaxed) != thread else {
            throw BPFError(.invalidArgument, "perf buffer \(map.name) is already being consumed by this thread: a record handler cannot consume")
        }
        var total = 0
        var failure: (cpu: Int, position: UInt64, reason: String, dropped: Int)?
        walking.withLock { scratch in
            walker.store(thread, ordering: .relaxed)
            defer { walker.store(0, ordering: .relaxed) }
            for ring in rings {
                let cpu = ring.cpu
                var going = true
                let outcome = ring.cursor.consume(scratch: &scratch) { event in
                    switch event {
                    case .sample(let bytes):
                        going = handler(.sample(cpu: cpu, data: Array(bytes)))
                    case .lost(let count):
                        lostSamples.add(count, ordering: .relaxed)
                        going = handler(.lost(cpu: cpu, count: count))
                    }
                    return going
                }
                total += outcome.records
                if let corruption = outcome.corruption {
                    failure = (cpu, corruption.position, corruption.reason, corruption.droppedBytes)
                    return
                }
                if !going { return }
            }
        }
        if let failure {
            throw BPFError(.kernel, "perf buffer \(map.name) CPU \(failure.cpu): the record at position \(failure.position) \(failure.reason); its \(failure.dropped) unread bytes were dropped")
        }
        return total
    }
}

/// One CPU's perf event and its mapped ring; unmaps in `deinit` (the event's descriptor closes with it).
final class PerfCPURing: @unchecked Sendable {
    let cpu: Int
    let event: OwnedFileDescriptor
    let base: UnsafeMutableRawPointer
    let length: Int
    let cursor: PerfRingCursor

    /// Opens the `PERF_COUNT_SW_BPF_OUTPUT` event on `cpu` and maps `1 + dataPages` pages of it.
    init(cpu: Int, dataPages: Int, pageSize: Int, mapName: String) throws(BPFError) {
        var attribute = perf_event_attr()
        attribute.type = PERF_TYPE_SOFTWARE.rawValue
        attribute.config = UInt64(PERF_COUNT_SW_BPF_OUTPUT.rawValue)
        attribute.sample_type = UInt64(PERF_SAMPLE_RAW.rawValue)
        attribute.sample_period = 1
        attribute.wakeup_events = 1
        let event = try PerfEvent.open(attribute, pid: -1, cpu: Int32(cpu), what: "perf buffer \(mapName) on CPU \(cpu)")
        let length = (1 + dataPages) * pageSize
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, event.rawValue, 0), base != MAP_FAILED else {
            let errno = Errno(rawValue: errno)
            var error = BPFError(errno: errno, command: nil, "mapping the \(dataPages)-page ring of perf buffer \(mapName) on CPU \(cpu)")
            if errno == .noMemory || errno == .notPermitted {
                error.message += " (perf rings count against RLIMIT_MEMLOCK and kernel.perf_event_mlock_kb)"
            }
            throw error
        }
        self.cpu = cpu
        self.event = event
        self.base = base
        self.length = length
        let head = MemoryLayout<perf_event_mmap_page>.offset(of: \.data_head) ?? 1024
        let tail = MemoryLayout<perf_event_mmap_page>.offset(of: \.data_tail) ?? 1032
        cursor = PerfRingCursor(head: UnsafeRawPointer(base + head), tail: base + tail,
                                data: UnsafeRawPointer(base + pageSize), capacity: UInt64(dataPages * pageSize))
    }

    deinit { munmap(base, length) }
}

/// The reader's side of one perf ring: the kernel's `data_head`, our `data_tail` and the data area, with
/// the record walk. Separate from the mapping so that its rules (record types, wrap-around, impossible
/// sizes) can be checked on memory a test lays out.
struct PerfRingCursor: @unchecked Sendable {
    /// `PERF_RECORD_LOST`: `{ header, u64 id, u64 lost }`.
    static let lostType: UInt32 = 2
    /// `PERF_RECORD_SAMPLE`; with `PERF_SAMPLE_RAW` alone: `{ header, u32 size, u8 data[size] }`.
    static let sampleType: UInt32 = 9
    /// `struct perf_event_header`: u32 type, u16 misc, u16 size (of the whole record).
    static let headerSize = 8

    /// The kernel's 64-bit write position (`data_head`).
    let head: UnsafeRawPointer
    /// Our 64-bit read position (`data_tail`), which the kernel reads to know what space is free.
    let tail: UnsafeMutableRawPointer
    /// The data area (mapped once: records may wrap around its end).
    let data: UnsafeRawPointer
    /// The data area's size, a power of two.
    let capacity: UInt64

    /// A record as the walk hands it over; the bytes are valid only during the call.
    enum Event {
        /// A sample's raw area.
        case sample(UnsafeRawBufferPointer)
        /// A lost-samples note.
        case lost(UInt64)
    }

    /// An impossible record that stopped a walk.
    struct Corruption: Sendable, Equatable {
        /// Its position.
        var position: UInt64
        /// What is wrong with it.
        var reason: String
        /// The unread bytes skipped to get past it.
        var droppedBytes: Int
    }

    /// What a walk did.
    struct Outcome: Sendable {
        /// Records handed to the handler.
        var records = 0
        /// The impossible record that ended the walk, if any.
        var corruption: Corruption?
    }

    var pendingBytes: Int {
        Int(truncatingIfNeeded: cbpf_load_acquire_u64(head) &- cbpf_load_acquire_u64(UnsafeRawPointer(tail)))
    }

    /// Walks the records from `data_tail` to `data_head`, handing samples and lost notes to `handler` and
    /// skipping other types, until the end or `handler` returns false. The tail is published after every
    /// record. A record crossing the end of the data area is copied into `scratch` first. An impossible
    /// record (shorter than its header or its contents, longer than the written bytes) moves the tail to
    /// the head, dropping what was unread, and is reported.
    func consume(scratch: inout [UInt8], _ handler: (Event) -> Bool) -> Outcome {
        var outcome = Outcome()
        let mask = capacity - 1
        var position = cbpf_load_acquire_u64(UnsafeRawPointer(tail))
        var sawNewData = true
        while sawNewData {
            sawNewData = false
            let written = cbpf_load_acquire_u64(head)
            while position != written {
                let available = written &- position
                let offset = Int(position & mask)
                // Records are 8-byte aligned, so a header never straddles the end.
                let header = data + offset
                let type = header.loadUnaligned(as: UInt32.self)
                let size = Int(header.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
                func corrupt(_ reason: String) -> Outcome {
                    outcome.corruption = Corruption(position: position, reason: reason,
                                                    droppedBytes: Int(truncatingIfNeeded: available))
                    cbpf_store_release_u64(tail, written)
                    return outcome
                }
                guard available <= capacity else { return corrupt("is behind the writer by more than the ring holds (\(available) bytes)") }
                guard size >= Self.headerSize else { return corrupt("claims \(size) bytes, less than its header") }
                guard UInt64(size) <= available else { return corrupt("claims \(size) bytes, but only \(available) were written") }
                var going = true
                var handled = true
                func walk(_ record: UnsafeRawBufferPointer) -> String? {
                    switch type {
                    case Self.sampleType:
                        guard record.count >= Self.headerSize + 4 else { return "is a sample of \(record.count) bytes, too short for its length" }
                        let rawSize = Int(record.loadUnaligned(fromByteOffset: Self.headerSize, as: UInt32.self))
                        guard rawSize <= record.count - Self.headerSize - 4 else {
                            return "is a sample of \(record.count) bytes claiming \(rawSize) bytes of data"
                        }
                        going = handler(.sample(UnsafeRawBufferPointer(rebasing: record[(Self.headerSize + 4)..<(Self.headerSize + 4 + rawSize)])))
                    case Self.lostType:
                        guard record.count >= Self.headerSize + 16 else { return "is a lost-samples note of \(record.count) bytes, too short" }
                        going = handler(.lost(record.loadUnaligned(fromByteOffset: Self.headerSize + 8, as: UInt64.self)))
                    default:
                        handled = false
                    }
                    return nil
                }
                let problem: String?
                if offset + size <= Int(capacity) {
                    problem = walk(UnsafeRawBufferPointer(start: header, count: size))
                } else {
                    // The record wraps: its start runs to the end of the area, the rest is at the beginning.
                    if scratch.count < size { scratch = [UInt8](repeating: 0, count: max(size, 256)) }
                    let first = Int(capacity) - offset
                    problem = scratch.withUnsafeMutableBytes { copy in
                        copy.baseAddress!.copyMemory(from: header, byteCount: first)
                        (copy.baseAddress! + first).copyMemory(from: data, byteCount: size - first)
                        return walk(UnsafeRawBufferPointer(start: copy.baseAddress!, count: size))
                    }
                }
                if let problem { return corrupt(problem) }
                if handled { outcome.records += 1 }
                sawNewData = true
                position &+= UInt64(size)
                cbpf_store_release_u64(tail, position)
                if !going { return outcome }
            }
        }
        return outcome
    }
}
