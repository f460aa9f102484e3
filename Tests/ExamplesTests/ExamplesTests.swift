import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The executables of Examples/ (Docs/examples.md), run as a user would: built binaries, run as root
/// for a few seconds while the test makes the events they report, judged by what they print.
@Suite(.serialized) struct ExamplesTests {
    /// How long each example runs (`--duration`).
    static let seconds = 3

    // Every example prints a first line once attached, then one line a second or one per event.

    @Test func execCounterCountsTheShellsChildren() async throws {
        try requireRoot()
        let shell = try EventMaker()
        let output = try await ExampleRun.run("ExecCounter", ["--duration", "\(Self.seconds)", shell.name],
                                              whileRepeating: { try shell.runTrue(times: 3) })
        let lines = output.lines
        #expect(lines.first?.hasPrefix("counting programs started by \(shell.name)") == true, "\(output)")
        #expect(lines.count == 1 + Self.seconds, "one line a second: \(output)")
        // The last line ("swiftload-ex 42") has the count of execve calls made by processes named like
        // our shell: its children running /bin/true, three per round, several rounds a second.
        let last = try #require(lines.last).split(separator: " ")
        try #require(last.count == 2 && last[0] == shell.name, "\(output)")
        let count = try #require(Int(last[1]), "\(output)")
        #expect(count >= 3, "\(output)")
        #expect(count <= shell.trueRuns, "\(output)")
    }

    @Test func socketFilterCountsPingBytes() async throws {
        try requireRoot()
        guard let ping = Tool.path("ping") else {
            try require(false, "no ping (iputils-ping) to make packets on lo")
            return
        }
        let pings = PingCount()
        let output = try await ExampleRun.run("SocketFilter", ["--duration", "\(Self.seconds)", "lo"], whileRepeating: {
            // IPv4 on purpose: the program reads the IPv4 header's protocol byte.
            let result = try Tool.run(ping, ["-c3", "-i0.2", "-q", "127.0.0.1"])
            #expect(result.status == 0, "\(result.stderr)")
            pings.add(3)
        })
        let lines = output.lines
        #expect(lines.first?.hasPrefix("counting outgoing packets per IP protocol (count_proto_bytes") == true, "\(output)")
        #expect(lines.count == 1 + Self.seconds, "\(output)")
        // Each echo request and each reply leaves through lo once, 98 bytes with its Ethernet header; at
        // least one run of three pings falls entirely inside the three seconds.
        let last = try #require(lines.last)
        let icmp = try #require(last.split(separator: ", ").first { $0.hasPrefix("ICMP: ") }, "\(output)")
        let numbers = icmp.split(separator: " ").compactMap { Int($0) }
        try #require(numbers.count == 2, "\(output)")
        #expect(numbers[0] >= 6 * 98, "\(output)")
        #expect(numbers[1] >= 6, "\(output)")
        #expect(numbers[1] <= 2 * pings.value + 64, "other ICMP traffic on lo is possible, not this much: \(output)")
    }

    @Test func execEventsStreamsTheShellsChildren() async throws {
        try requireRoot()
        let shell = try EventMaker()
        let output = try await ExampleRun.run("ExecEvents", ["--duration", "\(Self.seconds)"],
                                              whileRepeating: { try shell.runTrue(times: 3) })
        let lines = output.lines
        #expect(lines.first?.hasPrefix("streaming exec events (emit_events") == true, "\(output)")
        // "pid 1234 uid 0 swiftload-ex: execve seen" for the shell's children.
        let ours = lines.filter { $0.hasSuffix(" \(shell.name): execve seen") }
        #expect(ours.count >= 3, "\(output)")
        #expect(ours.allSatisfy { $0.hasPrefix("pid ") && $0.contains(" uid \(getuid()) ") }, "\(output)")
    }

