import BPFObject
import CBPF
import Foundation
import Testing
import TestSupport
@testable import BPF

/// The record walk on memory laid out by the test: the kernel's double mapping is imitated by writing the
/// ring twice in a row.
@Suite struct RingBufferCursorTests {
    /// A fake ring of `capacity` bytes with its two positions.
    final class FakeRing {
        let capacity: Int
        var ring: [UInt8]
        let consumer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        let producer = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        let data: UnsafeMutableRawPointer

        init(capacity: Int = 64) {
            self.capacity = capacity
            ring = [UInt8](repeating: 0, count: capacity)
            data = UnsafeMutableRawPointer.allocate(byteCount: 2 * capacity, alignment: 8)
            consumer.storeBytes(of: 0, as: UInt64.self)
            producer.storeBytes(of: 0, as: UInt64.self)
            sync()
        }

        deinit {
            consumer.deallocate()
            producer.deallocate()
            data.deallocate()
        }

        var consumerPosition: UInt64 {
            get { consumer.load(as: UInt64.self) }
            set { consumer.storeBytes(of: newValue, as: UInt64.self) }
        }
        var producerPosition: UInt64 {
            get { producer.load(as: UInt64.self) }
            set { producer.storeBytes(of: newValue, as: UInt64.self) }
        }

        var cursor: RingBufferCursor {
            RingBufferCursor(consumerPosition: consumer, producerPosition: UnsafeRawPointer(producer),
                             data: UnsafeRawPointer(data), capacity: UInt64(capacity))
        }

        /// Writes a record at the producer position (header word with `flags`, then `payload`) and moves the
        /// producer position past it, 8-byte aligned, as the kernel does.
        @discardableResult
        func append(_ payload: [UInt8], flags: UInt32 = 0) -> UInt64 {
            let position = producerPosition
            setHeader(at: position, UInt32(payload.count) | flags)
            for (index, byte) in payload.enumerated() { ring[(Int(position) + 8 + index) % capacity] = byte }
            producerPosition = position + (UInt64(payload.count) + 8 + 7) / 8 * 8
            sync()
            return position
        }

        func setHeader(at position: UInt64, _ word: UInt32) {
            withUnsafeBytes(of: word.littleEndian) { bytes in
                for (index, byte) in bytes.enumerated() { ring[(Int(position) + index) % capacity] = byte }
            }
            sync()
        }

        /// The double mapping: the ring, then the ring again.
        func sync() {
            ring.withUnsafeBytes { bytes in
                data.copyMemory(from: bytes.baseAddress!, byteCount: capacity)
                (data + capacity).copyMemory(from: bytes.baseAddress!, byteCount: capacity)
            }
        }

        func consumeAll() -> (records: [[UInt8]], outcome: RingBufferCursor.Outcome) {
            var records: [[UInt8]] = []
            let outcome = cursor.consume { record in
                records.append(Array(record))
                return true
            }
            return (records, outcome)
        }
    }

    @Test func recordsAreEightByteAligned() {
        let ring = FakeRing()
        ring.append([1])
        ring.append(Array(1...12))
        ring.append(Array(repeating: 7, count: 8))
        #expect(ring.producerPosition == 16 + 24 + 16)
        let (records, outcome) = ring.consumeAll()
        #expect(records == [[1], Array(1...12), Array(repeating: 7, count: 8)])
        #expect(outcome.records == 3)
        #expect(ring.consumerPosition == 56)
        #expect(ring.cursor.pendingBytes == 0)
        #expect(ring.consumeAll().records.isEmpty)
    }

    @Test func discardedRecordsAreSkipped() {
        let ring = FakeRing()
        ring.append([1, 2])
        ring.append([3, 4, 5], flags: RingBufferCursor.discardBit)
        ring.append([6])
        let (records, outcome) = ring.consumeAll()
        #expect(records == [[1, 2], [6]])
        #expect(outcome.records == 2)
        #expect(ring.consumerPosition == ring.producerPosition)
    }

    @Test func busyRecordStopsTheWalkUntilCommitted() {
        let ring = FakeRing()
        ring.append([1])
        let busy = ring.append([2, 2], flags: RingBufferCursor.busyBit)
        ring.append([3])
        #expect(ring.consumeAll().records == [[1]])
        #expect(ring.consumerPosition == busy)
        #expect(ring.consumeAll().records.isEmpty)
        ring.setHeader(at: busy, 2) // committed
        #expect(ring.consumeAll().records == [[2, 2], [3]])
        #expect(ring.consumerPosition == ring.producerPosition)
    }

