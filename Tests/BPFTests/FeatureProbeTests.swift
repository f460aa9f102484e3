import BPFObject
import BTF
import ByteParsing
import Foundation
import Testing
import TestSupport
@testable import BPF

/// The feature probes: hand-built BTF blobs and parsers offline; on the real kernel (root), the answers
/// KERNEL.md documents, agreement with bpftool, and no descriptor or kernel object left behind.
@Suite struct FeatureProbeTests {
    // MARK: Offline

    /// Every probe blob is well-formed BTF: our own parser reads back the types that were built.
    @Test func probeBlobsParse() throws {
        var blob = ProbeBTF()
        let int = blob.int("int")
        let proto = blob.functionProto(returning: int, parameters: [("value", int)])
        let function = blob.function("probe", proto: proto, linkage: 1)
        let variable = blob.variable("counter", type: int)
        let section = blob.dataSection("?.data", size: 4, variables: [(variable, 0, 4)])
        let float = blob.float("double", size: 8)
        let tag = blob.declTag("probe_tag", target: variable, component: -1)
        let typeTag = blob.typeTag("probe_tag", type: int)
        let pointer = blob.pointer(to: typeTag)
        let wide = blob.enum64("wide", enumerators: [("WIDE_VALUE", 1 << 40)])
        let structure = blob.structure("probe_value", size: 8, members: [("first", int, 0), ("second", int, 32)])
        let graph = try TypeGraph(data: ByteStorage(blob.bytes).view(order: .host))
        #expect(graph.count == 11)
        #expect(try graph.kind(of: int) == .int && graph.name(of: int) == "int")
        #expect(try graph.kind(of: proto) == .functionProto && graph.parameters(of: proto).count == 1)
        #expect(try graph.kind(of: function) == .function && graph.name(of: function) == "probe")
        #expect(try graph.kind(of: section) == .dataSection && graph.name(of: section) == "?.data")
        #expect(try graph.kind(of: float) == .float && graph.resolvedSize(of: float) == 8)
        #expect(try graph.kind(of: tag) == .declTag)
        #expect(try graph.kind(of: pointer) == .pointer)
        #expect(try graph.kind(of: wide) == .enum64 && graph.enumerators(of: wide).count == 1)
        #expect(try graph.kind(of: structure) == .struct && graph.members(of: structure).count == 2)
    }

    @Test func kallsymsNames() {
        let text = Array("""
            ffffffff814e0370 T __x64_sys_bpf
            ffffffff814e0380 T __x64_sys_bpf_extra
            ffffffffc0a01000 t module_fn\t[some_module]
            """.utf8)
        #expect(Probes.containsSymbol(text, "__x64_sys_bpf"))
        #expect(Probes.containsSymbol(text, "module_fn"))
        #expect(!Probes.containsSymbol(text, "__x64_sys"))
        #expect(!Probes.containsSymbol(text, "sys_bpf"))
    }

