import BPFObject
import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import BPF

/// trace_pipe lines taken apart, and the line splitter, on text the test writes.
@Suite struct TraceLineTests {
    @Test func bpfPrintkLine() throws {
        let line = try #require(TraceLine("           <...>-6465    [001] d..31 10464.607918: bpf_trace_printk: Hello, World from swift-load!"))
        #expect(line.task == "<...>")
        #expect(line.pid == 6465)
        #expect(line.tgid == nil)
        #expect(line.cpu == 1)
        #expect(line.flags == "d..31")
        #expect(line.timestamp == "10464.607918")
        #expect(line.seconds == 10464.607918)
        #expect(line.event == "bpf_trace_printk")
        #expect(line.message == "Hello, World from swift-load!")
        #expect(line.summary == "<...>-6465: Hello, World from swift-load!")
    }

    @Test func tasksWithSpacesDashesAndBrackets() throws {
        let worker = try #require(TraceLine(" kworker/u4:1-123  [000] ..... 5.000001: my_event: a: b"))
        #expect(worker.task == "kworker/u4:1")
        #expect(worker.pid == 123)
        #expect(worker.event == "my_event")
        #expect(worker.message == "a: b")
        let odd = try #require(TraceLine("Web Content-x [1]-42 [003] ...1. 99.5: bpf_trace_printk: pid [7] done"))
        #expect(odd.task == "Web Content-x [1]")
        #expect(odd.pid == 42)
        #expect(odd.cpu == 3)
        #expect(odd.message == "pid [7] done")
    }

    @Test func optionalColumns() throws {
        // record-tgid on.
        let tgid = try #require(TraceLine("            bash-1234    (   1200) [000] d..3.    12.345678: bpf_trace_printk: x"))
        #expect(tgid.task == "bash")
        #expect(tgid.pid == 1234)
        #expect(tgid.tgid == 1200)
        #expect(tgid.flags == "d..3.")
        let unknownTGID = try #require(TraceLine("  bash-1234 (-------) [000] d..3. 12.345678: bpf_trace_printk: x"))
        #expect(unknownTGID.tgid == nil)
        #expect(unknownTGID.pid == 1234)
        // irq-info off: no flags column.
        let bare = try #require(TraceLine("  true-77 [001] 3.5: bpf_trace_printk: hi"))
        #expect(bare.flags == "")
        #expect(bare.timestamp == "3.5")
        #expect(bare.message == "hi")
        // No "event: " part.
        let plain = try #require(TraceLine("  true-77 [001] .... 3.5: just text"))
        #expect(plain.event == nil)
        #expect(plain.message == "just text")
        let empty = try #require(TraceLine("  true-77 [001] .... 3.5: bpf_trace_printk: "))
        #expect(empty.message == "")
    }

    @Test func otherTextIsNotALine() {
        for text in ["", "CPU:1 [LOST 12 EVENTS]", "no brackets here", "task-x [001] .... 1.0: m",
                     "task-1 [001] .... notatime: m", "task-1 [0x1] .... 1.0: m", "[001] .... 1.0: m"] {
            #expect(TraceLine(text) == nil, "\(text)")
        }
    }

    @Test func splitterKeepsPartialLines() {
        var splitter = TraceLineSplitter()
        func feed(_ text: String) -> [String] {
            Array(text.utf8).withUnsafeBytes { splitter.append($0) }
        }
        #expect(feed("first li") == [])
        #expect(splitter.pendingBytes == 8)
        #expect(feed("ne\nsecond\nthi") == ["first line", "second"])
        #expect(feed("rd\n\n") == ["third", ""])
        #expect(splitter.pendingBytes == 0)
        #expect(feed("tail") == [])
        #expect(splitter.flush() == "tail")
        #expect(splitter.flush() == nil)
    }