    @Test func recordsWrappingTheEndAreContiguous() {
        let ring = FakeRing(capacity: 64)
        ring.append(Array(repeating: 0, count: 40)) // 48 bytes
        _ = ring.consumeAll()
        let payload = Array(UInt8(100)..<UInt8(124)) // 24 bytes at 48: header 48..<56, data 56..<80 wraps
        ring.append(payload)
        let (records, _) = ring.consumeAll()
        #expect(records == [payload])
        #expect(ring.consumerPosition == 80)
    }

    @Test func handlerCanStopAfterARecord() {
        let ring = FakeRing()
        ring.append([1])
        ring.append([2])
        var seen: [[UInt8]] = []
        let outcome = ring.cursor.consume { record in
            seen.append(Array(record))
            return false
        }
        #expect(seen == [[1]])
        #expect(outcome.records == 1)
        #expect(ring.consumerPosition == 16)
        #expect(ring.consumeAll().records == [[2]])
    }

    @Test func impossibleLengthIsReported() {
        let ring = FakeRing(capacity: 64)
        ring.setHeader(at: 0, 100)
        ring.producerPosition = 112
        let (records, outcome) = ring.consumeAll()
        #expect(records.isEmpty)
        #expect(outcome.corruptedAt == 0)
        #expect(ring.consumerPosition == 0)
    }

    @Test func epollTimeoutsRoundUp() {
        #expect(EventWaiter.milliseconds(nil) == -1)
        #expect(EventWaiter.milliseconds(.zero) == 0)
        #expect(EventWaiter.milliseconds(.microseconds(1)) == 1)
        #expect(EventWaiter.milliseconds(.milliseconds(1500)) == 1500)
        #expect(EventWaiter.milliseconds(.seconds(-3)) == 0)
        #expect(EventWaiter.milliseconds(.seconds(Int64.max)) == Int32.max)
    }
}

/// The reader on real ring buffers, fed by a socket filter program run with `BPF_PROG_TEST_RUN` (each run
/// discards one reservation and submits one 12-byte record `CD AB 00 00 07 00 00 00 09 00 00 00`).
@Suite(.serialized) struct RingBufferReaderTests {
    static let expectedRecord: [UInt8] = [0xCD, 0xAB, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0]

    static func emitter(_ rb: Map) -> [UInt64] {
        typealias K = AttachKit
        return K.loadMap(1, rb) + [K.move(2, 16), K.move(3, 0), K.call(131),   // r0 = bpf_ringbuf_reserve(rb, 16, 0)
            K.insn(0x15, dst: 0, off: 3, imm: 0),                                // if r0 == 0 goto +3
            K.moveRegister(1, 0), K.move(2, 0), K.call(133)]                     // bpf_ringbuf_discard(r0, 0)
            + K.loadMap(1, rb) + [K.move(2, 12), K.move(3, 0), K.call(131),    // r0 = bpf_ringbuf_reserve(rb, 12, 0)
            K.insn(0x15, dst: 0, off: 6, imm: 0),                                // if r0 == 0 goto +6
            K.insn(0x62, dst: 0, off: 0, imm: 0xABCD),                           // *(u32 *)(r0 + 0) = 0xabcd
            K.insn(0x62, dst: 0, off: 4, imm: 7),
            K.insn(0x62, dst: 0, off: 8, imm: 9),
            K.moveRegister(1, 0), K.move(2, 0), K.call(132),                     // bpf_ringbuf_submit(r0, 0)
            K.move(0, 0), K.exit]
    }

    /// Runs `program` `times` times on a 64-byte packet.
    static func run(_ program: Program, times: UInt32) throws {
        _ = try program.testRun(input: [UInt8](repeating: 0, count: 64), repeat: times)
    }

    static func setUp() throws -> (Map, Program) {
        try AttachKit.requireRoot()
        let rb = try AttachKit.makeMap(.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096, name: "rb")
        let program = try AttachKit.load(.socketFilter, emitter(rb), name: "emit")
        return (rb, program)
    }

    @Test func consumeReadsCommittedRecordsAndSkipsDiscarded() throws {
        let (rb, program) = try Self.setUp()
        let reader = try RingBufferReader(map: rb)
        #expect(reader.capacity == 4096)
        #expect(try reader.consume { _ in } == 0)
        try Self.run(program, times: 3)
        // Three discarded 16-byte and three committed 12-byte records: 3 × 24 + 3 × 24 bytes.
        #expect(reader.pendingBytes == 144)
        var records: [[UInt8]] = []
        #expect(try reader.consume { records.append(Array($0)) } == 3)
        #expect(records == Array(repeating: Self.expectedRecord, count: 3))
        #expect(reader.pendingBytes == 0)
    }

