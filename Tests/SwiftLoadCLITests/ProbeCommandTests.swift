import Foundation
import Testing
import TestSupport

/// `swift-load probe`: both outputs parse and carry what the kernel and the system say; without
/// privilege the command says so and fails.
@Suite struct ProbeCommandTests {
    func probeJSON(_ extra: [String] = []) throws -> (status: Int32, object: [String: Any]) {
        let output = try SwiftLoadExecutable.run(["probe", "--json"] + extra)
        let object = try JSONSerialization.jsonObject(with: output.stdoutData) as? [String: Any]
        return (output.status, try #require(object, "not a JSON object: \(output.stdout)"))
    }

    static func requireRoot() throws {
        try require(geteuid() == 0, "probing the kernel needs root")
    }

    /// The system and attach sections need no privilege and match what the files say.
    @Test func systemFactsMatchTheSystem() throws {
        let (_, object) = try probeJSON()
        let system = try #require(object["system"] as? [String: Any])
        let release = try Tool.run("/bin/uname", ["-r"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(system["kernel_release"] as? String == release)
        #expect(system["effective_uid"] as? Int == Int(geteuid()))
        #expect(system["vmlinux_btf"] as? Bool == FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux"))
        let modules = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/btf")) ?? []).filter { $0 != "vmlinux" }
        #expect(system["module_btf_count"] as? Int == modules.count)
        if let jit = try? String(contentsOfFile: "/proc/sys/net/core/bpf_jit_enable", encoding: .utf8) {
            #expect(system["jit_enabled"] as? Int == Int(jit.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        let attach = try #require(object["attach"] as? [String: Any])
        #expect(attach["kprobe_pmu"] as? Bool == FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/kprobe"))
        #expect(attach["uprobe_pmu"] as? Bool == FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/uprobe"))
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        for (key, type) in [("tracefs", "tracefs"), ("bpffs", "bpf"), ("cgroup2", "cgroup2")] {
            let state = try #require(attach[key] as? [String: Any])
            let mounted = mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(2).first == Substring(type) }
            #expect((state["state"] as? String == "mounted") == mounted, "\(key): \(state)")
            #expect((state["path"] is String) == mounted)
        }
    }

    /// KERNEL.md's machine: the answers the loader relies on.
    @Test func jsonAnswersOnThisKernel() throws {
        try Self.requireRoot()
        let (status, object) = try probeJSON()
        #expect(status == 0)
        let system = try #require(object["system"] as? [String: Any])
        #expect(system["bpf_access"] as? String == "permitted")
        let features = try #require(object["features"] as? [String: Bool])
        for key in ["btf", "btf_func", "btf_global_func", "btf_datasec", "btf_float", "btf_decl_tag",
                    "btf_type_tag", "btf_enum64", "global_data", "array_mmap", "prog_name", "ringbuf",
                    "bpf_cookie", "perf_link", "tcx", "log_true_size", "prog_bind_map", "map_extra"] {
            #expect(features[key] == true, "\(key)")
        }
        let programs = try #require(object["program_types"] as? [String: Bool])
        for key in ["socket_filter", "kprobe", "tracepoint", "xdp", "sched_cls", "raw_tracepoint", "tracing", "syscall"] {
            #expect(programs[key] == true, "\(key)")
        }
        #expect(programs["lsm"] == false)
        #expect(programs["unspec"] == nil)
        let maps = try #require(object["map_types"] as? [String: Bool])
        for key in ["hash", "array", "ringbuf", "perf_event_array", "bloom_filter", "array_of_maps"] {
            #expect(maps[key] == true, "\(key)")
        }
        #expect(object["helpers"] == nil)
    }

    @Test func helpersAreListedWhenAsked() throws {
        try Self.requireRoot()
        let (status, object) = try probeJSON(["--helpers"])
        #expect(status == 0)
        let helpers = try #require(object["helpers"] as? [String: Any])
        let socketFilter = try #require(helpers["socket_filter"] as? [String])
        #expect(socketFilter.contains("bpf_map_lookup_elem"))
        #expect(!socketFilter.contains("bpf_skb_store_bytes"))
        #expect((helpers["sched_cls"] as? [String])?.contains("bpf_skb_store_bytes") == true)
        #expect(helpers["tracing"] is NSNull)
    }

    @Test func humanOutput() throws {
        try Self.requireRoot()
        let output = try SwiftLoadExecutable.run(["probe"])
        #expect(output.status == 0)
        let lines = output.stdout.split(separator: "\n").map(String.init)
        for section in ["System", "Attach facilities", "BPF features"] {
            #expect(lines.contains(section), "\(section)")
        }
        #expect(lines.contains { $0.hasPrefix("Program types (") })
        #expect(lines.contains { $0.hasPrefix("Map types (") })
        func feature(_ key: String) -> [String] {
            lines.first { $0.split(separator: " ").first == Substring(key) }?.split(separator: " ").map(String.init) ?? []
        }
        #expect(feature("ringbuf").dropFirst().first == "yes")
        #expect(feature("tcx").dropFirst().first == "yes")
        #expect(feature("global_data").dropFirst().first == "yes")
        // Refused program types carry the errno: lsm needs a BPF trampoline this kernel lacks.
        #expect(output.stdout.contains("lsm (EPERM)"))
    }

    /// As an unprivileged user the facts still print, then the refusal, with exit status 1.
    @Test func unprivilegedIsRefusedClearly() throws {
        try Self.requireRoot()
        let setpriv = Tool.path("setpriv")
        try require(setpriv != nil, "setpriv (util-linux) is needed to drop privileges")
        let executable = try SwiftLoadExecutable.path()
        let output = try Tool.run(setpriv!, ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                             executable, "probe", "--json"])
        let unprivileged = (try? String(contentsOfFile: "/proc/sys/kernel/unprivileged_bpf_disabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try require(unprivileged != "0", "unprivileged bpf() is allowed on this machine")
        #expect(output.status == 1)
        #expect(output.stderr.contains("not root / missing CAP_BPF"), "\(output.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: output.stdoutData) as? [String: Any])
        let system = try #require(object["system"] as? [String: Any])
        #expect(system["bpf_access"] as? String == "not_permitted")
        #expect(system["capabilities"] as? [String] == [])
        #expect(object["features"] is NSNull)
        #expect(object["program_types"] is NSNull)
    }
}
