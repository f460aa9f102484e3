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
        try BpftoolDifferential.compareBTFDump(of: file, base: base, sourceLocation: sourceLocation)
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
        try CiliumSplitBTF.withFiles { base, split in
            try compareDumps(of: base)
            try compareDumps(of: split, base: base)
        }
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