    @Test func pollWaitsAndTimesOut() throws {
        let (rb, program) = try Self.setUp()
        let reader = try RingBufferReader(map: rb)
        let start = ContinuousClock.now
        #expect(try reader.poll(timeout: .milliseconds(50)) { _ in } == 0)
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        try Self.run(program, times: 2)
        var count = 0
        #expect(try reader.poll(timeout: .seconds(5)) { _ in count += 1 } == 2)
        #expect(count == 2)
        // wake() ends a wait early.
        reader.wake()
        #expect(try reader.poll(timeout: .seconds(30)) { _ in } == 0)
    }

    /// Wrapping many times around a one-page ring: every record arrives intact.
    @Test func wrapsAroundTheRing() throws {
        let (rb, program) = try Self.setUp()
        let reader = try RingBufferReader(map: rb)
        var total = 0
        for _ in 0..<100 {
            try Self.run(program, times: 50) // 2,400 bytes per round in a 4,096-byte ring
            try reader.consume { record in
                #expect(Array(record) == Self.expectedRecord)
                total += 1
            }
        }
        #expect(total == 5000)
    }

    @Test func forEachStopsWhenTheBodySaysSoOrOnStop() throws {
        let (rb, program) = try Self.setUp()
        let reader = try RingBufferReader(map: rb)
        try Self.run(program, times: 5)
        var seen = 0
        try reader.forEach { _ in
            seen += 1
            return seen < 2
        }
        #expect(seen == 2)
        #expect(reader.pendingBytes > 0)
        // stop() from another thread ends a loop that is blocked waiting.
        try startThread {
            usleep(100_000)
            reader.stop()
        }
        try reader.forEach { _ in
            seen += 1
            return true
        }
        #expect(seen == 5)
    }

    @Test func consumingFromAHandlerIsRefused() throws {
        let (rb, program) = try Self.setUp()
        let reader = try RingBufferReader(map: rb)
        try Self.run(program, times: 1)
        var nested: BPFError?
        try reader.consume { _ in
            do throws(BPFError) { try reader.consume { _ in } } catch { nested = error }
        }
        #expect(nested?.code == .invalidArgument)
        #expect(reader.pendingBytes == 0)
    }

    @Test func wrongMapTypeIsRefused() throws {
        try AttachKit.requireRoot()
        let array = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        #expect(throws: BPFError.self) { try RingBufferReader(map: array) }
    }

    /// The asynchronous sequence delivers records, ends when its task is cancelled, and leaves no map,
    /// program, epoll instance or eventfd behind. It runs in a child process of its own (an exit test) so
    /// that other suites' readers, opened in parallel, cannot pass for leaks.
    @Test func asyncSequenceDeliversAndCancelsCleanly() async throws {
        try AttachKit.requireRoot()
        await #expect(processExitsWith: .success) {
            // The concurrency runtime opens its own epoll and eventfd for timers the first time it sleeps.
            try await Task.sleep(for: .milliseconds(1))
            let waitersBefore = AttachKit.waiterDescriptorCount()
            var mapID: UInt32?
            do {
                let (rb, program) = try RingBufferReaderTests.setUp()
                mapID = try rb.info().id
                let reader = try RingBufferReader(map: rb)
                let collector = Task {
                    var records: [[UInt8]] = []
                    for try await record in reader.records() {
                        records.append(record)
                        if records.count == 3 { break }
                    }
                    return records
                }
                try await Task.sleep(for: .milliseconds(50))
                try RingBufferReaderTests.run(program, times: 3)
                let records = try await collector.value
                guard records == Array(repeating: RingBufferReaderTests.expectedRecord, count: 3) else {
                    print("records: \(records)"); exit(1)
                }
                // A consumer that waits forever ends when its task is cancelled.
                let waiting = Task {
                    var count = 0
                    for try await _ in reader.records() { count += 1 }
                    return count
                }
                try await Task.sleep(for: .milliseconds(100))
                waiting.cancel()
                guard try await waiting.value == 0 else { print("records after cancel"); exit(2) }
            }
            guard let id = mapID, AttachKit.eventually({ !SystemCall.allIDs(of: .map).contains(id) }) else {
                print("ring buffer map still in the kernel"); exit(3)
            }
            guard AttachKit.eventually({ AttachKit.waiterDescriptorCount() <= waitersBefore }) else {
                print("epoll or eventfd descriptors left open"); exit(4)
            }
        }
    }
}
