import BTF
import ByteParsing
import ELF
import Foundation
import Testing
import TestSupport

/// `swift-load btf dump FILE --format c` against `bpftool btf dump file FILE format c` (bpftool 7.1 with
/// its libbpf): byte-for-byte equal headers for the running kernel's BTF, every fixture, every installed
/// cilium/ebpf test object and cilium/ebpf's split BTF; and the generated vmlinux.h compiles and gives a
/// CO-RE program the same relocation records as bpftool's header.
@Suite("bpftool differential: btf dump --format c")
struct DifferentialCHeaderTests {
    static let kernelBTF = "/sys/kernel/btf/vmlinux"

    /// Both headers of `file` (with `base` for split BTF); fails the test on the first differing line.
    /// When bpftool cannot dump the file (no `.BTF`), swift-load must fail too.
    func compareHeaders(of file: String, base: String? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        try BpftoolDifferential.compareBTFDump(of: file, base: base, format: "c", sourceLocation: sourceLocation)
    }

    @Test("C header of a fixture equals bpftool's", arguments: TestPaths.fixtureObjects)
    func fixture(object: String) throws {
        try compareHeaders(of: object)
    }

    @Test("C header of a cilium/ebpf test object equals bpftool's", arguments: TestPaths.ciliumObjects())
    func ciliumObject(object: String) throws {
        try compareHeaders(of: object)
    }

    @Test("C header of the running kernel's BTF (vmlinux.h) equals bpftool's")
    func vmlinux() throws {
        try require(FileManager.default.isReadableFile(atPath: Self.kernelBTF), "no readable \(Self.kernelBTF)")
        try compareHeaders(of: Self.kernelBTF)
    }

    /// cilium/ebpf's vmlinux BTF of an older kernel, and its split `btf_testmod.btf` (whose header holds
    /// the base types too, as bpftool writes it).
    @Test("C header of cilium/ebpf's vmlinux.btf and split btf_testmod.btf equals bpftool's")
    func ciliumSplitBTF() throws {
        try CiliumSplitBTF.withFiles { base, split in
            try compareHeaders(of: base)
            try compareHeaders(of: split, base: base)
        }
    }

    // MARK: - Compiling against the header

