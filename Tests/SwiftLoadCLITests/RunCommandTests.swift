import BPF
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The run command (`swift-load OBJ ...`) through the built executable on the real kernel: what it
/// streams, how it stops, and what it leaves behind (Docs/commands/run.md).
@Suite struct RunCommandTests {
    func requireRoot() throws {
        try require(geteuid() == 0, "the run command needs root to load and attach")
    }

    /// A copy of /bin/sh under a name of its own (at most 15 bytes: the kernel's comm), so that the
    /// programs it starts are told apart from everything else the machine runs: the execve tracepoint sees
    /// the caller's name, and the caller is this shell's child before it becomes /bin/true.
    final class NamedShell {
        let name: String
        let path: String

        init() throws {
            name = "sl\(getpid() % 100_000)x\(UInt16.random(in: 0...UInt16.max))"
            let directory = NSTemporaryDirectory() + "swift-load-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            path = directory + "/" + name
            try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: path)
        }

        /// Runs /bin/true `times` times from this shell, with `arguments` (plain words).
        func runTrue(times: Int, arguments: [String] = []) throws {
            let command = (["/bin/true"] + arguments).joined(separator: " ")
            let output = try Tool.run(path, ["-c", "i=0; while [ $i -lt \(times) ]; do \(command); i=$((i+1)); done"])
            #expect(output.status == 0)
        }

        deinit { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    }

