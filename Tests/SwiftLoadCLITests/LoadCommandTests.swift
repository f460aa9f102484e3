import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `swift-load load` through the built executable, on the real kernel (Docs/commands/load.md).
@Suite struct LoadCommandTests {
    func run(_ arguments: [String]) throws -> Tool.Output {
        try SwiftLoadExecutable.run(arguments)
    }

    func requireRoot() throws {
        try require(geteuid() == 0, "swift-load load needs root to load into the kernel")
    }

    /// stderr's lines.
    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test func jsonReportHasTheDocumentedShape() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/xdpstats.o", "--json"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(lines(output.stdout).count == 1, "one JSON document on one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        let programs = try #require(object["programs"] as? [[String: Any]])
        let maps = try #require(object["maps"] as? [[String: Any]])
        #expect(programs.count == 1)
        let program = try #require(programs.first)
        for key in ["name", "loaded", "id", "error", "log"] {
            #expect(program.keys.contains(key), "program entry lacks \(key): \(program)")
        }
        #expect(program["name"] as? String == "xdp_ip_stats")
        #expect(program["loaded"] as? Bool == true)
        #expect((program["id"] as? Int ?? 0) > 0)
        #expect(program["error"] is NSNull)
        #expect(program["log"] is NSNull, "no log is taken for a program that loads (log level 0)")
        #expect(program["type"] as? String == "xdp")
        #expect((program["verified_instructions"] as? Int ?? 0) > 0)
        #expect(maps.count == 1)
        let map = try #require(maps.first)
        for key in ["name", "id", "type"] {
            #expect(map.keys.contains(key), "map entry lacks \(key): \(map)")
        }
        #expect(map["name"] as? String == "src_stats")
        #expect(map["type"] as? String == "lru_hash")
        #expect((map["id"] as? Int ?? 0) > 0)
    }

    @Test func jsonReportOfARejectedProgram() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/err_nullderef.o", "--json"])
        #expect(output.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        let program = try #require((object["programs"] as? [[String: Any]])?.first)
        #expect(program["loaded"] as? Bool == false)
        #expect(program["id"] is NSNull)
        #expect((program["error"] as? String)?.contains("map_value_or_null") == true)
        #expect((program["log"] as? String)?.contains("invalid mem access 'map_value_or_null'") == true)
        #expect((object["maps"] as? [[String: Any]])?.first?["name"] as? String == "table")
    }

    @Test func rejectedProgramPrintsTheVerdictAndTheLogTail() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/err_oob.o"])
        #expect(output.status == 1)
        let out = lines(output.stdout)
        let failed = try #require(out.first { $0.hasPrefix("program err_oob_map_value: FAILED") }, "stdout: \(output.stdout)")
        #expect(failed.contains("rejected by the verifier"))
        #expect(failed.contains("outside of the allowed memory range") || failed.contains("invalid access to map value"))
        let tailStart = try #require(out.firstIndex { $0.contains("verifier log (last") })
        let tail = out[(tailStart + 1)...].prefix { $0.hasPrefix("    ") }
        #expect(!tail.isEmpty && tail.count <= 20)
        #expect(tail.contains { $0.contains("invalid access to map value") })
        #expect(!tail.contains { $0.contains("processed ") }, "the statistics after the verdict are not part of the tail")
        #expect(out.contains { $0.hasPrefix("map small: array") })
    }

    @Test func poisonedCoreRelocationIsExplained() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/err_core.o"])
        #expect(output.status == 1)
        #expect(output.stdout.contains("failed to resolve CO-RE relocation <byte_off>"))
        #expect(output.stdout.contains("swift_load_no_such_field"))
        #expect(output.stdout.contains("<invalid CO-RE relocation>"))
        #expect(!output.stdout.contains("unknown#195896080"))
    }

    @Test func unknownProgramIsOneErrorLine() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/hello.o", "--program", "nosuch"])
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let err = lines(output.stderr)
        let first = try #require(err.first)
        #expect(first.hasPrefix("swift-load: "))
        #expect(first.contains("no program named 'nosuch'"), "stderr: \(output.stderr)")
        // One error line; what follows is indented detail (the programs there are).
        #expect(err.dropFirst().allSatisfy { $0.hasPrefix("  ") }, "stderr: \(output.stderr)")
    }

    @Test func selectedProgramLoadsAlone() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/subprogs.o", "--program", "check_loop"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let programs = lines(output.stdout).filter { $0.hasPrefix("program ") }
        #expect(programs.count == 1)
        #expect(programs.first?.hasPrefix("program check_loop: loaded (xdp, id ") == true)
    }

    @Test func unknownVariableIsRefused() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/globals.o", "--set", "nosuch=1"])
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let first = try #require(lines(output.stderr).first)
        #expect(first.hasPrefix("swift-load: "))
        #expect(first.contains("no global variable 'nosuch'"), "stderr: \(output.stderr)")
    }

    @Test func setKnobIsTypeChecked() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/globals.o", "--set", "knob_name=much-too-long"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("char[8]"), "stderr: \(output.stderr)")
        let fine = try run(["load", TestPaths.fixtures + "/globals.o", "--set", "knob_u32=8", "--set", "knob_name=other"])
        #expect(fine.status == 0, "stderr: \(fine.stderr)")
    }

    @Test func bigEndianObjectIsRefused() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/hello.bpfeb.o"])
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let first = try #require(lines(output.stderr).first)
        #expect(first.hasPrefix("swift-load: "))
        #expect(first.contains("big-endian"), "stderr: \(output.stderr)")
    }

    @Test func missingKernelFeatureIsNamed() throws {
        try requireRoot()
        let output = try run(["load", TestPaths.fixtures + "/attach_kernel.o"])
        #expect(output.status == 1)
        #expect(output.stdout.contains("program on_fentry: FAILED: program 'on_fentry' (tracing): fentry needs BPF trampolines"))
        #expect(output.stdout.contains("program on_kprobe: loaded (kprobe"))
    }

    /// --pin DIR: the pinned map is reported with its path, and the pin survives the command.
    @Test func pinnedMapSurvivesTheCommand() throws {
        try requireRoot()
        let directory = "/sys/fs/bpf/swift-load-loadtests-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer {
            unlink(directory + "/pinned_counts")
            rmdir(directory)
        }
        let probe = try run(["load", TestPaths.fixtures + "/maps.o", "--pin", directory, "--json"])
        try require(probe.status == 0 || !probe.stderr.contains("bpf filesystem"), "bpffs unavailable: \(probe.stderr)")
        #expect(probe.status == 0, "stderr: \(probe.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any])
        let maps = try #require(object["maps"] as? [[String: Any]])
        let pinned = try #require(maps.first { $0["name"] as? String == "pinned_counts" })
        #expect(pinned["pinned"] as? String == directory + "/pinned_counts")
        #expect(FileManager.default.fileExists(atPath: directory + "/pinned_counts"))
        let again = try run(["load", TestPaths.fixtures + "/maps.o", "--pin", directory, "--json"])
        #expect(again.status == 0)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        let reused = try #require((second["maps"] as? [[String: Any]])?.first { $0["name"] as? String == "pinned_counts" })
        #expect(reused["id"] as? Int == pinned["id"] as? Int, "the second run reuses the pinned map")
    }
}