    @Test func splitterBoundsALineWithoutNewline() {
        var splitter = TraceLineSplitter()
        let chunk = [UInt8](repeating: 0x61, count: 40_000)
        #expect(chunk.withUnsafeBytes { splitter.append($0) }.isEmpty)
        let lines = chunk.withUnsafeBytes { splitter.append($0) }
        #expect(lines.map(\.utf8.count) == [TraceLineSplitter.limit])
        #expect(splitter.pendingBytes == 80_000 - TraceLineSplitter.limit)
    }
}

/// The reader on a FIFO the test writes (no kernel needed), and on the real trace_pipe.
@Suite(.serialized) struct TracePipeReaderTests {
    /// A FIFO with a read-write descriptor held by the test (so the reader never sees end of file until
    /// the test closes it).
    final class Fifo: Sendable {
        let path: String
        let writer: Int32
        /// Whether `writer` was closed: closed once only, since under a parallel test run its number may
        /// already belong to another test's descriptor (a second close made another test's pipe read fail).
        private let writerOpen = Mutex(true)

        init() throws {
            path = NSTemporaryDirectory() + "swift-load-trace-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            guard mkfifo(path, 0o600) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            writer = open(path, O_RDWR | O_CLOEXEC)
        }

        func write(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes { Glibc.write(writer, $0.baseAddress, $0.count) }
        }

        func closeWriter() {
            writerOpen.withLock { open in
                if open { close(writer) }
                open = false
            }
        }

        deinit {
            closeWriter()
            unlink(path)
        }
    }

    @Test func pollSplitsLinesAcrossReads() throws {
        let fifo = try Fifo()
        let reader = try TracePipeReader(path: fifo.path)
        #expect(try reader.poll(timeout: .milliseconds(20)) { _ in } == 0)
        fifo.write("one\ntw")
        var lines: [String] = []
        #expect(try reader.poll(timeout: .seconds(5)) { lines.append($0) } == 1)
        #expect(reader.pendingBytes == 2)
        fifo.write("o\nthree\n")
        #expect(try reader.poll(timeout: .seconds(5)) { lines.append($0) } == 2)
        #expect(lines == ["one", "two", "three"])
        reader.wake()
        #expect(try reader.poll(timeout: .seconds(30)) { _ in } == 0)
    }

    @Test func forEachStopsWhenTheBodySaysSoOrOnStop() throws {
        let fifo = try Fifo()
        let reader = try TracePipeReader(path: fifo.path)
        fifo.write("a\nb\n")
        var seen: [String] = []
        try reader.forEach { line in
            seen.append(line)
            return line != "a"
        }
        #expect(seen == ["a"])
        try startThread {
            usleep(50_000)
            fifo.write("c\n")
            usleep(100_000)
            reader.stop()
        }
        try reader.forEach { line in
            seen.append(line)
            return true
        }
        #expect(seen == ["a", "b", "c"]) // "b", read with "a", was kept when the body stopped
    }

    /// At the end of a FIFO (its writers closed) forEach returns instead of waking for ever.
    @Test(.timeLimit(.minutes(1))) func forEachEndsAtEndOfFile() throws {
        let fifo = try Fifo()
        let reader = try TracePipeReader(path: fifo.path)
        fifo.write("x\nlast")
        fifo.closeWriter()
        var seen: [String] = []
        try reader.forEach { line in
            seen.append(line)
            return true
        }
        #expect(seen == ["x", "last"])
    }

    @Test func linesEndAtEndOfFileWithTheUnfinishedLine() async throws {
        let fifo = try Fifo()
        let reader = try TracePipeReader(path: fifo.path)
        fifo.write("x\ny\nlast")
        let collected = Task {
            var lines: [String] = []
            for try await line in reader.lines() { lines.append(line) }
            return lines
        }
        try await Task.sleep(for: .milliseconds(50))
        fifo.closeWriter()
        #expect(try await collected.value == ["x", "y", "last"])
    }

