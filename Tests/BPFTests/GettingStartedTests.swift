import BPF
import Foundation
import Testing
import TestSupport

// The three examples of Sources/BPF/BPF.docc/GettingStarted.md, verbatim between the `snippet` markers:
// `articleShowsTheseExamples` checks that the article's code blocks are these lines, so what the article
// shows is what these tests compile and run. Only the calls at the end of each article block differ (they
// run until interrupted; the tests run them briefly).

// snippet: common
/// A map or program the example expects is missing from the object.
struct NotInObject: Error {
    var name: String
}
// end snippet

// snippet: execve-counter
/// Counts the programs that processes named `command` start: loads execcount.o, inserts the key the
/// program increments, attaches `count_execve` to the execve tracepoint, and prints the count every
/// `interval`, `rounds` times. Returns the last count.
func countExecutions(by command: String, object path: String, every interval: Duration,
                     rounds: Int) async throws -> UInt64 {
    let object = try LoadedObject.load(contentsOf: path)
    guard let counts = object.map(named: "exec_counts") else { throw NotInObject(name: "exec_counts") }
    guard let program = object.program(named: "count_execve") else { throw NotInObject(name: "count_execve") }

    // Keys are command names as the kernel keeps them (at most 15 bytes) in a zero-padded char[64].
    // Insert the key to watch with a count of 0, so it is there (and reads 0) before the first execve.
    var key = [UInt8](repeating: 0, count: 64)
    key.replaceSubrange(0..<min(command.utf8.count, 15), with: command.utf8.prefix(15))
    try counts.update(key: key, value: [UInt8](repeating: 0, count: 8))

    let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
    defer { link.close() }

    var count: UInt64 = 0
    for _ in 0..<rounds {
        try await Task.sleep(for: interval)
        count = try counts.withLookup(key: key) { $0.loadUnaligned(as: UInt64.self) } ?? 0
        print("\(command) started \(count) programs")
    }
    return count
}
// end snippet

// snippet: socket-filter
/// Counts the bytes and packets this machine sends per IP protocol on `interface`: loads
/// legacy_sockex.o (whose maps are legacy `maps`-section definitions), attaches `count_proto_bytes` as a
/// socket filter, and prints the ICMP totals every `interval`, `rounds` times. Returns the last byte count.
func countICMPBytes(object path: String, interface: String, every interval: Duration,
                    rounds: Int) async throws -> UInt64 {
    let object = try LoadedObject.load(contentsOf: path)
    guard let bytes = object.map(named: "proto_bytes") else { throw NotInObject(name: "proto_bytes") }
    guard let packets = object.map(named: "proto_packets") else { throw NotInObject(name: "proto_packets") }
    guard let program = object.program(named: "count_proto_bytes") else {
        throw NotInObject(name: "count_proto_bytes")
    }

    let link = try program.attachSocketFilter(interface: interface)
    defer { link.close() }

    let icmp: UInt32 = 1 // IPPROTO_ICMP: both maps are arrays indexed by the IP protocol number
    var total: UInt64 = 0
    for _ in 0..<rounds {
        try await Task.sleep(for: interval)
        total = try bytes.lookup(icmp, as: UInt64.self) ?? 0
        let count = try packets.lookup(icmp, as: UInt64.self) ?? 0
        print("ICMP: \(total) bytes in \(count) packets")
    }
    return total
}
// end snippet

// snippet: ring-buffer
/// One `struct event` of events.bpf.c: `u32 pid; u32 uid; char comm[16]; char message[32];`.
struct ExecEvent {
    var pid: UInt32
    var uid: UInt32
    var command: String
    var message: String

    init?(_ record: [UInt8]) {
        guard record.count >= 56 else { return nil }
        func number(at offset: Int) -> UInt32 {
            record.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        }
        func text(_ range: Range<Int>) -> String {
            String(decoding: record[range].prefix { $0 != 0 }, as: UTF8.self)
        }
        pid = number(at: 0)
        uid = number(at: 4)
        command = text(8..<24)
        message = text(24..<56)
    }
}

/// Streams exec events: loads events.o, attaches `emit_events` to the execve tracepoint, and prints the
/// events its ring buffer `rb` carries, until `limit` have arrived. Returns them.
func streamExecEvents(object path: String, limit: Int) async throws -> [ExecEvent] {
    let object = try LoadedObject.load(contentsOf: path)
    guard let ring = object.map(named: "rb") else { throw NotInObject(name: "rb") }
    guard let program = object.program(named: "emit_events") else { throw NotInObject(name: "emit_events") }

    let reader = try RingBufferReader(map: ring)
    let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
    defer { link.close() }

    var events: [ExecEvent] = []
    for try await record in reader.records() {
        guard let event = ExecEvent(record) else { continue }
        print("pid \(event.pid) uid \(event.uid) \(event.command): \(event.message)")
        events.append(event)
        if events.count == limit { break }
    }
    return events
}
// end snippet