    /// A clang that can target BPF: `$CLANG`, the Swift toolchain's, or the first on `PATH`.
    static var clang: String? {
        var candidates: [String] = []
        if let override = ProcessInfo.processInfo.environment["CLANG"] { candidates.append(override) }
        candidates.append("/opt/swift/usr/bin/clang")
        if let found = Tool.path("clang") { candidates.append(found) }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A CO-RE program reading task_struct (through pointers, a bitfield, a string) and asking about
    /// field existence, sizes, offsets, types and enum values: one relocation of most kinds.
    static let coreProgram = """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_core_read.h>

        char LICENSE[] SEC("license") = "GPL";

        struct {
        \t__uint(type, BPF_MAP_TYPE_ARRAY);
        \t__uint(max_entries, 1);
        \t__type(key, u32);
        \t__type(value, u64);
        } results SEC(".maps");

        SEC("tracepoint/syscalls/sys_enter_execve")
        int read_task(void *ctx)
        {
        \tstruct task_struct *task = (struct task_struct *)bpf_get_current_task();
        \tu32 key = 0;
        \tu64 sum = 0;
        \tchar comm[16];

        \tsum += BPF_CORE_READ(task, real_parent, tgid);
        \tsum += BPF_CORE_READ(task, __state);
        \tsum += BPF_CORE_READ(task, mm, arg_start);
        \tsum += BPF_CORE_READ_BITFIELD_PROBED(task, sched_reset_on_fork);
        \tsum += bpf_core_field_exists(task->pid);
        \tsum += bpf_core_field_size(task->comm);
        \tsum += bpf_core_field_offset(task->tgid);
        \tsum += bpf_core_type_exists(struct task_struct);
        \tsum += bpf_core_type_size(struct mm_struct);
        \tsum += bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop);
        \tsum += bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_loop);
        \tBPF_CORE_READ_STR_INTO(&comm, task, comm);
        \tsum += comm[0];
        \tbpf_map_update_elem(&results, &key, &sum, BPF_ANY);
        \treturn 0;
        }

        """

    /// Writes swift-load's vmlinux.h into `directory`; nil (after recording why) when that fails.
    func writeOurHeader(into directory: String) throws -> String? {
        let ours = try SwiftLoadExecutable.run(["btf", "dump", Self.kernelBTF, "--format", "c"])
        guard ours.status == 0 else {
            Issue.record("swift-load btf dump \(Self.kernelBTF) --format c exited \(ours.status): \(ours.stderr.prefix(2000))")
            return nil
        }
        let header = directory + "/vmlinux.h"
        try ours.stdoutData.write(to: URL(fileURLWithPath: header))
        return header
    }

    @Test("the generated vmlinux.h compiles for BPF and passes a host syntax check")
    func vmlinuxCompiles() throws {
        try require(FileManager.default.isReadableFile(atPath: Self.kernelBTF), "no readable \(Self.kernelBTF)")
        let clang = Self.clang
        try require(clang != nil, "clang not found (set CLANG, or install the Swift toolchain's clang)")
        let directory = try TemporaryDirectory()
        guard try writeOurHeader(into: directory.path) != nil else { return }
        let source = directory.path + "/only.c"
        try "#include \"vmlinux.h\"\nint use(struct task_struct *task) { return task->pid; }\n"
            .write(toFile: source, atomically: true, encoding: .utf8)
        let bpf = try Tool.run(clang!, ["-target", "bpf", "-O2", "-Werror", "-I", directory.path, "-c", source,
                                        "-o", directory.path + "/only.o"])
        #expect(bpf.status == 0, "clang -target bpf -c with vmlinux.h: \(bpf.stderr.prefix(3000))")
        // The preserve_access_index pragma means nothing to a host compiler: the header's own switch
        // turns it off.
        let host = try Tool.run(clang!, ["-fsyntax-only", "-Werror", "-DBPF_NO_PRESERVE_ACCESS_INDEX", "-x", "c",
                                         directory.path + "/vmlinux.h"])
        #expect(host.status == 0, "clang -fsyntax-only vmlinux.h: \(host.stderr.prefix(3000))")
    }

    @Test("a CO-RE program built on our vmlinux.h has the CO-RE records of one built on bpftool's")
    func coreRecordsMatchBpftoolHeader() throws {
        try require(FileManager.default.isReadableFile(atPath: Self.kernelBTF), "no readable \(Self.kernelBTF)")
        let clang = Self.clang
        try require(clang != nil, "clang not found (set CLANG, or install the Swift toolchain's clang)")
        let bpftool = Tool.path("bpftool")
        try require(bpftool != nil, "bpftool not installed (Debian: bpftool)")
        try require(FileManager.default.fileExists(atPath: "/usr/include/bpf/bpf_core_read.h"),
                    "libbpf headers not installed (Debian: libbpf-dev)")

        let root = try TemporaryDirectory()
        var records: [[CoreRecord]] = []
        for side in ["swift-load", "bpftool"] {
            let directory = root.path + "/" + side
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if side == "swift-load" {
                guard try writeOurHeader(into: directory) != nil else { return }
            } else {
                let theirs = try Tool.run(bpftool!, ["btf", "dump", "file", Self.kernelBTF, "format", "c"])
                #expect(theirs.status == 0, "bpftool btf dump format c: \(theirs.stderr)")
                try theirs.stdoutData.write(to: URL(fileURLWithPath: directory + "/vmlinux.h"))
            }
            // Same source path in both directories' objects: only the header differs.
            let source = directory + "/prog.c", object = directory + "/prog.o"
            try Self.coreProgram.write(toFile: source, atomically: true, encoding: .utf8)
            let compiled = try Tool.run(clang!, ["-target", "bpf", "-O2", "-g", "-D__TARGET_ARCH_x86", "-I", directory,
                                                 "-c", source, "-o", object])
            guard compiled.status == 0 else {
                Issue.record("clang -target bpf against \(side)'s vmlinux.h: \(compiled.stderr.prefix(3000))")
                return
            }
            records.append(try CoreRecord.all(in: object))
        }
        let (ours, theirs) = (records[0], records[1])
        #expect(!ours.isEmpty, "the CO-RE program has no CO-RE relocation records")
        #expect(ours.count == theirs.count, "\(ours.count) CO-RE records with our header, \(theirs.count) with bpftool's")
        for (index, (a, b)) in zip(ours, theirs).enumerated() where a != b {
            Issue.record("CO-RE record \(index): ours \(a), bpftool's header \(b)")
        }
    }
}

extension DifferentialCHeaderTests {
/// One CO-RE relocation record, with its type resolved to a kind and name.
struct CoreRecord: Equatable, CustomStringConvertible {
    var section: String
    var instructionOffset: UInt32
    var kind: String
    var accessString: String
    var rootKind: String
    var rootName: String

    var description: String {
        "\(section)+\(instructionOffset) \(kind) \(rootKind) '\(rootName)' access \(accessString)"
    }

    /// The records of an object's `.BTF.ext`, in file order.
    static func all(in path: String) throws -> [CoreRecord] {
        let elf = try ELFFile(bytes: try ByteStorage(contentsOf: path).view(order: .little))
        guard let btfSection = elf.section(named: ".BTF"), let extSection = elf.section(named: ".BTF.ext") else {
            Issue.record("\(path) has no .BTF or .BTF.ext")
            return []
        }
        let graph = try TypeGraph(data: elf.contents(of: btfSection))
        let ext = try BTFExt(data: elf.contents(of: extSection), strings: graph)
        var result: [CoreRecord] = []
        for section in ext.coreRelocations {
            for record in section.records {
                result.append(CoreRecord(
                    section: section.sectionName, instructionOffset: record.instructionOffset,
                    kind: record.relocationKind.map { "\($0)" } ?? "kind \(record.kind)",
                    accessString: graph.string(at: record.accessStringOffset) ?? "?",
                    rootKind: "\(try graph.kind(of: record.typeID))", rootName: try graph.name(of: record.typeID)))
            }
        }
        return result
    }
}

/// A directory under the system's temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    /// Its path.
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-load-cheader-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
}
