import BPFObject
import BTF
import CBPF
import Foundation
import Testing
import TestSupport
@testable import BPF

#if canImport(Glibc)
import Glibc
#endif

/// Shared pieces of the object loader's live tests (ObjectLoaderTests, CiliumLoadTests,
/// LoaderResourceTests): fixture paths, the skip-or-fail rule for root and bpffs, self-check runs with the
/// input each program type takes, temporary pin directories, and descriptor and kernel id accounting.
enum LoaderTestSupport {
    /// Skips (or, with `SWIFT_LOAD_REQUIRE_KERNEL=1`, fails) unless the process may call `bpf()`.
    static func requireRoot(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try require(geteuid() == 0, "loading objects into the kernel needs root", sourceLocation: sourceLocation)
    }

    /// `Fixtures/<name>`.
    static func fixture(_ name: String) -> String { TestPaths.fixtures + "/" + name }

    /// A cilium/ebpf test object (`testdata/loader-el.elf`, `btf/testdata/relocs-el.elf`), or a skip (a
    /// failure in CI) when Debian's golang-github-cilium-ebpf-dev is not installed.
    static func ciliumObject(_ relativePath: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = TestPaths.ciliumEBPF + "/" + relativePath
        try require(FileManager.default.fileExists(atPath: path),
                    "\(path) is missing (apt-get install golang-github-cilium-ebpf-dev)", sourceLocation: sourceLocation)
        return path
    }

    /// Parses an object, failing the test with the parser's message when it cannot.
    static func spec(_ path: String) throws -> ObjectSpec {
        try ObjectSpec(contentsOf: path)
    }

    /// An Ethernet frame of `count` bytes (IPv4 ethertype, zero payload): the smallest input XDP, tc and
    /// socket filter test runs accept is 14 bytes.
    static func frame(_ count: Int = 64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes[12] = 0x08
        return bytes
    }

    /// Runs `program` once through `BPF_PROG_TEST_RUN` with the input its type takes (bpf-src/README.md):
    /// a packet for XDP, tc and socket filters; nothing at all for raw tracepoint and syscall programs,
    /// whose test runs refuse data, an output context and a repeat count.
    static func run(_ program: Program, repeat repetitions: UInt32 = 1) throws(BPFError) -> UInt32 {
        switch program.type {
        case .rawTracepoint, .syscall:
            return try program.testRun(repeat: 0).returnValue
        default:
            return try program.testRun(input: frame(), repeat: repetitions).returnValue
        }
    }