/// A flag one task sets and another polls.
private final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// What the spawning thread of `GettingStartedTests.whileRunningTrue` shares with the test.
private final class Spawner: @unchecked Sendable {
    let lock = NSLock()
    var pids: [Int32] = []
    var stopped = false
    let done = DispatchSemaphore(value: 0)
}

@Suite(.serialized) struct GettingStartedTests {
    /// The name the test's spawning thread gives itself: its children start with it as their command name
    /// (a thread's name is its `comm`, and a child keeps it until its `execve` completes).
    static let spawnerName = "swiftload-exec"

    /// Runs `/bin/true` every 50 ms from a thread named ``spawnerName`` while `body` runs; returns the
    /// children's process ids with the result.
    static func whileRunningTrue<Result: Sendable>(_ body: () async throws -> Result) async throws -> (Result, [Int32]) {
        let spawner = Spawner()
        let thread = Thread {
            // Named through procfs: Foundation's Thread.name can race with the thread's start.
            let comm = open("/proc/thread-self/comm", O_WRONLY)
            if comm >= 0 {
                _ = spawnerName.withCString { write(comm, $0, strlen($0)) }
                close(comm)
            }
            while spawner.lock.withLock({ !spawner.stopped }) {
                var pid: pid_t = 0
                let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
                if posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0 {
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                    spawner.lock.withLock { spawner.pids.append(pid) }
                }
                free(argv[0])
                usleep(50_000)
            }
            spawner.done.signal()
        }
        thread.start()
        defer {
            spawner.lock.withLock { spawner.stopped = true }
            spawner.done.wait()
        }
        let result = try await body()
        return (result, spawner.lock.withLock { spawner.pids })
    }

    @Test func execveCounter() async throws {
        try AttachKit.requireRoot()
        let (count, pids) = try await Self.whileRunningTrue {
            try await countExecutions(by: Self.spawnerName, object: TestPaths.fixtures + "/execcount.o",
                                      every: .seconds(1), rounds: 2)
        }
        // Counting starts when attached (after loading); most of the children ran after that, and only
        // they run under this name.
        #expect(count >= 5, "\(pids.count) children started")
        #expect(count <= UInt64(pids.count))
    }

    /// Five pings of localhost run again and again while the example counts (the first run may start
    /// before the filter is attached; later ones run entirely under it).
    @Test func socketFilterCountsPing() async throws {
        try AttachKit.requireRoot()
        let stop = StopSignal()
        let pinger = Task.detached {
            var runs = 0
            while !stop.isSet {
                try LoopbackPing.run(count: 5)
                runs += 1
            }
            return runs
        }
        let total = try await countICMPBytes(object: TestPaths.fixtures + "/legacy_sockex.o", interface: "lo",
                                             every: .seconds(1.5), rounds: 2)
        stop.set()
        let runs = try await pinger.value
        // Five echo requests and five replies leave through lo per run: 98 bytes each (Ethernet + IP +
        // ICMP header + 56 bytes of data).
        #expect(runs >= 2)
        #expect(total >= 10 * 98)
        #expect(total % 98 == 0)
    }

    @Test func ringBufferConsumer() async throws {
        try AttachKit.requireRoot()
        let (events, pids) = try await Self.whileRunningTrue {
            try await streamExecEvents(object: TestPaths.fixtures + "/events.o", limit: 20)
        }
        #expect(events.count == 20)
        #expect(events.allSatisfy { $0.message == "execve seen" })
        // Our children's execs are among them, with their pids and our uid.
        let ours = events.filter { pids.contains(Int32(bitPattern: $0.pid)) }
        #expect(!ours.isEmpty)
        #expect(ours.allSatisfy { $0.uid == getuid() })
    }

    /// The article's code blocks are the snippets above, line for line.
    @Test func articleShowsTheseExamples() throws {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let article = try String(contentsOfFile: TestPaths.root + "/Sources/BPF/BPF.docc/GettingStarted.md", encoding: .utf8)
        let blocks = Self.swiftBlocks(article)
        for name in ["common", "execve-counter", "socket-filter", "ring-buffer"] {
            let snippet = try #require(Self.snippet(named: name, in: source), "no snippet \(name)")
            #expect(blocks.contains { $0.contains(snippet) }, "the article does not show snippet \(name) as the tests run it")
        }
    }

    static func snippet(named name: String, in source: String) -> String? {
        guard let start = source.range(of: "// snippet: \(name)\n"),
              let end = source.range(of: "// end snippet", range: start.upperBound..<source.endIndex) else { return nil }
        return String(source[start.upperBound..<end.lowerBound])
    }

    static func swiftBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("```swift") {
                current = []
            } else if current != nil, line.hasPrefix("```") {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }
}
