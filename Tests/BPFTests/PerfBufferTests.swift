import BPFObject
import CBPF
import Foundation
import Testing
import TestSupport
@testable import BPF

/// The record walk of one perf ring on memory laid out by the test (head, tail and a data area mapped
/// once, as the kernel maps perf rings).
@Suite struct PerfRingCursorTests {
    /// A fake perf ring of `capacity` bytes with its two positions.
    final class FakeRing {
        let capacity: Int
        let head = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        let tail = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        let data: UnsafeMutableRawPointer

        init(capacity: Int = 128) {
            self.capacity = capacity
            data = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
            data.initializeMemory(as: UInt8.self, repeating: 0xEE, count: capacity)
            head.storeBytes(of: 0, as: UInt64.self)
            tail.storeBytes(of: 0, as: UInt64.self)
        }

        deinit {
            head.deallocate()
            tail.deallocate()
            data.deallocate()
        }

        var headPosition: UInt64 {
            get { head.load(as: UInt64.self) }
            set { head.storeBytes(of: newValue, as: UInt64.self) }
        }
        var tailPosition: UInt64 {
            get { tail.load(as: UInt64.self) }
            set { tail.storeBytes(of: newValue, as: UInt64.self) }
        }

        var cursor: PerfRingCursor {
            PerfRingCursor(head: UnsafeRawPointer(head), tail: tail, data: UnsafeRawPointer(data),
                           capacity: UInt64(capacity))
        }

        /// Writes `bytes` at the head position (wrapping around the end) and moves the head past them.
        @discardableResult
        func write(_ bytes: [UInt8]) -> UInt64 {
            let position = headPosition
            for (index, byte) in bytes.enumerated() {
                data.storeBytes(of: byte, toByteOffset: (Int(position) + index) % capacity, as: UInt8.self)
            }
            headPosition = position + UInt64(bytes.count)
            return position
        }

        static func header(type: UInt32, size: Int) -> [UInt8] {
            withUnsafeBytes(of: type.littleEndian, Array.init) + [0, 0] + withUnsafeBytes(of: UInt16(size).littleEndian, Array.init)
        }

        /// A `PERF_RECORD_SAMPLE` with raw `payload`, padded as the kernel pads it: the raw size counts the
        /// padding, so the reader returns `payload` plus the padding bytes (`padding` each).
        @discardableResult
        func sample(_ payload: [UInt8], padding: UInt8 = 0) -> UInt64 {
            let raw = (payload.count + 4 + 7) / 8 * 8 - 4
            let body = withUnsafeBytes(of: UInt32(raw).littleEndian, Array.init) + payload
                + [UInt8](repeating: padding, count: raw - payload.count)
            return write(Self.header(type: PerfRingCursor.sampleType, size: 8 + body.count) + body)
        }

        /// A `PERF_RECORD_LOST` of `count` samples.
        @discardableResult
        func lost(_ count: UInt64, id: UInt64 = 77) -> UInt64 {
            write(Self.header(type: PerfRingCursor.lostType, size: 24) + withUnsafeBytes(of: id.littleEndian, Array.init)
                  + withUnsafeBytes(of: count.littleEndian, Array.init))
        }

        enum Seen: Equatable {
            case sample([UInt8])
            case lost(UInt64)
        }

        func consumeAll(scratch: inout [UInt8]) -> (seen: [Seen], outcome: PerfRingCursor.Outcome) {
            var seen: [Seen] = []
            let outcome = cursor.consume(scratch: &scratch) { event in
                switch event {
                case .sample(let bytes): seen.append(.sample(Array(bytes)))
                case .lost(let count): seen.append(.lost(count))
                }
                return true
            }
            return (seen, outcome)
        }

        func consumeAll() -> (seen: [Seen], outcome: PerfRingCursor.Outcome) {
            var scratch: [UInt8] = []
            return consumeAll(scratch: &scratch)
        }
    }