    @Test func taskReaderReadsTheShellsTaskStruct() async throws {
        try requireRoot()
        let shell = try EventMaker()
        let output = try await ExampleRun.run("TaskReader", ["--duration", "\(Self.seconds)"],
                                              whileRepeating: { try shell.runTrue(times: 3) })
        let lines = output.lines
        #expect(lines.first?.hasPrefix("reading task_struct of every process that calls execve (core_read_task") == true,
                "\(output)")
        // "pid 1234 (parent 1200) swiftload-ex: state 0, in_execve 0, arg_start 0x7ff…, comm is 16 bytes;
        // kernel 6.18.0, HZ 1000" for each of our shells.
        let ours = lines.filter { $0.contains(") \(shell.name): ") }
        #expect(!ours.isEmpty, "\(output)")
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let majorMinor = release.split(separator: ".").prefix(2).joined(separator: ".")
        for line in ours {
            #expect(line.contains("comm is 16 bytes; kernel \(majorMinor)."), "\(line)")
            #expect(line.contains(", HZ "), "\(line)")
            #expect(!line.contains("arg_start 0x0,"), "the shell has arguments: \(line)")
            // The caller of execve is the shell's child, before it becomes /bin/true (or the shell itself
            // when it runs its last command without forking).
            let numbers = line.split(separator: " ").prefix(4).compactMap { Int32($0.trimmingCharacters(in: ["(", ")"])) }
            try #require(numbers.count == 2, "\(line)")
            #expect(shell.pids.contains(numbers[1]) || shell.pids.contains(numbers[0]),
                    "\(line): neither the task nor its parent is one of our shells \(shell.pids)")
        }
    }

    @Test func helloWorldPrintsTraceLines() async throws {
        try requireRoot()
        let shell = try EventMaker()
        // The kernel lets one process read trace_pipe at a time; other tests read it too.
        var output = try await ExampleRun.run("HelloWorld", ["--duration", "\(Self.seconds)"],
                                              whileRepeating: { try shell.runTrue(times: 3) })
        for _ in 0..<60 where output.tracePipeWasBusy {
            try await Task.sleep(for: .milliseconds(500))
            output = try await ExampleRun.run("HelloWorld", ["--duration", "\(Self.seconds)"],
                                              whileRepeating: { try shell.runTrue(times: 3) })
        }
        let lines = output.lines
        #expect(lines.first?.hasPrefix("printing trace_pipe (hello") == true, "\(output)")
        // trace_pipe lines of our shell's children: "  swiftload-ex-1234 [001] ...: bpf_trace_printk: Hello…".
        // (A line read by another reader of trace_pipe is not ours to see, so only some are required.)
        let ours = lines.filter { $0.contains("\(shell.name)-") && $0.hasSuffix("Hello, World from swift-load!") }
        #expect(!ours.isEmpty, "\(output)")
    }

    /// Kernel tests need root (bpf(), perf events, raw sockets).
    func requireRoot() throws {
        try require(geteuid() == 0, "the examples attach programs, which needs root")
    }
}

/// Makes execve calls under a recognizable command name: a symbolic link to /bin/sh named
/// ``name``, whose children are named after it until their own execve completes (the kernel names a
/// process after the file it executes, here the link).
final class EventMaker: @unchecked Sendable {
    /// The shell's command name, as the examples print it.
    let name = "swiftload-ex"
    let directory: String
    private let lock = NSLock()
    private var shellPIDs: [Int32] = []
    private var runs = 0

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swift-load-examples-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: "/bin/sh")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The shells' process ids so far.
    var pids: [Int32] { lock.withLock { shellPIDs } }
    /// How many times the shells ran /bin/true so far.
    var trueRuns: Int { lock.withLock { runs } }

    /// Runs the shell once, which runs /bin/true `times` times.
    func runTrue(times: Int) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: directory + "/" + name)
        process.arguments = ["-c", Array(repeating: "/bin/true", count: times).joined(separator: "; ")]
        try process.run()
        process.waitUntilExit()
        lock.withLock {
            shellPIDs.append(process.processIdentifier)
            runs += times
        }
    }
}