    /// A running swift-load: its stdout collected line by line, signals sent to it.
    final class RunningCommand: @unchecked Sendable {
        let process = Process()
        private let out = Pipe()
        private let err = Pipe()
        private let lock = NSLock()
        private var stdoutText = ""
        private var stderrText = ""

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: try SwiftLoadExecutable.path())
            process.arguments = arguments
            process.standardOutput = out
            process.standardError = err
            out.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                self?.lock.withLock { self?.stdoutText += String(decoding: data, as: UTF8.self) }
            }
            err.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                self?.lock.withLock { self?.stderrText += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
        }

        var stdout: String { lock.withLock { stdoutText } }
        var stderr: String { lock.withLock { stderrText } }

        /// Waits (up to `seconds`) until stdout has a line containing `text`.
        func waitForLine(containing text: String, seconds: Double = 20) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if stdout.contains(text) { return true }
                if !process.isRunning { return stdout.contains(text) }
                usleep(20_000)
            }
            return false
        }

        /// Waits for the process to end (up to `seconds`, then kills it) and returns its status.
        func finish(seconds: Double = 30) -> Int32 {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            // Let the readability handlers take the last bytes.
            usleep(100_000)
            out.fileHandleForReading.readabilityHandler = nil
            err.fileHandleForReading.readabilityHandler = nil
            let rest = out.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { stdoutText += String(decoding: rest, as: UTF8.self) }
            return process.terminationStatus
        }

        /// A test that stopped early (a failed `#require`) must not leave the command attached.
        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }

        /// stdout's JSON lines.
        var jsonLines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    /// The kernel still has a program or link with this id.
    static func kernelHas(_ kind: KernelObjectKind, id: UInt32) -> Bool {
        SystemCall.allIDs(of: kind).contains(id)
    }

    static func eventually(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    // MARK: Streaming

    /// The execve counter with `--maps 1 --duration 3 --json`: the count of the shell's name reaches N.
    @Test func execveCounterCountsWithMapsJSON() throws {
        try requireRoot()
        let shell = try NamedShell()
        let run = try RunningCommand([TestPaths.fixtures + "/execcount.o", "--maps", "1", "--duration", "4", "--json"])
        #expect(run.waitForLine(containing: "\"attached\""), "stderr: \(run.stderr)")
        try shell.runTrue(times: 5)
        #expect(run.finish() == 0, "stderr: \(run.stderr)")
        let lines = run.jsonLines
        let attached = try #require(lines.first { $0["type"] as? String == "attached" })
        #expect(attached["program"] as? String == "count_execve")
        #expect(attached["target"] as? String == "tracepoint/syscalls/sys_enter_execve")
        let maps = lines.filter { $0["type"] as? String == "map" && $0["name"] as? String == "exec_counts" }
        #expect(maps.count >= 3, "a map line every second and one at the end")
        let last = try #require(maps.last)
        let entries = try #require(last["entries"] as? [[String: Any]])
        let ours = entries.first { (($0["key"] as? [String: Any])?["comm"] as? String) == shell.name }
        #expect(ours?["value"] as? Int == 5, "entries: \(entries)")
        #expect(lines.last?["type"] as? String == "summary")
        #expect(lines.contains { $0["type"] as? String == "detached" })
    }

    /// Per-CPU maps under `--maps`: values are summed over the CPUs (`per_cpu` keeps each CPU's), and
    /// per-CPU histograms (a `struct hist` array, a slot-keyed hash) are drawn from the sums.
    @Test func perCPUMapsAreSummed() throws {
        try requireRoot()
        let shell = try NamedShell()
        let run = try RunningCommand([TestPaths.fixtures + "/execstats.o", "--maps", "1", "--duration", "4", "--json"])
        #expect(run.waitForLine(containing: "\"attached\""), "stderr: \(run.stderr)")
        // "/bin/true" is 9 bytes (log2 slot 3); with three arguments argc is 4 (slot 2).
        try shell.runTrue(times: 6, arguments: ["a", "b", "c"])
        #expect(run.finish() == 0, "stderr: \(run.stderr)")
        func lastEntries(_ name: String) throws -> [[String: Any]] {
            let line = try #require(run.jsonLines.last { $0["type"] as? String == "map" && $0["name"] as? String == name })
            return try #require(line["entries"] as? [[String: Any]])
        }
        let cpus = try PossibleCPUs.count()
        let stats = try lastEntries("exec_stats")
        let ours = try #require(stats.first { (($0["key"] as? [String: Any])?["comm"] as? String) == shell.name }, "\(stats)")
        let total = try #require(ours["value"] as? [String: Any])
        #expect(total["calls"] as? Int == 6)
        #expect(total["filename_bytes"] as? Int == 54)
        let perCPU = try #require(ours["per_cpu"] as? [[String: Any]])
        #expect(perCPU.count == cpus)
        #expect(perCPU.compactMap { $0["calls"] as? Int }.reduce(0, +) == 6)

        let lengths = try #require(try lastEntries("filename_len").first)
        let slots = try #require((lengths["value"] as? [String: Any])?["slots"] as? [Int])
        #expect(slots.count == 16 && slots[3] >= 6, "\(slots)")
        let argc = try lastEntries("argc_hist")
        let slotTwo = try #require(argc.first { $0["key"] as? Int == 2 }, "\(argc)")
        #expect((slotTwo["value"] as? Int ?? 0) >= 6)
        #expect((slotTwo["per_cpu"] as? [Int])?.reduce(0, +) == slotTwo["value"] as? Int)
    }

    /// The same maps as text: the header says the values are sums, histograms are drawn as bars.
    @Test func perCPUHistogramsAsBars() throws {
        try requireRoot()
        let shell = try NamedShell()
        let run = try RunningCommand([TestPaths.fixtures + "/execstats.o", "--maps", "1", "--duration", "3"])
        #expect(run.waitForLine(containing: "attached exec_stats_execve"), "stderr: \(run.stderr)")
        try shell.runTrue(times: 2, arguments: ["a", "b", "c"])
        #expect(run.finish() == 0, "stderr: \(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("map exec_stats (percpu_hash, ") && $0.contains("values summed over") })
        #expect(lines.contains { $0.contains("{comm=\"\(shell.name)\"} => {calls=2, filename_bytes=18}") }, "\(run.stdout)")
        #expect(lines.contains { $0.hasPrefix("map argc_hist (percpu_hash, ") })
        // Other processes exec too, so only the rows our calls fill are sure: argc 4, a 9-byte filename.
        #expect(lines.contains { $0.contains(" 4 -> 7 : ") && $0.hasSuffix("|") }, "argc_hist's bars: \(run.stdout)")
        #expect(lines.contains { $0.contains(" 8 -> 15 : ") && $0.hasSuffix("|") }, "filename_len's bars: \(run.stdout)")
    }

    /// Ring buffer and perf buffer records decoded through `--event-type`.
    @Test func eventsDecodeWithEventType() throws {
        try requireRoot()
        let shell = try NamedShell()
        let run = try RunningCommand([TestPaths.fixtures + "/events.o", "--event-type", "struct event", "--duration", "3", "--json"])
        #expect(run.waitForLine(containing: "\"attached\""), "stderr: \(run.stderr)")
        try shell.runTrue(times: 3)
        #expect(run.finish() == 0, "stderr: \(run.stderr)")
        let events = run.jsonLines.filter { $0["type"] as? String == "event" }
        let ours = events.compactMap { event -> (String, [String: Any])? in
            guard let data = event["data"] as? [String: Any], data["comm"] as? String == shell.name,
                  let map = event["map"] as? String else { return nil }
            return (map, data)
        }
        #expect(ours.filter { $0.0 == "rb" }.count == 3, "ring buffer events: \(events.count) in all")
        #expect(ours.filter { $0.0 == "perf_events" }.count == 3,
                "lost: \(run.jsonLines.filter { $0["type"] as? String != "event" }) stderr: \(run.stderr)")
        #expect(ours.allSatisfy { ($0.1["message"] as? String) == "execve seen" && $0.1["pid"] is Int })
    }

    /// Without --event-type, records are hex; the human form says which map and shows the bytes.
    @Test func eventsWithoutTypeAreHex() throws {
        try requireRoot()
        let shell = try NamedShell()
        let run = try RunningCommand([TestPaths.fixtures + "/events.o", "--duration", "3"])
        #expect(run.waitForLine(containing: "attached emit_events"), "stderr: \(run.stderr)")
        try shell.runTrue(times: 1)
        #expect(run.finish() == 0)
        let hexName = shell.name.utf8.map { String(format: "%02x", $0) }.joined()
        #expect(run.stdout.split(separator: "\n").contains { $0.hasPrefix("event rb: ") && $0.contains(hexName) })
        #expect(run.stdout.contains("summary: "))
    }

    /// `--trace` prints the hello-world's bpf_printk lines.
    @Test func traceShowsPrintk() throws {
        try requireRoot()
        let shell = try NamedShell()
        // The kernel lets one process read trace_pipe at a time, and other tests read it too: wait for
        // it to be free (the command says so in one line and exits 1 before loading anything).
        var attempt = 0
        while true {
            attempt += 1
            let run = try RunningCommand([TestPaths.fixtures + "/hello.o", "--trace", "--duration", "3"])
            guard run.waitForLine(containing: "attached hello") else {
                let status = run.finish()
                if run.stderr.contains("another reader has it open"), attempt < 60 {
                    usleep(500_000)
                    continue
                }
                Issue.record("status \(status), stderr: \(run.stderr)")
                return
            }
            // trace_pipe hands each line to one reader: make several lines, of which one must arrive.
            for _ in 0..<5 {
                try shell.runTrue(times: 2)
                usleep(200_000)
            }
            #expect(run.finish() == 0, "stderr: \(run.stderr)")
            #expect(run.stdout.split(separator: "\n").contains { $0.hasPrefix("trace: \(shell.name)-") && $0.contains("Hello, World") },
                    "stdout: \(run.stdout.prefix(2000))")
            return
        }
    }

    /// A taken trace_pipe is one error line and exit 1, before anything is loaded: this test holds it.
    @Test func busyTracePipeIsOneError() throws {
        try requireRoot()
        var held: Int32 = -1
        for _ in 0..<60 {
            held = open("/sys/kernel/tracing/trace_pipe", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if held >= 0 || errno != EBUSY { break }
            usleep(500_000)  // another test reads it now
        }
        try require(held >= 0, "cannot open /sys/kernel/tracing/trace_pipe (tracefs not mounted?)")
        defer { close(held) }
        let output = try SwiftLoadExecutable.run([TestPaths.fixtures + "/hello.o", "--trace", "--duration", "0"])
        #expect(output.status == 1)
        #expect(output.stderr.hasPrefix("swift-load: --trace: "), "\(output.stderr)")
        #expect(output.stderr.contains("another reader has it open"))
        #expect(output.stdout.isEmpty)
    }

    // MARK: Stopping

    /// SIGINT and SIGTERM: exit 0, a summary, and neither the program nor its link is left in the kernel.
    @Test(arguments: [SIGINT, SIGTERM])
    func signalDetachesAndUnloads(signal: Int32) throws {
        try requireRoot()
        let run = try RunningCommand([TestPaths.fixtures + "/execcount.o", "--json"])
        #expect(run.waitForLine(containing: "\"attached\""), "stderr: \(run.stderr)")
        let attached = try #require(run.jsonLines.first { $0["type"] as? String == "attached" })
        let programID = try #require(attached["program_id"] as? Int)
        let linkID = try #require(attached["link_id"] as? Int)
        #expect(Self.kernelHas(.program, id: UInt32(programID)))
        #expect(Self.kernelHas(.link, id: UInt32(linkID)))
        kill(run.process.processIdentifier, signal)
        #expect(run.finish() == 0, "stderr: \(run.stderr)")
        let summary = try #require(run.jsonLines.last)
        #expect(summary["type"] as? String == "summary")
        #expect(summary["stopped_by"] as? String == (signal == SIGINT ? "SIGINT" : "SIGTERM"))
        #expect(Self.eventually { !Self.kernelHas(.program, id: UInt32(programID)) && !Self.kernelHas(.link, id: UInt32(linkID)) })
    }

    /// SIGKILL: no clean-up runs, and the kernel releases everything with the process's descriptors.
    @Test func sigkillLeavesNothing() throws {
        try requireRoot()
        let run = try RunningCommand([TestPaths.fixtures + "/execcount.o", "--json"])
        #expect(run.waitForLine(containing: "\"attached\""), "stderr: \(run.stderr)")
        let attached = try #require(run.jsonLines.first { $0["type"] as? String == "attached" })
        let programID = UInt32(try #require(attached["program_id"] as? Int))
        let linkID = UInt32(try #require(attached["link_id"] as? Int))
        kill(run.process.processIdentifier, SIGKILL)
        #expect(run.finish() == 9 || run.process.terminationReason == .uncaughtSignal)
        #expect(Self.eventually { !Self.kernelHas(.program, id: programID) && !Self.kernelHas(.link, id: linkID) })
    }

    // MARK: Bad specs

    @Test(arguments: [
        ("execcount.o", "tracepoint/nosuchcategory/nosuchevent", "nosuchcategory/nosuchevent"),
        ("attach.o", "on_xdp=xdp/nosuchif0", "nosuchif0"),
        ("attach.o", "on_uprobe=uprobe//bin/true:no_such_symbol_here", "no_such_symbol_here"),
        ("execcount.o", "bogus/thing", "bogus"),
        ("execcount.o", "on_xdp=xdp/lo", "no program named 'on_xdp'"),
        ("attach.o", "tracepoint/syscalls/sys_enter_close", "several programs"),
    ])
    func badSpecIsOneErrorAndExitOne(object: String, spec: String, expected: String) throws {
        try requireRoot()
        let output = try SwiftLoadExecutable.run([TestPaths.fixtures + "/" + object, "--attach", spec, "--duration", "1"])
        #expect(output.status == 1, "stdout: \(output.stdout) stderr: \(output.stderr)")
        let errors = output.stderr.split(separator: "\n").filter { $0.hasPrefix("swift-load: ") && !$0.contains("warning:") && !$0.contains("note:") }
        #expect(errors.count == 1, "stderr: \(output.stderr)")
        #expect(errors.first?.contains(expected) == true, "stderr: \(output.stderr)")
        #expect(!output.stdout.contains("detached"), "nothing stays attached")
    }

    /// Without --attach, a program whose section names no target is named, and nothing to attach is an error.
    @Test func nothingToAttachIsAnError() throws {
        try requireRoot()
        let output = try SwiftLoadExecutable.run([TestPaths.fixtures + "/xdpstats.o", "--duration", "1"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("nothing to attach"), "stderr: \(output.stderr)")
    }
}
