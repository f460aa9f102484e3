import ByteParsing
import Foundation
import Testing
import TestSupport

@testable import BTF

/// Environment of the differential tests: kernel BTF and bpftool, both optional unless
/// `SWIFT_LOAD_REQUIRE_KERNEL=1`, in which case their absence fails the tests instead of skipping them.
enum Environment {
    static let vmlinuxPath = "/sys/kernel/btf/vmlinux"
    static let requireKernel = ProcessInfo.processInfo.environment["SWIFT_LOAD_REQUIRE_KERNEL"] == "1"
    static let hasVmlinux = FileManager.default.isReadableFile(atPath: vmlinuxPath)
    static let bpftool: String? = ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static let ciliumTestdata = "/usr/share/gocode/src/github.com/cilium/ebpf/btf/testdata"

    /// Module BTF files next to vmlinux.
    static var modules: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/btf")) ?? []
        return names.filter { $0 != "vmlinux" }.sorted().map { "/sys/kernel/btf/" + $0 }
    }

    /// Runs a tool and returns its standard output, recording an issue when it fails.
    static func run(_ tool: String, _ arguments: [String]) throws -> Data {
        let output = try Tool.run(tool, arguments)
        #expect(output.status == 0, "\(tool) \(arguments.joined(separator: " ")) failed: \(output.stderr)")
        return output.stdoutData
    }

    static func temporaryFile(_ bytes: [UInt8], name: String) throws -> String {
        let path = NSTemporaryDirectory() + "swift-load-btf-\(getpid())-\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// Compares two dumps and reports the first differing line, not 12 MB of text.
func expectSameDump(_ ours: [UInt8], _ theirs: Data, _ what: String) {
    if ours.elementsEqual(theirs) { return }
    let a = String(decoding: ours, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    let b = String(decoding: theirs, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
    let oursLine = line < a.count ? String(a[line]) : "<end>"
    let theirsLine = line < b.count ? String(b[line]) : "<end>"
    Issue.record("\(what): first difference at line \(line + 1): ours '\(oursLine)' bpftool '\(theirsLine)'")
}

@Suite struct KernelBTFTests {
    @Test(.enabled(if: Environment.hasVmlinux || Environment.requireKernel, "no /sys/kernel/btf/vmlinux"))
    func parsesRunningKernel() throws {
        let storage = try ByteStorage(contentsOf: Environment.vmlinuxPath)
        let g = try TypeGraph(data: storage.view(order: .little))
        #expect(g.count > 10_000)
        let task = try #require(g.firstID(named: "task_struct", kind: .struct))
        #expect(try g.resolvedSize(of: task) > 1000)
        let members = try g.members(of: task)
        #expect(members.contains { g.string(at: $0.nameOffset) == "pid" })
        #expect(g.ids(withEssentialName: "task_struct").contains(task))
        var kinds = Set<BTFKind>()
        for id in 1...UInt32(g.count) { kinds.insert(try g.kind(of: id)) }
        #expect(kinds.contains(.enum64))
        #expect(kinds.contains(.dataSection) && kinds.contains(.function) && kinds.contains(.declTag))
        let int = try #require(g.firstID(named: "int", kind: .int))
        #expect(try g.resolvedSize(of: int) == 4)
    }

    @Test(.enabled(if: (Environment.hasVmlinux && Environment.bpftool != nil) || Environment.requireKernel,
                   "needs /sys/kernel/btf/vmlinux and bpftool"))
    func rawAndJSONDumpsMatchBpftoolOnVmlinux() throws {
        let tool = try #require(Environment.bpftool, "bpftool is not installed")
        let storage = try ByteStorage(contentsOf: Environment.vmlinuxPath)
        let g = try TypeGraph(data: storage.view(order: .little))
        expectSameDump(g.rawDump(), try Environment.run(tool, ["btf", "dump", "file", Environment.vmlinuxPath]),
                       "raw dump of vmlinux")
        expectSameDump(g.jsonDump(), try Environment.run(tool, ["-j", "btf", "dump", "file", Environment.vmlinuxPath]),
                       "JSON dump of vmlinux")
    }

    /// Split BTF against bpftool: a kernel module when the kernel has some, else cilium/ebpf's test module
    /// with its own vmlinux BTF.
    @Test(.enabled(if: Environment.bpftool != nil || Environment.requireKernel, "needs bpftool"))
    func splitDumpMatchesBpftool() throws {
        let tool = try #require(Environment.bpftool, "bpftool is not installed")
        var pairs: [(base: String, split: String)] = []
        if Environment.hasVmlinux, let module = Environment.modules.first {
            pairs.append((Environment.vmlinuxPath, module))
        }
        let ciliumBase = Environment.ciliumTestdata + "/vmlinux.btf.gz"
        let ciliumModule = Environment.ciliumTestdata + "/btf_testmod.btf"
        if FileManager.default.fileExists(atPath: ciliumBase), FileManager.default.fileExists(atPath: ciliumModule) {
            let unpacked = NSTemporaryDirectory() + "swift-load-btf-\(getpid())-cilium-vmlinux.btf"
            let bytes = try Environment.run("/bin/sh", ["-c", "gzip -dc '\(ciliumBase)'"])
            try bytes.write(to: URL(fileURLWithPath: unpacked))
            pairs.append((unpacked, ciliumModule))
        }
        if pairs.isEmpty {
            if Environment.requireKernel { Issue.record("no module BTF and no cilium/ebpf test data") }
            return
        }
        for (basePath, splitPath) in pairs {
            let base = try TypeGraph(data: try ByteStorage(contentsOf: basePath).view(order: .little))
            let split = try TypeGraph(splitData: try ByteStorage(contentsOf: splitPath).view(order: .little),
                                      base: base)
            #expect(split.firstOwnID == UInt32(base.count + 1))
            expectSameDump(split.rawDump(), try Environment.run(tool, ["-B", basePath, "btf", "dump", "file", splitPath]),
                           "raw dump of \(splitPath)")
            expectSameDump(split.jsonDump(),
                           try Environment.run(tool, ["-j", "-B", basePath, "btf", "dump", "file", splitPath]),
                           "JSON dump of \(splitPath)")
        }
    }

    /// Every kind and kind_flag variant, in both byte orders, printed by bpftool from our builder's blob.
    @Test(.enabled(if: Environment.bpftool != nil || Environment.requireKernel, "needs bpftool"),
          arguments: [ByteOrder.little, .big])
    func handBuiltBlobMatchesBpftool(order: ByteOrder) throws {
        let tool = try #require(Environment.bpftool, "bpftool is not installed")
        let kinds = AllKinds(order: order)
        let path = try Environment.temporaryFile(kinds.builder.build(), name: "all-kinds-\(order.rawValue).btf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let g = try kinds.graph()
        expectSameDump(g.rawDump(), try Environment.run(tool, ["btf", "dump", "file", path]), "raw dump, \(order)")
        expectSameDump(g.jsonDump(), try Environment.run(tool, ["-j", "btf", "dump", "file", path]), "JSON dump, \(order)")
    }
}