    @Test func samplesAndLostNotesInOrderWithTheKernelsPadding() {
        let ring = FakeRing()
        ring.sample([1, 2, 3, 4])                     // raw 4: no padding (4 + 4 = 8)
        ring.lost(5)
        ring.sample([9, 8, 7, 6, 5, 4, 3, 2, 1], padding: 0xAA) // raw 12: 9 bytes + 3 of padding
        let (seen, outcome) = ring.consumeAll()
        #expect(seen == [.sample([1, 2, 3, 4]), .lost(5), .sample([9, 8, 7, 6, 5, 4, 3, 2, 1, 0xAA, 0xAA, 0xAA])])
        #expect(outcome.records == 3)
        #expect(outcome.corruption == nil)
        #expect(ring.tailPosition == ring.headPosition)
        #expect(ring.tailPosition == 16 + 24 + 24)
        #expect(ring.cursor.pendingBytes == 0)
        #expect(ring.consumeAll().seen.isEmpty)
    }

    @Test func otherRecordTypesAreSkipped() {
        let ring = FakeRing()
        ring.write(FakeRing.header(type: 14, size: 16) + [UInt8](repeating: 3, count: 8)) // PERF_RECORD_THROTTLE-like
        ring.sample([42, 0, 0, 0])
        let (seen, outcome) = ring.consumeAll()
        #expect(seen == [.sample([42, 0, 0, 0])])
        #expect(outcome.records == 1)
        #expect(ring.tailPosition == 32)
    }

    /// A record crossing the end of the data area reaches the handler in one piece, through the scratch
    /// copy, and the next record after it starts at the wrapped offset.
    @Test func recordsWrappingTheEndAreCopiedWhole() {
        let ring = FakeRing(capacity: 64)
        ring.sample(Array(repeating: 0, count: 36)) // 8 + 4 + 36 = 48 bytes
        _ = ring.consumeAll()
        let payload = Array(UInt8(100)..<UInt8(120)) // 8 + 4 + 20 = 32 bytes at 48: wraps at 64
        ring.sample(payload)
        ring.sample([1, 2, 3, 4])                   // at 80 (offset 16)
        var scratch: [UInt8] = []
        let (seen, outcome) = ring.consumeAll(scratch: &scratch)
        #expect(seen == [.sample(payload), .sample([1, 2, 3, 4])])
        #expect(outcome.records == 2)
        #expect(scratch.count >= 32)
        #expect(ring.tailPosition == 96)
        // Wrapping many times with odd record sizes (40 bytes in a 64-byte ring).
        for round in 0..<50 {
            let bytes = (0..<28).map { UInt8(truncatingIfNeeded: round * 3 + $0) }
            ring.sample(bytes)
            #expect(ring.consumeAll(scratch: &scratch).seen == [.sample(bytes)])
        }
    }

    /// A lost note split by the end of the ring: its count is read from the copy.
    @Test func lostNoteWrappingTheEnd() {
        let ring = FakeRing(capacity: 64)
        ring.sample(Array(repeating: 0, count: 44)) // 56 bytes
        _ = ring.consumeAll()
        ring.lost(0x0102_0304_0506_0708)           // 56..<80: header at 56, id wraps to 0, count at 8
        #expect(ring.consumeAll().seen == [.lost(0x0102_0304_0506_0708)])
    }

    @Test func handlerCanStopAfterARecord() {
        let ring = FakeRing()
        ring.sample([1, 0, 0, 0])
        ring.sample([2, 0, 0, 0])
        var scratch: [UInt8] = []
        var seen = 0
        let outcome = ring.cursor.consume(scratch: &scratch) { _ in
            seen += 1
            return false
        }
        #expect(seen == 1)
        #expect(outcome.records == 1)
        #expect(ring.tailPosition == 16)
        #expect(ring.consumeAll().seen == [.sample([2, 0, 0, 0])])
    }

    /// Impossible records stop the walk, are reported with their position, and the unread bytes are
    /// dropped so that reading can go on.
    @Test func impossibleRecordsAreReportedAndDropped() {
        for bad: [UInt8] in [
            FakeRing.header(type: 9, size: 0),                                   // shorter than a header
            FakeRing.header(type: 9, size: 4),
            FakeRing.header(type: 9, size: 64) + [UInt8](repeating: 0, count: 8), // longer than written
            FakeRing.header(type: 9, size: 16) + [200, 0, 0, 0, 0, 0, 0, 0],     // raw size beyond the record
            FakeRing.header(type: 9, size: 8),                                   // sample without a length
            FakeRing.header(type: 2, size: 16) + [UInt8](repeating: 0, count: 8), // lost note too short
        ] {
            let ring = FakeRing()
            ring.sample([7, 7, 7, 7])
            let position = ring.write(bad)
            let (seen, outcome) = ring.consumeAll()
            #expect(seen == [.sample([7, 7, 7, 7])])
            #expect(outcome.corruption?.position == position)
            #expect(outcome.corruption?.droppedBytes == bad.count)
            #expect(ring.tailPosition == ring.headPosition)
            ring.sample([8, 8, 8, 8])
            #expect(ring.consumeAll().seen == [.sample([8, 8, 8, 8])])
        }
        // A head that ran more than a ring ahead of the tail.
        let ring = FakeRing(capacity: 64)
        ring.headPosition = 1000
        let outcome = ring.consumeAll().outcome
        #expect(outcome.corruption?.position == 0)
        #expect(ring.tailPosition == 1000)
    }
}

