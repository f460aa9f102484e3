import Foundation
import Testing
import TestSupport

/// `swift-load btf dump FILE` against `bpftool btf dump file FILE` (bpftool 7.1, libbpf 1.1.2 inside):
/// byte-for-byte equal output on every fixture, every installed cilium/ebpf test object, the running
/// kernel's BTF, one module's split BTF, and cilium/ebpf's vmlinux + split BTF test data.
@Suite("bpftool differential: btf dump")
struct DifferentialBTFDumpTests {
    static let kernelBTF = "/sys/kernel/btf/vmlinux"

    /// Both dumps of `file` (with `base` for split BTF); fails the test on the first differing line.
    /// When bpftool cannot dump the file (no `.BTF`), swift-load must fail too.
    func compareDumps(of file: String, base: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bpftool = Tool.path("bpftool")
        try require(bpftool != nil, "bpftool not installed (Debian: bpftool)", sourceLocation: sourceLocation)
        // bpftool 7.1 takes the base of split BTF as the global option `-B` (`--base-btf`), not as a
        // `base PATH` word after the file (that word makes it fail).
        var theirArguments = ["btf", "dump", "file", file]
        var ourArguments = ["btf", "dump", file]
        if let base {
            theirArguments = ["-B", base] + theirArguments
            ourArguments += ["--base", base]
        }
        let theirs = try Tool.run(bpftool!, theirArguments)
        let ours = try SwiftLoadExecutable.run(ourArguments, sourceLocation: sourceLocation)
        let command = "swift-load " + ourArguments.joined(separator: " ")
        guard theirs.status == 0 else {
            #expect(ours.status != 0,
                    "bpftool cannot dump \(file) (\(theirs.stderr.trimmingCharacters(in: .whitespacesAndNewlines))) but \(command) succeeded",
                    sourceLocation: sourceLocation)
            return
        }
        guard ours.status == 0 else {
            Issue.record("\(command) exited \(ours.status): \(ours.stderr.prefix(2000))", sourceLocation: sourceLocation)
            return
        }
        if let difference = TextDifference.first(ours: ours.stdout, theirs: theirs.stdout, theirsLabel: "bpftool") {
            Issue.record(Comment(rawValue: "\(command) differs from bpftool btf dump file: \(difference)"),
                         sourceLocation: sourceLocation)
        }
    }

    @Test("btf dump of a fixture equals bpftool's", arguments: TestPaths.fixtureObjects)
    func fixture(object: String) throws {
        try compareDumps(of: object)
    }

    @Test("btf dump of a cilium/ebpf test object equals bpftool's", arguments: TestPaths.ciliumObjects())
    func ciliumObject(object: String) throws {
        try compareDumps(of: object)
    }

    @Test("btf dump of the running kernel's BTF equals bpftool's")
    func vmlinux() throws {
        try require(FileManager.default.isReadableFile(atPath: Self.kernelBTF), "no readable \(Self.kernelBTF)")
        try compareDumps(of: Self.kernelBTF)
    }

    /// cilium/ebpf's split BTF test data: `btf/testdata/btf_testmod.btf` continues the (gzipped)
    /// `btf/testdata/vmlinux.btf.gz` of an older kernel.
    @Test("btf dump of cilium/ebpf's vmlinux.btf and split btf_testmod.btf equals bpftool's")
    func ciliumSplitBTF() throws {
        let testdata = TestPaths.ciliumEBPF + "/btf/testdata"
        let compressed = testdata + "/vmlinux.btf.gz", split = testdata + "/btf_testmod.btf"
        try require(FileManager.default.fileExists(atPath: compressed) && FileManager.default.fileExists(atPath: split),
                    "cilium/ebpf btf testdata not installed (golang-github-cilium-ebpf-dev)")
        let gzip = Tool.path("gzip")
        try require(gzip != nil, "gzip not installed")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-load-btf-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("vmlinux.btf.gz").path
        try FileManager.default.copyItem(atPath: compressed, toPath: copy)
        let unpacked = try Tool.run(gzip!, ["-d", copy])
        #expect(unpacked.status == 0, "gzip -d \(copy): \(unpacked.stderr)")
        let base = directory.appendingPathComponent("vmlinux.btf").path
        try compareDumps(of: base)
        try compareDumps(of: split, base: base)
    }

    @Test("btf dump of a module's split BTF (--base vmlinux) equals bpftool's")
    func module() throws {
        try require(FileManager.default.isReadableFile(atPath: Self.kernelBTF), "no readable \(Self.kernelBTF)")
        let modules = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/btf")) ?? [])
            .filter { $0 != "vmlinux" }.sorted()
        // A kernel built without modules is a property of the machine, not a missing capability: skip even
        // in CI. Split BTF stays covered by the cilium/ebpf test above.
        if modules.isEmpty { try Test.cancel("no module BTF under /sys/kernel/btf (kernel without loaded modules)") }
        // A small, common module keeps the run short when present; otherwise the first one.
        let module = ["nf_conntrack", "loop", "xfs", "ext4"].first(where: modules.contains) ?? modules[0]
        try compareDumps(of: "/sys/kernel/btf/" + module, base: Self.kernelBTF)
    }
}
