import BPFObject
import CBPF
import Foundation
import Synchronization
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// kprobes, kretprobes and ksyscall probes. The test kernel has no kprobes at all (no kprobe PMU, no
/// kprobe_events: CONFIG_KPROBES is off), so on it these tests check the refusal, while the attributes and
/// tracefs lines that a kernel with kprobes would get are checked offline.
@Suite struct KprobeAttachTests {
    static var kernelHasKprobes: Bool {
        access(ProbePMU.kprobe.directory, F_OK) == 0
            || TraceFS.candidates.contains { access($0 + "/kprobe_events", F_OK) == 0 }
    }

    /// attach_kernel.o's kprobe programs (they load here: kprobe is also the uprobe program type).
    static func loadKprobePrograms() throws -> LoadedObject {
        try LoadedObject.load(contentsOf: TestPaths.fixtures + "/attach_kernel.o",
                              options: LoadOptions(programNames: ["on_kprobe", "on_kretprobe", "on_ksyscall", "on_kretsyscall"],
                                                   allowsPartialLoad: true))
    }

    // MARK: On the real kernel

    /// Without kprobes the error names the target, the function and the missing kernel option; with them
    /// the probe attaches and detaches.
    @Test func kprobeRefusalNamesTheMissingSupport() throws {
        try AttachKit.requireRoot()
        let object = try Self.loadKprobePrograms()
        let kprobe = try #require(object.program(named: "on_kprobe"))
        let kretprobe = try #require(object.program(named: "on_kretprobe"))
        let attempts: [(String, () throws(BPFError) -> Link)] = [
            ("kprobe/do_nanosleep", { () throws(BPFError) in try kprobe.attachKprobe(function: "do_nanosleep") }),
            ("kprobe/do_nanosleep+0x4", { () throws(BPFError) in try kprobe.attachKprobe(function: "do_nanosleep", offset: 4) }),
            ("kretprobe/do_nanosleep", { () throws(BPFError) in try kretprobe.attachKprobe(function: "do_nanosleep", isReturn: true) }),
        ]
        for (target, attempt) in attempts {
            do {
                let link = try attempt()
                #expect(Self.kernelHasKprobes, "\(target) attached on a kernel said to have no kprobes")
                #expect(link.target == target)
                link.close()
            } catch {
                if Self.kernelHasKprobes {
                    Issue.record("\(target): \(error.message)")
                    continue
                }
                #expect(error.code == .unsupported)
                #expect(error.message.hasPrefix("cannot attach program \(target.hasPrefix("kret") ? "on_kretprobe" : "on_kprobe") to \(target): this kernel has no kprobe support (CONFIG_KPROBES)"),
                        "\(error.message)")
                #expect(error.message.contains("/sys/bus/event_source/devices/kprobe"))
            }
        }
    }

    /// ksyscall probes hook the arch's syscall wrapper when the kernel has wrappers; the refusal names it.
    @Test func ksyscallRefusalNamesTheWrapper() throws {
        try AttachKit.requireRoot()
        try require(!Self.kernelHasKprobes, "this kernel has kprobes; the refusal cannot be checked")
        let object = try Self.loadKprobePrograms()
        let program = try #require(object.program(named: "on_kprobe"))
        let function = Program.syscallFunction("execve", hasWrapper: KernelFeatures.shared.supports(.syscallWrapper),
                                               prefix: Probes.syscallPrefix)
        #if arch(x86_64)
        #expect(function == "__x64_sys_execve") // this kernel wraps its syscalls
        #endif
        for isReturn in [false, true] {
            do {
                _ = try program.attachKsyscall(name: "execve", isReturn: isReturn)
                Issue.record("a ksyscall probe attached without kprobes")
            } catch {
                #expect(error.code == .unsupported)
                let target = isReturn ? "kretsyscall/execve" : "ksyscall/execve"
                #expect(error.message.hasPrefix("cannot attach program on_kprobe to \(target) (kernel function \(function)): this kernel has no kprobe support (CONFIG_KPROBES)"),
                        "\(error.message)")
            }
        }
    }

    /// Arguments are checked before the kernel is asked: program type, names, an offset on a return probe.
    @Test func kprobeArgumentsAreChecked() throws {
        try AttachKit.requireRoot()
        let object = try Self.loadKprobePrograms()
        let program = try #require(object.program(named: "on_kprobe"))
        let cases: [(() throws(BPFError) -> Link, String)] = [
            ({ () throws(BPFError) in try program.attachKprobe(function: "do_nanosleep", offset: 8, isReturn: true) }, "a return probe cannot take an offset"),
            ({ () throws(BPFError) in try program.attachKprobe(function: "do nanosleep") }, "is not a kernel function name"),
            ({ () throws(BPFError) in try program.attachKprobe(function: "") }, "is not a kernel function name"),
            ({ () throws(BPFError) in try program.attachKsyscall(name: "exec/ve") }, "is not a system call name"),
        ]
        for (attempt, text) in cases {
            do {
                _ = try attempt()
                Issue.record("accepted; expected: \(text)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(text), "\(error.message)")
            }
        }
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let tracepoint = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "not_kprobe")
        do {
            _ = try tracepoint.attachKprobe(function: "do_nanosleep")
            Issue.record("a tracepoint program attached as a kprobe")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program not_kprobe to kprobe/do_nanosleep: it is a tracepoint program, and kprobes take kprobe programs (SEC(\"kprobe/FUNCTION\"), SEC(\"ksyscall/NAME\"))")
        }
    }

    // MARK: Offline

    /// The perf event a kprobe opens: the PMU's type, the retprobe bit in `config` for kretprobes, the
    /// function's name through `config1`, the offset in `config2`.
    @Test func kprobePerfEventAttribute() throws {
        typealias Seen = (type: UInt32, size: UInt32, config: UInt64, name: String?, config2: UInt64)
        func seen(_ attribute: perf_event_attr) -> Seen {
            let name = UnsafePointer<CChar>(bitPattern: UInt(attribute.config1)).map { String(cString: $0) }
            return (attribute.type, attribute.size, attribute.config, name, attribute.config2)
        }
        let entry = try ProbePMU.withAttribute(type: 6, retprobeBit: 0, name: "do_nanosleep", offset: 0x10, isReturn: false) { seen($0) }
        #expect(entry.type == 6)
        #expect(entry.size == UInt32(MemoryLayout<perf_event_attr>.size))
        #expect(entry.config == 0)
        #expect(entry.name == "do_nanosleep")
        #expect(entry.config2 == 0x10)
        let exit = try ProbePMU.withAttribute(type: 6, retprobeBit: 0, name: "__x64_sys_execve", offset: 0, isReturn: true) { seen($0) }
        #expect(exit.config == 1)
        #expect(exit.name == "__x64_sys_execve")
        #expect(exit.config2 == 0)
    }

    /// The lines written to kprobe_events for legacy kprobes, and their event names.
    @Test func legacyKprobeEventLines() {
        #expect(Program.legacyKprobeDefinition(event: "do_nanosleep_42_0", function: "do_nanosleep", offset: 0, isReturn: false)
                == "p:swiftload/do_nanosleep_42_0 do_nanosleep")
        #expect(Program.legacyKprobeDefinition(event: "do_nanosleep_0x10_42_1", function: "do_nanosleep", offset: 0x10, isReturn: false)
                == "p:swiftload/do_nanosleep_0x10_42_1 do_nanosleep+0x10")
        #expect(Program.legacyKprobeDefinition(event: "do_nanosleep_42_2", function: "do_nanosleep", offset: 0, isReturn: true)
                == "r:swiftload/do_nanosleep_42_2 do_nanosleep")
        #expect(Program.legacyKprobeRemoval(event: "do_nanosleep_42_2") == "-:swiftload/do_nanosleep_42_2")

        #expect(Program.legacyKprobeEventName(function: "do_nanosleep", offset: 0, pid: 42, counter: 0) == "do_nanosleep_42_0")
        #expect(Program.legacyKprobeEventName(function: "do_nanosleep", offset: 0x10, pid: 42, counter: 3) == "do_nanosleep_0x10_42_3")
        #expect(Program.legacyKprobeEventName(function: "tcp_v4_connect.isra.0", offset: 0, pid: 7, counter: 1) == "tcp_v4_connect_isra_0_7_1")
        #expect(Program.legacyKprobeEventName(function: "nf_tables:nft_do_chain", offset: 0, pid: 7, counter: 1) == "nf_tables_nft_do_chain_7_1")
        let long = Program.legacyKprobeEventName(function: String(repeating: "f", count: 100), offset: 0, pid: 4_194_304, counter: 12)
        #expect(long.utf8.count == 63)
        #expect(long.hasSuffix("_4194304_12"))
    }

    /// ksyscall function names and the link targets.
    @Test func syscallFunctionsAndTargets() {
        #expect(Program.syscallFunction("execve", hasWrapper: true, prefix: "x64") == "__x64_sys_execve")
        #expect(Program.syscallFunction("openat", hasWrapper: true, prefix: "arm64") == "__arm64_sys_openat")
        #expect(Program.syscallFunction("execve", hasWrapper: false, prefix: "x64") == "sys_execve")
        #expect(Program.syscallFunction("execve", hasWrapper: true, prefix: nil) == "sys_execve")
        #expect(Program.kprobeTarget(function: "do_nanosleep", offset: 0, isReturn: false) == "kprobe/do_nanosleep")
        #expect(Program.kprobeTarget(function: "do_nanosleep", offset: 26, isReturn: false) == "kprobe/do_nanosleep+0x1a")
        #expect(Program.kprobeTarget(function: "do_nanosleep", offset: 0, isReturn: true) == "kretprobe/do_nanosleep")
    }

    /// A link's cleanup (what removes a legacy kprobe event) runs once, after the descriptor is closed, on
    /// close() and on release. The link holds a pipe's write end: the read end sees end of file only once
    /// that is closed.
    @Test(arguments: [false, true])
    func linkCleanupRunsAfterTheDescriptorCloses(byRelease: Bool) throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let readEnd = ends[0]
        _ = fcntl(readEnd, F_SETFL, O_NONBLOCK) // a read while the write end is open fails (EAGAIN), not blocks
        defer { close(readEnd) }
        let outcomes = Mutex<[Int]>([])
        do {
            let link = Link(descriptor: try OwnedFileDescriptor(adopting: ends[1]), kind: .bpfLink, programName: "p", target: "t")
            link.addCleanup {
                var byte: UInt8 = 0
                outcomes.withLock { $0.append(read(readEnd, &byte, 1)) } // 0: end of file, the write end is closed
            }
            link.addCleanup { outcomes.withLock { $0.append(100) } }
            if !byRelease {
                link.close()
                link.close()
                #expect(outcomes.withLock { $0 } == [0, 100])
            }
        }
        #expect(outcomes.withLock { $0 } == [0, 100])
    }
}