/// The reader on real perf event arrays. Most tests feed it from a socket filter run with
/// `BPF_PROG_TEST_RUN` (deterministic, on the CPU the test runs on); one attaches events.o's program to
/// the execve tracepoint.
@Suite(.serialized) struct PerfBufferReaderTests {
    /// The bytes the emitter's stack holds: 0, 1, 2, … 63; it sends the first `size`.
    static let pattern = (0..<64).map { UInt8($0) }

    /// A socket filter that sends `size` bytes of its stack to `map` on the current CPU and returns
    /// `bpf_perf_event_output`'s result.
    static func emitter(_ map: Map, size: Int32) -> [UInt64] {
        typealias K = AttachKit
        var instructions = [K.moveRegister(6, 1)]                                         // r6 = ctx
        for word in 0..<16 {
            let value = (0..<4).reduce(UInt32(0)) { $0 | UInt32(word * 4 + $1) << (8 * UInt32($1)) }
            instructions.append(K.insn(0x62, dst: 10, off: Int16(-64 + 4 * word), imm: Int32(bitPattern: value)))
        }
        instructions += [K.moveRegister(1, 6)] + K.loadMap(2, map) + [
            K.insn(0xb4, dst: 3, imm: -1),                                                // w3 = BPF_F_CURRENT_CPU
            K.moveRegister(4, 10), K.insn(0x07, dst: 4, imm: -64),                        // r4 = r10 - 64
            K.move(5, size),
            K.call(25),                                                                    // bpf_perf_event_output
            K.exit,
        ]
        return instructions
    }

    static func makeArray() throws -> Map {
        try AttachKit.makeMap(.perfEventArray, keySize: 4, valueSize: 4,
                              maxEntries: UInt32(try PossibleCPUs.indexLimit()), name: "perf_events")
    }

    static func setUp(size: Int32) throws -> (Map, Program) {
        try AttachKit.requireRoot()
        let map = try makeArray()
        return (map, try AttachKit.load(.socketFilter, emitter(map, size: size), name: "emit_perf"))
    }

    /// Runs `program` `times` times; returns the last run's return value (the helper's result).
    @discardableResult
    static func run(_ program: Program, times: UInt32) throws -> Int32 {
        Int32(bitPattern: try program.testRun(input: [UInt8](repeating: 0, count: 64), repeat: times).returnValue)
    }

    static func samples(_ records: [PerfBufferRecord]) -> [[UInt8]] {
        records.compactMap { if case .sample(_, let data) = $0 { data } else { nil } }
    }

