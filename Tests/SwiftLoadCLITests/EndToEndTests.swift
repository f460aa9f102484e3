import Foundation
import Testing
import TestSupport

/// The built `swift-load` run as a user would: output, exit status, one-line errors.
@Suite struct EndToEndTests {
    func run(_ arguments: [String]) throws -> Tool.Output {
        try SwiftLoadExecutable.run(arguments)
    }

    @Test func inspectPrintsProgramsAndMaps() throws {
        let output = try run(["inspect", TestPaths.fixtures + "/execcount.o"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("count_execve"))
        #expect(output.stdout.contains("tracepoint/syscalls/sys_enter_execve"))
        #expect(output.stdout.contains("exec_counts  hash  64   8      128"))
        #expect(output.stderr.isEmpty)
    }

    @Test func inspectJSONIsOneParsableObject() throws {
        let output = try run(["inspect", TestPaths.fixtures + "/maps.o", "--json"])
        #expect(output.status == 0)
        let lines = output.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        let maps = try #require(object?["maps"] as? [[String: Any]])
        let jump = try #require(maps.first { $0["name"] as? String == "jump_table" })
        #expect(jump["type"] as? String == "prog_array")
        #expect((jump["values"] as? [[String: Any]])?.count == 2)
    }

    @Test func disasmNamesHelpersMapsAndSourceLines() throws {
        let output = try run(["disasm", TestPaths.fixtures + "/execcount.o"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("call bpf_map_lookup_elem"))
        #expect(output.stdout.contains("r1 = map[exec_counts] ll"))
        #expect(output.stdout.contains("; count = bpf_map_lookup_elem(&exec_counts, &key);"))
        let one = try run(["disasm", TestPaths.fixtures + "/subprogs.o", "--program", "check_loop"])
        #expect(one.stdout.contains("r2 = func[sum_callback] ll"))
        #expect(!one.stdout.contains("check_subprogs:"))
    }

    @Test func btfDumpOfAnObject() throws {
        let output = try run(["btf", "dump", TestPaths.fixtures + "/execcount.o"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("[8] STRUCT 'comm_key' size=64 vlen=1"))
    }

    @Test(arguments: [
        (["inspect", "/nonexistent/prog.o"], "No such file or directory"),
        (["inspect", "/bin/sh"], "not EM_BPF"),
        (["disasm", "/bin/sh"], "not EM_BPF"),
        (["btf", "dump", "/bin/sh"], "not EM_BPF"),
        (["disasm", TestPaths.fixtures + "/hello.o", "--program", "nope"], "no program or subprogram named 'nope'"),
    ])
    func badInputIsOneLineAndExitOne(arguments: [String], expected: String) throws {
        let output = try run(arguments)
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let first = output.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("swift-load: "))
        #expect(first.contains(expected), "stderr: \(output.stderr)")
    }

    @Test func truncatedObjectIsAnError() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/maps.o"))
        let path = NSTemporaryDirectory() + "/swift-load-truncated-\(getpid()).o"
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try run(["inspect", path])
        #expect(output.status == 1)
        #expect(output.stderr.contains("truncated") || output.stderr.contains("past the end"))
    }

    @Test func runRefusesABadAttachSpecInOneLine() throws {
        let bad = try run([TestPaths.fixtures + "/hello.o", "--attach", "uprobe/x"])
        #expect(bad.status == 1)
        #expect(bad.stdout.isEmpty)
        #expect(bad.stderr.hasPrefix("swift-load: --attach uprobe/x: "))
        #expect(bad.stderr.contains("needs PATH:SYMBOL"))
    }
}