/// One run of a built example.
struct ExampleRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Standard output's lines.
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// The example could not open trace_pipe because another process reads it.
    var tracePipeWasBusy: Bool { status != 0 && stderr.contains("another reader has it open") }

    var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }

    /// Runs example `name` with `arguments`, calling `body` again and again (every 100 ms) until it exits,
    /// and expects exit status 0 within `duration + 20` seconds (else kills it and fails).
    static func run(_ name: String, _ arguments: [String], whileRepeating body: @escaping @Sendable () throws -> Void,
                    sourceLocation: SourceLocation = #_sourceLocation) async throws -> ExampleRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ExampleExecutable.path(name, sourceLocation: sourceLocation))
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes while the example runs so that neither can fill up and block it; on threads of
        // their own, since a blocking read on Swift's small cooperative pool would stall this test's loop.
        let outData = PipeReader(out), errData = PipeReader(err)
        // The events are made on a thread of its own too: under a full parallel test run, Swift's
        // cooperative pool (two threads here) can be held by other tests for seconds, and events made
        // from it would miss the example's whole run.
        let driver = EventDriver(process: process, deadline: .now() + .seconds(ExamplesTests.seconds + 20), body: body)
        await driver.finished()
        if driver.timedOut {
            Issue.record("\(name) did not stop after --duration; interrupted", sourceLocation: sourceLocation)
        }
        if let error = driver.error { throw error }
        process.waitUntilExit()
        let run = ExampleRun(status: process.terminationStatus,
                             stdout: String(decoding: outData.wait(), as: UTF8.self),
                             stderr: String(decoding: errData.wait(), as: UTF8.self))
        // trace_pipe has one reader at a time; the caller retries when another test holds it.
        if run.tracePipeWasBusy { return run }
        #expect(run.status == 0, "\(name): \(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.isEmpty, "\(name): \(run)", sourceLocation: sourceLocation)
        return run
    }
}

/// Calls `body` every 100 ms on a thread of its own while `process` runs; interrupts it at `deadline`.
final class EventDriver: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private(set) var timedOut = false
    private(set) var error: Error?

    init(process: Process, deadline: DispatchTime, body: @escaping @Sendable () throws -> Void) {
        Thread {
            while process.isRunning {
                if DispatchTime.now() > deadline {
                    self.timedOut = true
                    process.interrupt()
                    break
                }
                if self.error == nil {
                    do { try body() } catch { self.error = error }
                }
                usleep(100_000)
            }
            self.done.signal()
        }.start()
    }

    /// Waits for the loop to end, without holding a thread of the cooperative pool meanwhile.
    func finished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                self.done.wait()
                continuation.resume()
            }.start()
        }
    }
}

/// Echo requests sent so far (added from the event thread, read by the test).
final class PingCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}

/// Reads a pipe to its end on a thread of its own.
final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ pipe: Pipe) {
        Thread {
            self.data = pipe.fileHandleForReading.readDataToEndOfFile()
            self.done.signal()
        }.start()
    }

    /// Everything the pipe carried, once its writers closed it.
    func wait() -> Data {
        done.wait()
        return data
    }
}

/// Where the built examples are: SwiftPM puts executables beside the test bundle in the build products
/// directory (`<scratch>/debug/ExecCounter` next to `<scratch>/debug/swift-loadPackageTests.xctest`),
/// whichever scratch path was used. `SWIFT_LOAD_EXAMPLES_DIR` overrides the search.
enum ExampleExecutable {
    static func candidates(_ name: String) -> [String] {
        var directories: [URL] = []
        if let override = ProcessInfo.processInfo.environment["SWIFT_LOAD_EXAMPLES_DIR"] {
            directories.append(URL(fileURLWithPath: override))
        }
        directories.append(URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent())
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        directories.append(Bundle.main.bundleURL)
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        directories.append(URL(fileURLWithPath: TestPaths.root + "/.build/debug"))
        var seen = Set<String>()
        return directories.map { $0.appendingPathComponent(name).path }.filter { seen.insert($0).inserted }
    }

    /// The built example's path; fails the calling test with the places searched if there is none.
    static func path(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let candidates = candidates(name)
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        let message = "example \(name) not built (swift build builds every example; or set SWIFT_LOAD_EXAMPLES_DIR); "
            + "looked in: " + candidates.joined(separator: ", ")
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        throw NotBuilt(message: message)
    }

    /// Thrown after recording that an example is missing.
    struct NotBuilt: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