    /// Descriptors of this process that are perf events.
    static func perfEventDescriptorCount() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.filter { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) == "anon_inode:[perf_event]"
        }.count
    }

    @Test func samplesArriveWithTheirCPUAndTheKernelsSize() throws {
        let (map, aligned) = try Self.setUp(size: 12)
        let padded = try AttachKit.load(.socketFilter, Self.emitter(map, size: 16), name: "emit_perf16")
        let reader = try PerfBufferReader(map: map, pagesPerCPU: 2)
        #expect(reader.pagesPerCPU == 2)
        #expect(reader.cpus == (try PossibleCPUs.cpus()))
        #expect(try reader.consume { _ in } == 0)
        #expect(try Self.run(aligned, times: 3) == 0)
        #expect(try Self.run(padded, times: 2) == 0)
        var records: [PerfBufferRecord] = []
        #expect(try reader.consume { records.append($0) } == 5)
        let cpus = Set(records.map { if case .sample(let cpu, _) = $0 { cpu } else { -1 } })
        #expect(cpus.count == 1 && reader.cpus.contains(cpus.first ?? -1))
        // 12 bytes + the 4-byte length fill two words: exactly 12 bytes. 16 bytes get 4 bytes of padding.
        let samples = Self.samples(records)
        #expect(samples.prefix(3).allSatisfy { $0 == Array(Self.pattern[..<12]) })
        #expect(samples.suffix(2).allSatisfy { $0.count == 20 && Array($0.prefix(16)) == Array(Self.pattern[..<16]) })
        #expect(reader.lostCount == 0)
        #expect(reader.pendingBytes == 0)
    }

    /// A one-page ring overflows in a burst: the kernel counts what it dropped and reports it in a
    /// lost note before the next sample that fits; every sample is either read or counted.
    @Test func lostSamplesAreCounted() throws {
        let (map, program) = try Self.setUp(size: 16)  // 32-byte records: 128 fit in one page
        let reader = try PerfBufferReader(map: map, pagesPerCPU: 1)
        try Self.run(program, times: 300)
        var samples = 0
        var lostNotes: [UInt64] = []
        let handle = { (record: PerfBufferRecord) in
            switch record {
            case .sample: samples += 1
            case .lost(_, let count): lostNotes.append(count)
            }
        }
        try reader.consume(handle)
        // The kernel keeps one byte free: 127 of the 128 records that would fill the page.
        let fitted = samples
        #expect((120...128).contains(fitted))
        #expect(lostNotes.isEmpty) // the note is written when there is room again
        try Self.run(program, times: 1)
        try reader.consume(handle)
        #expect(samples == fitted + 1)
        #expect(lostNotes == [UInt64(300 - fitted)])
        #expect(reader.lostCount == UInt64(300 - fitted))
    }

    /// 40-byte records in a 4,096-byte ring: records regularly straddle the end; all arrive intact.
    @Test func wrapsAroundTheRing() throws {
        let (map, program) = try Self.setUp(size: 28)
        let reader = try PerfBufferReader(map: map, pagesPerCPU: 1)
        var total = 0
        for _ in 0..<60 {
            try Self.run(program, times: 50) // 2,000 bytes per round
            try reader.consume { record in
                guard case .sample(_, let data) = record else { Issue.record("unexpected \(record)"); return }
                #expect(data == Array(Self.pattern[..<28]))
                total += 1
            }
        }
        #expect(total == 3000)
        #expect(reader.lostCount == 0)
    }

    @Test func pollWaitsAndTimesOut() throws {
        let (map, program) = try Self.setUp(size: 12)
        let reader = try PerfBufferReader(map: map)
        let start = ContinuousClock.now
        #expect(try reader.poll(timeout: .milliseconds(50)) { _ in } == 0)
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        try Self.run(program, times: 2)
        var count = 0
        #expect(try reader.poll(timeout: .seconds(5)) { _ in count += 1 } == 2)
        #expect(count == 2)
        reader.wake()
        #expect(try reader.poll(timeout: .seconds(30)) { _ in } == 0)
    }

    @Test func forEachStopsWhenTheBodySaysSoOrOnStop() throws {
        let (map, program) = try Self.setUp(size: 12)
        let reader = try PerfBufferReader(map: map)
        try Self.run(program, times: 5)
        var seen = 0
        try reader.forEach { _ in
            seen += 1
            return seen < 2
        }
        #expect(seen == 2)
        #expect(reader.pendingBytes > 0)
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
        let (map, program) = try Self.setUp(size: 12)
        let reader = try PerfBufferReader(map: map)
        try Self.run(program, times: 1)
        var nested: BPFError?
        try reader.consume { _ in
            do throws(BPFError) { try reader.consume { _ in } } catch { nested = error }
        }
        #expect(nested?.code == .invalidArgument)
        #expect(reader.pendingBytes == 0)
    }

    @Test func badArgumentsAreRefused() throws {
        try AttachKit.requireRoot()
        let array = try AttachKit.makeMap(.array, keySize: 4, valueSize: 4, maxEntries: 1, name: "counts")
        #expect(throws: BPFError.self) { try PerfBufferReader(map: array) }
        let map = try Self.makeArray()
        for pages in [0, 3, -8] {
            do {
                _ = try PerfBufferReader(map: map, pagesPerCPU: pages)
                Issue.record("\(pages) pages accepted")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("not a power of two"))
            }
        }
    }

    /// A map with fewer slots than CPUs gets rings only for the CPUs it can index.
    @Test func onlyCPUsWithASlotGetARing() throws {
        try AttachKit.requireRoot()
        let map = try AttachKit.makeMap(.perfEventArray, keySize: 4, valueSize: 4, maxEntries: 1, name: "one_slot")
        let reader = try PerfBufferReader(map: map, pagesPerCPU: 1)
        #expect(reader.cpus == [0])
    }

    /// Releasing the reader clears the map's slots (the program's output then fails with ENOENT) and
    /// closes every perf event and waiter; runs in a child process so parallel suites cannot interfere.
    @Test func releasingTheReaderClearsTheSlotsAndClosesEverything() async throws {
        try AttachKit.requireRoot()
        await #expect(processExitsWith: .success) {
            try await Task.sleep(for: .milliseconds(1))
            let perfBefore = PerfBufferReaderTests.perfEventDescriptorCount()
            let waitersBefore = AttachKit.waiterDescriptorCount()
            let (map, program) = try PerfBufferReaderTests.setUp(size: 12)
            do {
                let reader = try PerfBufferReader(map: map)
                guard PerfBufferReaderTests.perfEventDescriptorCount() == perfBefore + reader.cpus.count else {
                    print("one perf event per CPU expected"); exit(1)
                }
                guard try PerfBufferReaderTests.run(program, times: 1) == 0 else { print("output failed"); exit(2) }
                let collector = Task {
                    var records: [PerfBufferRecord] = []
                    for try await record in reader.records() {
                        records.append(record)
                        if records.count == 3 { break }
                    }
                    return records
                }
                try await Task.sleep(for: .milliseconds(50))
                try PerfBufferReaderTests.run(program, times: 2)
                let records = try await collector.value
                guard PerfBufferReaderTests.samples(records) == Array(repeating: Array(PerfBufferReaderTests.pattern[..<12]), count: 3) else {
                    print("records: \(records)"); exit(3)
                }
                // A consumer that waits forever ends when its task is cancelled.
                let waiting = Task {
                    var count = 0
                    for try await _ in reader.records() { count += 1 }
                    return count
                }
                try await Task.sleep(for: .milliseconds(100))
                waiting.cancel()
                guard try await waiting.value == 0 else { print("records after cancel"); exit(4) }
            }
            let enoent = -Int32(ENOENT)
            guard AttachKit.eventually({ (try? PerfBufferReaderTests.run(program, times: 1)) == enoent }) else {
                print("the map still holds an event"); exit(5)
            }
            guard AttachKit.eventually({ PerfBufferReaderTests.perfEventDescriptorCount() == perfBefore }) else {
                print("perf events left open"); exit(6)
            }
            guard AttachKit.eventually({ AttachKit.waiterDescriptorCount() <= waitersBefore }) else {
                print("epoll or eventfd descriptors left open"); exit(7)
            }
        }
    }

    /// events.o's program on the execve tracepoint: one sample per `/bin/true` with events.bpf.c's
    /// `struct event` layout (u32 pid, u32 uid, char comm[16], char message[32]: 56 bytes, plus the
    /// kernel's 4 bytes of padding). Other processes' execs (parallel tests) are filtered out by pid.
    @Test func execveSamplesFromEventsObject() throws {
        try AttachKit.requireRoot()
        let object = try LoadedObject.load(contentsOf: TestPaths.fixtures + "/events.o")
        let map = try #require(object.map(named: "perf_events"))
        let program = try #require(object.program(named: "emit_events"))
        let reader = try PerfBufferReader(map: map)
        let link = try program.attachTracepoint()
        defer { link.close() }
        let pids = Set(try AttachKit.runTrue(times: 5).map { UInt32($0) })
        var ours: [[UInt8]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ours.count < pids.count && ContinuousClock.now < deadline {
            try reader.poll(timeout: .milliseconds(200)) { record in
                guard case .sample(_, let data) = record, data.count >= 8 else { return }
                let pid = data.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                if pids.contains(pid) { ours.append(data) }
            }
        }
        #expect(ours.count == pids.count)
        for data in ours {
            #expect(data.count == 60)
            let uid = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
            #expect(uid == getuid())
            let comm = data[8..<24]
            #expect(comm.contains(0))
            let message = data[24..<56].prefix { $0 != 0 }
            #expect(String(decoding: message, as: UTF8.self) == "execve seen")
        }
        #expect(Set(ours.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }) == pids)
    }
}