    @Test func missingFileIsNamed() {
        do {
            _ = try TracePipeReader(path: "/nonexistent/trace_pipe")
            Issue.record("opened a missing file")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message.hasPrefix("opening /nonexistent/trace_pipe"))
        }
    }

    /// The lines sequence ends when its task is cancelled, and the reader leaves no descriptor behind; in
    /// a child process so that other suites' readers cannot pass for leaks.
    @Test func cancellingLeavesNothingOpen() async throws {
        await #expect(processExitsWith: .success) {
            try await Task.sleep(for: .milliseconds(1))
            // What the reader opens: the file, an epoll instance and an eventfd per wait (the test harness
            // of the child process opens pipes and sockets of its own, which are not counted).
            func readerDescriptors() -> Int {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
                return entries.filter { entry in
                    let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)) ?? ""
                    return target.hasPrefix("anon_inode:[event") || target.contains("swift-load-trace-")
                }.count
            }
            let before = readerDescriptors()
            do {
                let fifo = try TracePipeReaderTests.Fifo()
                let reader = try TracePipeReader(path: fifo.path)
                let waiting = Task {
                    var lines: [String] = []
                    for try await line in reader.lines() { lines.append(line) }
                    return lines
                }
                try await Task.sleep(for: .milliseconds(50))
                fifo.write("seen\n")
                try await Task.sleep(for: .milliseconds(100))
                waiting.cancel()
                guard try await waiting.value == ["seen"] else { print("lines"); exit(1) }
            }
            // The sequence's thread closes its descriptors as it ends; on a loaded machine that can take a
            // few seconds.
            var closed = false
            for _ in 0..<1000 where !closed {
                closed = readerDescriptors() <= before
                if !closed { usleep(10_000) }
            }
            guard closed else { print("descriptors left open"); exit(2) }
        }
    }

    /// Opens trace_pipe, waiting up to 30 seconds while another reader (another test, elsewhere on the
    /// machine) holds it.
    static func openTracePipe() throws -> TracePipeReader {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let opened: Result<TracePipeReader, BPFError>
            do { opened = .success(try TracePipeReader()) } catch { opened = .failure(error) }
            if case .failure(let error) = opened, error.errno == .resourceBusy, ContinuousClock.now < deadline {
                usleep(100_000)
                continue
            }
            return try opened.get()
        }
    }

    /// hello.o prints on every execve; the line of our `/bin/true` arrives and parses. trace_pipe is
    /// shared by the whole machine and consumed by whoever reads it (other tests may read it in parallel),
    /// so the test keeps running `/bin/true` until a line with one of its pids arrives.
    @Test func bpfPrintkLineArrives() throws {
        try AttachKit.requireRoot()
        let object = try LoadedObject.load(contentsOf: TestPaths.fixtures + "/hello.o")
        let program = try #require(object.program(named: "hello"))
        let reader = try Self.openTracePipe()
        #expect(reader.path.hasSuffix("/trace_pipe"))
        // A second reader is refused while this one holds the file, with the reason.
        do {
            _ = try TracePipeReader()
            Issue.record("trace_pipe opened twice")
        } catch {
            #expect(error.errno == .resourceBusy)
            #expect(error.message.contains("one trace_pipe reader at a time"))
        }
        let link = try program.attachTracepoint()
        defer { link.close() }
        var pids = Set<Int32>()
        var found: TraceLine?
        for _ in 0..<10 where found == nil {
            pids.formUnion(try AttachKit.runTrue())
            let deadline = ContinuousClock.now + .seconds(1)
            while found == nil && ContinuousClock.now < deadline {
                try reader.poll(timeout: .milliseconds(100)) { text in
                    if let line = TraceLine(text), pids.contains(line.pid),
                       line.message == "Hello, World from swift-load!" { found = line }
                }
            }
        }
        let line = try #require(found)
        #expect(line.event == "bpf_trace_printk")
        #expect(line.summary.hasSuffix("-\(line.pid): Hello, World from swift-load!"))
    }
}
