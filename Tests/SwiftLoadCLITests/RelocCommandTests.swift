import Foundation
import Testing
import TestSupport

/// `swift-load reloc` beyond CO-RE decisions (those are in CoreRelocationTests): externs, calls, output
/// shape, errors.
@Suite struct RelocCommandTests {
    func relocations(_ arguments: [String]) throws -> (status: Int32, entries: [[String: Any]]) {
        let output = try SwiftLoadExecutable.run(["reloc"] + arguments + ["--json"])
        let object = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        return (output.status, try #require(object?["relocations"] as? [[String: Any]]))
    }

    @Test func kconfigValuesComeFromTheGivenConfig() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("swift-load-reloc-\(getpid()).config")
        try "CONFIG_HZ=1000\n# CONFIG_SWIFT_LOAD_NOT_A_CONFIG is not set\n".write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let core = TestPaths.fixtures + "/core.o"
        let (status, entries) = try relocations([core, "--btf", core, "--kconfig", config.path])
        #expect(status == 0)
        let kconfig = entries.filter { $0["kind"] as? String == "kconfig" }
        let hz = try #require(kconfig.first { $0["target"] as? String == "CONFIG_HZ" })
        #expect(hz["value"] as? String == "1000")
        #expect(hz["new"] as? Int == hz["map_offset"] as? Int)
        let unset = try #require(kconfig.first { $0["target"] as? String == "CONFIG_SWIFT_LOAD_NOT_A_CONFIG" })
        #expect(unset["value"] as? String == "0 (not set)")
        // With --btf the target is not the running kernel: its version is not known offline.
        let version = try #require(kconfig.first { $0["target"] as? String == "LINUX_KERNEL_VERSION" })
        #expect(version["value"] as? String == "resolved at load")
    }

    @Test func callsShowEveryLinkedProgram() throws {
        let (status, entries) = try relocations([TestPaths.fixtures + "/subprogs.o"])
        #expect(status == 0)
        let calls = entries.filter { $0["kind"] as? String == "call" && $0["program"] as? String == "shared_helper" }
        let call = try #require(calls.first)
        #expect(call["target"] as? String == "add_static")
        let linked = try #require(call["linked"] as? [[String: Any]])
        #expect(Set(linked.compactMap { $0["program"] as? String })
                == ["check_subprogs", "check_tc_subprogs", "check_raw_tp_subprogs"])
        #expect(call["new"] as? Int == linked.first?["imm"] as? Int)
        let callbacks = entries.filter { $0["kind"] as? String == "callback" }
        #expect(Set(callbacks.compactMap { $0["target"] as? String }) == ["sum_callback", "stop_at_five"])
    }

    @Test func everyEntryHasTheContractFields() throws {
        let core = TestPaths.fixtures + "/core.o"
        let (_, entries) = try relocations([core, "--btf", core])
        #expect(!entries.isEmpty)
        let fields = ["program", "section", "instruction", "kind", "local", "target", "outcome", "old", "new", "error"]
        for entry in entries {
            for field in fields { #expect(entry[field] != nil, "\(field) missing in \(entry)") }
        }
        let globals = try relocations([TestPaths.fixtures + "/globals.o"]).entries.filter { $0["kind"] as? String == "global" }
        let knob = try #require(globals.first { $0["variable"] as? String == "knob_u64" })
        #expect(knob["section"] as? String == ".rodata")
        #expect(knob["new"] as? Int == 8)
    }

    @Test func humanOutputSummarises() throws {
        let output = try SwiftLoadExecutable.run(["reloc", TestPaths.fixtures + "/execcount.o"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("target BTF: none (no CO-RE relocations)"))
        #expect(output.stdout.contains("map 'exec_counts'"))
        #expect(output.stdout.contains("3 relocations: 3 patched, 0 poisoned, 0 failed"), "\(output.stdout)")
    }

    @Test func unreadableTargetIsOneLine() throws {
        let output = try SwiftLoadExecutable.run(["reloc", TestPaths.fixtures + "/core.o", "--btf", "/nonexistent.btf"])
        #expect(output.status == 1)
        #expect(output.stderr.hasPrefix("swift-load: /nonexistent.btf"))
        #expect(output.stdout.isEmpty)
        let notBTF = try SwiftLoadExecutable.run(["reloc", TestPaths.fixtures + "/core.o", "--btf", TestPaths.fixtures + "/../README.md"])
        #expect(notBTF.status == 1)
        #expect(notBTF.stderr.split(separator: "\n").count == 1)
    }
}