    @Test func systemFileParsers() {
        let mounts = SystemFacts.parseMounts("""
            nodev /sys/kernel/tracing tracefs rw,relatime 0 0
            bpf /mnt/with\\040space bpf rw 0 0
            """)
        #expect(mounts.map { $0.path } == ["/sys/kernel/tracing", "/mnt/with space"])
        #expect(mounts.map { $0.type } == ["tracefs", "bpf"])
        #expect(SystemFacts.heldCapabilities(status: "Name:\tx\nCapEff:\t000001ffffffffff\n")
                == ["cap_bpf", "cap_perfmon", "cap_net_admin", "cap_sys_admin"])
        #expect(SystemFacts.heldCapabilities(status: "CapEff:\t0000000000000000\n").isEmpty)
        #expect(SystemFacts.heldCapabilities(status: "CapEff:\t0000008000000000\n") == ["cap_bpf"])
        #expect(SystemFacts.selectedLockdown("none [integrity] confidentiality\n") == "integrity")
        #expect(SystemFacts.selectedLockdown("garbage") == nil)
    }

    @Test func featureKeysAreStableSnakeCase() {
        let keys = KernelFeature.allCases.map(\.rawValue)
        #expect(Set(keys).count == keys.count)
        #expect(keys.allSatisfy { $0.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } })
        #expect(KernelFeature(rawValue: "ringbuf") == .ringBuffer)
        #expect(KernelFeature(rawValue: "tcx") == .tcx)
    }

    // MARK: On the kernel

    static func requireRoot() throws {
        try require(geteuid() == 0, "the feature probes need root (bpf())")
        try require(KernelFeatures.shared.access == .permitted, "bpf() is not permitted here")
    }

    /// KERNEL.md's machine (6.18, root): every feature the loader asks about is there.
    @Test func knownAnswersOnThisKernel() throws {
        try Self.requireRoot()
        let features = KernelFeatures()
        #expect(features.access == .permitted)
        for feature in KernelFeature.allCases where feature != .syscallWrapper || Probes.syscallPrefix != nil {
            #expect(features.supports(feature), "\(feature): \(features.result(for: feature))")
        }
        #expect(features.btfSupport == .all)
        #expect(features.btfSupport(for: .none) == .all)
        // Program types KERNEL.md lists as loading here; kprobe loads although kprobes cannot attach.
        let loadable: [ProgramType] = [.socketFilter, .kprobe, .schedCls, .tracepoint, .xdp, .perfEvent,
                                       .cgroupSKB, .rawTracepoint, .tracing, .syscall, .skLookup, .cgroupSockAddr]
        for type in loadable {
            #expect(features.supports(programType: type), "\(type): \(features.result(forProgramType: type))")
        }
        // No BPF trampoline here: lsm and ext are refused with EPERM before their target is checked.
        #expect(features.result(forProgramType: .lsm) == ProbeResult(supported: false, errno: .notPermitted))
        #expect(features.result(forProgramType: .ext) == ProbeResult(supported: false, errno: .notPermitted))
        #expect(!features.supports(programType: .unspecified))
        for type: MapType in [.hash, .array, .ringbuf, .userRingbuf, .perfEventArray, .arrayOfMaps, .lpmTrie,
                              .bloomFilter, .taskStorage, .cgroupStorage, .structOps, .arena] {
            #expect(features.supports(mapType: type), "\(type): \(features.result(forMapType: type))")
        }
        #expect(!features.supports(mapType: .unspecified))
        // Helpers: the answers the verifier gives per program type.
        let cookie = try #require(HelperFunctions.id(named: "get_attach_cookie"))
        let storeBytes = try #require(HelperFunctions.id(named: "skb_store_bytes"))
        #expect(features.supports(helper: cookie, inProgramType: .kprobe) == true)
        #expect(features.supports(helper: storeBytes, inProgramType: .schedCls) == true)
        #expect(features.supports(helper: storeBytes, inProgramType: .socketFilter) == false)
        #expect(features.helpers(forProgramType: .lsm) == nil)
    }

    /// Program and map types agree with `bpftool feature probe kernel -j` wherever bpftool reports them.
    @Test func agreesWithBpftool() throws {
        try Self.requireRoot()
        let bpftool = Tool.path("bpftool")
        try require(bpftool != nil, "bpftool is not installed (scripts/test installs it)")
        let output = try Tool.run(bpftool!, ["feature", "probe", "kernel", "-j"])
        #expect(output.status == 0, "\(output.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: output.stdoutData) as? [String: Any])
        let programs = try #require(report["program_types"] as? [String: Bool])
        let maps = try #require(report["map_types"] as? [String: Bool])
        let features = KernelFeatures()
        // bpftool probes tracing with an fentry program, which a kernel without a BPF trampoline refuses
        // outright (EPERM); we probe it as tp_btf, which loads here.
        let differences: Set<String> = ["tracing"]
        var compared = 0
        for row in ProgramType.table.dropFirst() where !differences.contains(row.name) {
            guard let theirs = programs["have_\(row.name)_prog_type"] else { continue }
            compared += 1
            let ours = features.result(forProgramType: ProgramType(rawValue: row.rawValue))
            #expect(ours.supported == theirs, "program type \(row.name): bpftool \(theirs), ours \(ours)")
        }
        #expect(compared >= 30)
        compared = 0
        for row in MapType.table.dropFirst() {
            guard let theirs = maps["have_\(row.name)_map_type"] else { continue }
            compared += 1
            let ours = features.result(forMapType: MapType(rawValue: row.rawValue))
            #expect(ours.supported == theirs, "map type \(row.name): bpftool \(theirs), ours \(ours)")
        }
        #expect(compared >= 31)
        if let system = report["system_config"] as? [String: Any] {
            #expect(system["bpf_jit_enable"] as? Int == SystemFacts.current().jitEnabled)
            #expect(system["unprivileged_bpf_disabled"] as? Int == SystemFacts.current().unprivilegedBPFDisabled)
        }
    }

    /// Probing everything, helpers included, leaves no descriptor open. The check runs in a child process of
    /// its own (an exit test): other suites of this process load objects in parallel, and their descriptors
    /// would look like leaks for as long as their tests run.
    @Test func probingLeavesNothingBehind() async throws {
        try Self.requireRoot()
        await #expect(processExitsWith: .success) {
            // The detector sees a live probe map.
            do {
                let map = try ProbeMap(.array).create().get()
                guard FeatureProbeTests.descriptors().contains("\(map.rawValue) -> anon_inode:bpf-map") else {
                    print("the descriptor detector does not see a live map"); exit(2)
                }
            }
            let descriptorsBefore = FeatureProbeTests.descriptors()
            let features = KernelFeatures()
            features.probeAll(helpers: true)
            _ = features.btfSupport
            let left = FeatureProbeTests.descriptors().subtracting(descriptorsBefore)
            guard left.isEmpty else { print("descriptors left open: \(left.sorted())"); exit(1) }
            // Kernel objects are not checked by id: ids are machine-wide (other processes' objects come and
            // go), and the probes neither pin nor attach anything, so with no descriptor left nothing holds them.
        }
    }

    /// Many threads asking a fresh instance the same questions get the same answers.
    @Test func concurrentQuestions() async throws {
        try Self.requireRoot()
        let features = KernelFeatures()
        let answers = await withTaskGroup(of: [Bool].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    KernelFeature.allCases.map { features.supports($0) }
                        + [features.supports(programType: .xdp), features.supports(mapType: .ringbuf)]
                }
            }
            var all: [[Bool]] = []
            for await answer in group { all.append(answer) }
            return all
        }
        #expect(Set(answers).count == 1)
        #expect(answers.first?.allSatisfy { $0 } == true)
    }

    // MARK: Support

    /// The entries of /proc/self/fd as `N -> target`, without the ones the Swift runtime and Foundation
    /// open on their own as threads and processes start (event loops, pipes and sockets of `Process`):
    /// the probes open none of those kinds, and those are created lazily by whatever else runs.
    static func descriptors() -> Set<String> {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let runtimeKinds = ["anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[timerfd]", "socket:", "pipe:"]
        var result: Set<String> = []
        for entry in entries {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry),
                  !runtimeKinds.contains(where: target.hasPrefix) else { continue }
            result.insert("\(entry) -> \(target)")
        }
        return result
    }
}
