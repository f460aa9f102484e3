import Foundation
import Testing
import TestSupport

/// `swift-load disasm --relocated`: each entry program's linked stream, run as a user would.
@Suite struct DisasmRelocatedTests {
    func run(_ arguments: [String]) throws -> Tool.Output {
        try SwiftLoadExecutable.run(arguments)
    }

    static var subprogs: String { TestPaths.fixtures + "/subprogs.o" }

    @Test func everyProgramWithItsSubprogramsAppended() throws {
        let output = try run(["disasm", Self.subprogs, "--relocated"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stderr.isEmpty)
        let text = output.stdout
        // One header per entry program, none for the subprograms.
        for header in [
            "check_subprogs: xdp program in section 'xdp', 39 instructions linked from 5 functions",
            "check_loop: xdp program in section 'xdp', 62 instructions linked from 3 functions",
            "check_tc_subprogs: sched_cls program in section 'tc', 31 instructions linked from 5 functions",
            "check_raw_tp_subprogs: raw_tracepoint program in section 'raw_tp/sys_enter', 25 instructions linked from 4 functions",
        ] {
            #expect(text.contains(header + "\n"), "missing: \(header)")
        }
        #expect(!text.contains("static subprogram"))
        // The layout line, then function boundaries as labels and calls by name with their new distance.
        #expect(text.contains("functions: check_tc_subprogs 0-17, global_ctx_len 18-21, shared_helper 22-24, add_static 25-27, global_square 28-30\n"))
        #expect(text.contains("\nglobal_ctx_len:\n"))
        #expect(text.contains("     1: call global_ctx_len  ; +0x10 <18>\n"))
        #expect(text.contains("    23: call add_static  ; +0x1 <25>\n"))
        // Callbacks become BPF_PSEUDO_FUNC loads of the appended function.
        #expect(text.contains("     9: r2 = func[+0x1e] <sum_callback> ll\n"))
        #expect(text.contains("    27: r2 = func[+0x19] <stop_at_five> ll\n"))
        // Data relocations and line_info follow the appended code.
        #expect(text.contains("    41: r2 = map[.bss] ll  ; loop_sum\n"))
        #expect(text.contains("; return skb->len;\n    20: w0 = *(u32 *)(r1 + 0x0)\n"))
    }

    @Test func oneProgram() throws {
        let output = try run(["disasm", Self.subprogs, "--relocated", "--program", "check_raw_tp_subprogs"])
        #expect(output.status == 0, "\(output.stderr)")
        let headers = output.stdout.split(separator: "\n").filter { $0.contains(" program in section ") }
        #expect(headers.count == 1)
        #expect(output.stdout.contains("functions: check_raw_tp_subprogs 0-13, mul_add 14-18, add_static 19-21, shared_helper 22-24\n"))
    }

    @Test func programWithoutSubprograms() throws {
        let output = try run(["disasm", TestPaths.fixtures + "/execcount.o", "--relocated"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.hasPrefix("count_execve: tracepoint program in section 'tracepoint/syscalls/sys_enter_execve', 41 instructions linked from 1 function\n"))
        #expect(!output.stdout.contains("functions:"))
        #expect(output.stdout.contains("r1 = map[exec_counts] ll"))
    }

    @Test func programsThatAreNotAutoloadedAreShownAndMarked() throws {
        let output = try run(["disasm", TestPaths.fixtures + "/attach.o", "--relocated", "--program", "on_raw_tp_exit_optional"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("on_raw_tp_exit_optional: raw_tracepoint program in section 'raw_tp/sys_exit' (not loaded by default)"))
    }

    @Test func helpMentionsTheOptions() throws {
        let output = try run(["disasm", "--help"])
        #expect(output.stdout.contains("--relocated"))
        #expect(output.stdout.contains("--btf <PATH>"))
    }

    @Test(arguments: [
        (["--program", "add_static"], "'add_static' is a subprogram"),
        (["--program", "nope"], "no entry program named 'nope'"),
    ])
    func badProgramNames(extra: [String], expected: String) throws {
        let output = try run(["disasm", Self.subprogs, "--relocated"] + extra)
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let first = output.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("swift-load: ") && first.contains(expected), "stderr: \(output.stderr)")
        #expect(output.stderr.contains("programs: check_subprogs, check_loop, check_tc_subprogs, check_raw_tp_subprogs"))
    }

    /// A call patched to land one slot into `add_static` (mul_add's pc-relative `call -7` becomes
    /// `call -6`): linking fails with one line naming the program, the caller and the target.
    @Test func callIntoTheMiddleOfAFunctionIsAnError() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.subprogs)))
        let call: [UInt8] = [0x85, 0x10, 0x00, 0x00, 0xf9, 0xff, 0xff, 0xff]
        let matches = (0...(bytes.count - call.count)).filter { bytes[$0..<($0 + call.count)].elementsEqual(call) }
        try #require(matches.count == 1, "mul_add's call of add_static is the only 'call -7' in the file")
        bytes[matches[0] + 4] = 0xfa
        let path = NSTemporaryDirectory() + "/swift-load-bad-call-\(getpid()).o"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let output = try run(["disasm", path, "--relocated"])
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let lines = output.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("swift-load: \(path): program 'check_subprogs': call at instruction"), "\(line)")
        #expect(line.contains("function 'mul_add'") && line.contains("1 slot into function 'add_static'"), "\(line)")
        // The per-function listing does not link, so it still works.
        #expect(try run(["disasm", path]).status == 0)
    }
}