    /// Runs a `check_*` program and records an issue naming the failed `CHECK`'s source line (the
    /// program returns `__LINE__` of the first check that failed) when it does not return 0.
    static func expectCheckPasses(_ program: Program, source: String, repeat repetitions: UInt32 = 1,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(program, repeat: repetitions)
        #expect(result == 0, "\(program.name) failed the CHECK at \(source):\(result)\(sourceLine(source, Int(result)))",
                sourceLocation: sourceLocation)
    }

    /// ` ("text of the line")` for a line of a C source beside the fixtures or cilium's objects, for
    /// failure messages; empty when the file or line is not there.
    static func sourceLine(_ source: String, _ line: Int) -> String {
        let candidates = [TestPaths.root + "/bpf-src/" + source, TestPaths.ciliumEBPF + "/testdata/" + source,
                          TestPaths.ciliumEBPF + "/btf/testdata/" + source]
        for path in candidates {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard line >= 1, line <= lines.count else { return "" }
            return " (\(lines[line - 1].trimmingCharacters(in: .whitespaces)))"
        }
        return ""
    }

    /// The `BPFError` `body` throws; records an issue (and returns nil) when it throws none.
    static func expectFailure(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                              _ body: () throws(BPFError) -> Void) -> BPFError? {
        do throws(BPFError) {
            try body()
        } catch {
            return error
        }
        Issue.record(comment ?? "expected a BPFError", sourceLocation: sourceLocation)
        return nil
    }

    // MARK: - Pin directories

    /// bpffs at /sys/fs/bpf (mounted when missing), prepared once per process: a second mount would hide
    /// the first one's pins.
    private static let bpffsReady: Bool = (try? BPFFileSystem.prepare(LoadOptions.defaultPinDirectory)) != nil

    /// A new, empty directory under /sys/fs/bpf that only this test uses, or a skip (a failure in CI) when
    /// bpffs cannot be mounted. Remove it with ``removePinDirectory(_:)``.
    static func temporaryPinDirectory(_ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try requireRoot(sourceLocation: sourceLocation)
        try require(bpffsReady, "bpffs is not mounted at /sys/fs/bpf and could not be mounted", sourceLocation: sourceLocation)
        // bpffs refuses names with dots.
        let name = label.replacingOccurrences(of: ".", with: "_")
        let path = "\(LoadOptions.defaultPinDirectory)/swift-load-loadtests-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(path, 0o700) == 0 else {
            throw BPFError(.pinning, "cannot create \(path): errno \(errno)")
        }
        return path
    }

    /// The entries of a pin directory (names, sorted).
    static func pins(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Unpins everything under `directory` and removes it.
    static func removePinDirectory(_ directory: String) {
        for name in pins(in: directory) {
            let path = directory + "/" + name
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
                removePinDirectory(path)
            } else {
                unlink(path)
            }
        }
        rmdir(directory)
    }

    // MARK: - Descriptors and kernel ids

    /// The descriptors this process has open, with what each refers to (`readlink /proc/self/fd/N`).
    static func openDescriptors() -> [Int32: String] {
        var result: [Int32: String] = [:]
        guard let directory = opendir("/proc/self/fd") else { return result }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name), fd != own else { continue }
            var buffer = [CChar](repeating: 0, count: 4096)
            let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
            result[fd] = count > 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
        return result
    }

    /// The `key: value` lines of `/proc/self/fdinfo/N` (`map_id`, `prog_id`, `btf_id`, ...).
    static func descriptorInfo(_ fd: Int32) -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/self/fdinfo/\(fd)", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    /// The name the kernel holds for the program or map with `id` (nil when it no longer exists).
    static func kernelName(_ kind: KernelObjectKind, id: UInt32) -> String? {
        switch kind {
        case .program: (try? Program.open(id: id))?.name
        case .map: (try? Map.open(id: id))?.name
        default: nil
        }
    }

    /// The size of the BTF object with `id` (`bpf_btf_info.btf_size`), nil when it no longer exists.
    static func btfSize(id: UInt32) -> UInt32? {
        guard case .success(let fd) = SystemCall.descriptor(of: .btf, id: id) else { return nil }
        defer { close(Int32(fd)) }
        var info = bpf_btf_info()
        guard case .success = SystemCall.objectInfo(Int32(fd), &info) else { return nil }
        return info.btf_size
    }

    /// Whether the kernel still has the object of `kind` with `id`.
    static func kernelHas(_ kind: KernelObjectKind, id: UInt32) -> Bool {
        guard case .success(let fd) = SystemCall.descriptor(of: kind, id: id) else { return false }
        close(Int32(fd))
        return true
    }

    /// Polls `condition` every 20 ms for up to `seconds` (the kernel frees programs and maps after an
    /// RCU grace period, so they may outlive their last descriptor briefly); true once it holds.
    static func eventually(within seconds: Double = 2, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if condition() { return true }
            if Date() >= deadline { return false }
            usleep(20_000)
        }
    }

    /// The ids of the program and map `loaded` holds (kernel ids, through `BPF_OBJ_GET_INFO_BY_FD`).
    static func ids(of loaded: LoadedObject) throws -> (programs: [UInt32], maps: [UInt32]) {
        (try loaded.programs.map { try $0.info().id }, try loaded.maps.map { try $0.info().id })
    }
}
