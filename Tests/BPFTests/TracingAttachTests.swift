import BPFObject
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// Raw tracepoints, tp_btf, fentry-style programs and iterators on the real kernel: Fixtures/attach.o's
/// programs count their runs in the `hits` array (one slot per program, bpf-src/attach.bpf.c), which is
/// what these tests read. fentry/fexit/lsm cannot load here (no BPF trampolines): their refusal is checked.
@Suite struct TracingAttachTests {
    /// Slots of `hits` (the enum in bpf-src/attach.bpf.c).
    static let rawTracepointSlot: UInt32 = 2
    static let btfTracepointSlot: UInt32 = 4
    static let iteratorSlot: UInt32 = 16

    /// attach.o with only `programs` loaded (every map is created; the verifier runs only for these).
    static func load(_ programs: Set<String>) throws -> LoadedObject {
        try LoadedObject.load(contentsOf: TestPaths.fixtures + "/attach.o", options: LoadOptions(programNames: programs))
    }

    static func hits(_ object: LoadedObject, _ slot: UInt32) throws -> UInt64 {
        let map = try #require(object.map(named: "hits"))
        return try map.lookup(slot, as: UInt64.self) ?? 0
    }

    /// Makes syscalls (each one fires raw_tp/sys_enter).
    static func makeSyscalls(_ count: Int = 50) {
        for _ in 0..<count { _ = getpid() }
    }

    // MARK: Raw tracepoints

    /// raw_tp/sys_enter counts our getpid calls; after close the link id is gone and the counter stops.
    @Test func rawTracepointCountsAndStopsAfterClose() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_raw_tp"])
        let program = try #require(object.program(named: "on_raw_tp"))
        let link = try program.attachRawTracepoint()
        #expect(link.kind == .bpfLink)
        #expect(link.target == "raw_tp/sys_enter")
        #expect(link.description == "on_raw_tp → raw_tp/sys_enter")
        let info = try link.info()
        #expect(info.type == .rawTracepoint)
        #expect(info.programID == (try program.info().id))

        let before = try Self.hits(object, Self.rawTracepointSlot)
        Self.makeSyscalls(100)
        #expect(try Self.hits(object, Self.rawTracepointSlot) >= before + 100)

        link.close()
        #expect(!link.isOpen)
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(info.id) })
        usleep(20_000) // a run that started on another CPU before the detach may still finish
        let after = try Self.hits(object, Self.rawTracepointSlot)
        Self.makeSyscalls(100)
        #expect(try Self.hits(object, Self.rawTracepointSlot) == after)
    }

    /// A name given explicitly wins over the section; an unknown tracepoint is named; other program types
    /// are refused with the call that fits them.
    @Test func rawTracepointNamesAndRefusals() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_raw_tp", "on_tp_btf"])
        let program = try #require(object.program(named: "on_raw_tp"))
        let exitLink = try program.attachRawTracepoint(name: "sys_exit")
        #expect(exitLink.target == "raw_tp/sys_exit")
        let before = try Self.hits(object, Self.rawTracepointSlot)
        Self.makeSyscalls()
        #expect(try Self.hits(object, Self.rawTracepointSlot) > before)
        exitLink.close()

        do {
            _ = try program.attachRawTracepoint(name: "swift_load_no_such_tracepoint")
            Issue.record("an unknown raw tracepoint attached")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "cannot attach program on_raw_tp to raw_tp/swift_load_no_such_tracepoint: this kernel has no raw tracepoint swift_load_no_such_tracepoint (BPF_RAW_TRACEPOINT_OPEN failed: ENOENT)")
        }
        #expect(throws: BPFError.self) { try program.attachRawTracepoint(name: "") }

        let btfProgram = try #require(object.program(named: "on_tp_btf"))
        do {
            _ = try btfProgram.attachRawTracepoint(name: "sched_process_exec")
            Issue.record("a tp_btf program attached as a raw tracepoint")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("it is a tracing program"))
            #expect(error.message.contains("attachTracing()"))
        }
    }

    /// A pinned raw tracepoint link outlives its object and keeps counting; unpinning and closing ends it.
    @Test func rawTracepointLinkPins() throws {
        try AttachKit.requireRoot()
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let path = "/sys/fs/bpf/swift_load_raw_tp_test_\(getpid())"
        let object = try Self.load(["on_raw_tp"])
        let program = try #require(object.program(named: "on_raw_tp"))
        let link = try program.attachRawTracepoint()
        let id = try link.info().id
        try link.pin(at: path)
        defer { unlink(path) }
        link.close()
        #expect(SystemCall.allIDs(of: .link).contains(id))
        let before = try Self.hits(object, Self.rawTracepointSlot)
        Self.makeSyscalls()
        #expect(try Self.hits(object, Self.rawTracepointSlot) > before)

        let reopened = try Link.open(pinnedAt: path)
        #expect(try reopened.info().id == id)
        try reopened.unpin()
        #expect(access(path, F_OK) != 0)
        reopened.close()
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(id) })
    }

    // MARK: tp_btf, fentry, lsm

    /// tp_btf/sched_process_exec counts the execs of /bin/true through BPF_LINK_CREATE, and through the
    /// older kernels' BPF_RAW_TRACEPOINT_OPEN (forced); closing stops it.
    @Test(arguments: [false, true])
    func btfTracepointCountsExecs(forceRawTracepointOpen: Bool) throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_tp_btf"])
        let program = try #require(object.program(named: "on_tp_btf"))
        let link = try program.attachTracing(cookie: nil, forceRawTracepointOpen: forceRawTracepointOpen)
        #expect(link.kind == .bpfLink)
        #expect(link.target == "tp_btf/sched_process_exec")
        let id = try link.info().id

        let before = try Self.hits(object, Self.btfTracepointSlot)
        try AttachKit.runTrue(times: 3)
        #expect(try Self.hits(object, Self.btfTracepointSlot) >= before + 3)

        link.close()
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(id) })
        usleep(20_000)
        let after = try Self.hits(object, Self.btfTracepointSlot)
        try AttachKit.runTrue()
        #expect(try Self.hits(object, Self.btfTracepointSlot) == after)
    }

    /// A cookie goes through BPF_LINK_CREATE (6.10 for tp_btf); the raw-tracepoint-open path cannot carry
    /// one and says so.
    @Test func btfTracepointCookie() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_tp_btf"])
        let program = try #require(object.program(named: "on_tp_btf"))
        let link = try program.attachTracing(cookie: 42)
        link.close()
        do {
            _ = try program.attachTracing(cookie: 42, forceRawTracepointOpen: true)
            Issue.record("a cookie went through BPF_RAW_TRACEPOINT_OPEN")
        } catch {
            #expect(error.code == .unsupported)
            #expect(error.message.contains("BPF cookies on tp_btf links need BPF_LINK_CREATE"))
        }
    }

    /// attachTracing takes only tp_btf/fentry/fexit/fmod_ret/lsm programs and names the call for others.
    @Test func tracingRefusesOtherPrograms() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_raw_tp", "on_iter_task", "on_socket"])
        let cases: [(String, String)] = [
            ("on_raw_tp", "attachRawTracepoint(name:)"),
            ("on_iter_task", "attachIterator()"),
            ("on_socket", "it is a socket_filter program"),
        ]
        for (name, hint) in cases {
            let program = try #require(object.program(named: name))
            do {
                _ = try program.attachTracing()
                Issue.record("\(name) attached through attachTracing")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(hint), "\(error.message)")
            }
        }
    }

    /// fentry, fexit and lsm programs fail to load on this kernel (no BPF trampolines), and the loader
    /// says so; the attach-time wording for the same refusal is the same ("FAMILY needs BPF trampolines,
    /// which this kernel refuses (ERRNO)").
    @Test func trampolineProgramsAreRefusedByName() throws {
        try AttachKit.requireRoot()
        let names: Set<String> = ["on_fentry", "on_fexit", "on_lsm_bprm_check"]
        let object: LoadedObject
        do {
            object = try LoadedObject.load(contentsOf: TestPaths.fixtures + "/attach_kernel.o",
                                           options: LoadOptions(programNames: names, allowsPartialLoad: true))
        } catch {
            Issue.record("attach_kernel.o: \(error)")
            return
        }
        if object.programs.isEmpty {
            // This kernel: no trampolines, every one of them is refused at load.
            #expect(Set(object.failures.map(\.name)) == names)
            for failure in object.failures {
                #expect(failure.error.code == .unsupported)
                #expect(failure.error.message.contains("needs BPF trampolines, which this kernel refuses (EPERM)"), "\(failure.error.message)")
            }
        } else {
            // A kernel with trampolines: fentry attaches (the lsm hook may still be refused when the BPF
            // LSM is not enabled at boot).
            let fentry = try #require(object.program(named: "on_fentry"))
            let link = try fentry.attachTracing()
            #expect(link.target == "fentry/do_unlinkat")
            link.close()
        }
    }

    /// The attach-time refusal of a kernel without trampolines, and the attributes sent (offline).
    @Test func tracingAttributesAndRefusalWording() throws {
        let fentry = try #require(Program.tracingFamily(type: .tracing, attachType: .traceFentry))
        #expect(fentry.word == "fentry")
        #expect(Program.tracingFamily(type: .lsm, attachType: .lsmMac)?.word == "lsm")
        #expect(Program.tracingFamily(type: .tracing, attachType: .modifyReturn)?.word == "fmod_ret")
        #expect(Program.tracingFamily(type: .tracing, attachType: .traceFexit)?.word == "fexit")
        #expect(Program.tracingFamily(type: .tracing, attachType: .traceRawTP)?.needsTrampoline == false)
        #expect(Program.tracingFamily(type: .tracing, attachType: .traceIter) == nil)
        #expect(Program.tracingFamily(type: .rawTracepoint, attachType: nil) == nil)

        let attr = Program.tracingLinkAttribute(program: 9, attachType: .traceFexit, cookie: 0x1234)
        #expect(attr.prog_fd == 9)
        #expect(attr.target == 0)
        #expect(attr.attach_type == AttachType.traceFexit.rawValue)
        #expect(attr.flags == 0)
        #expect(attr.tail.tracing.target_btf_id == 0)
        #expect(attr.tail.tracing.cookie == 0x1234)
        #expect(Program.tracingLinkAttribute(program: 9, attachType: .traceFentry, cookie: nil).tail.tracing.cookie == 0)

        let what = "attaching program on_fentry to fentry/do_unlinkat"
        for errno in [Errno.notPermitted, .kernelNotSupported, .notSupported] {
            let error = Program.tracingError(errno, family: fentry, command: .linkCreate, what: what)
            if errno == .notPermitted && geteuid() != 0 {
                #expect(error.code == .permission)
            } else {
                #expect(error.code == .unsupported)
                #expect(error.message == "\(what): fentry needs BPF trampolines, which this kernel refuses (\(errno.symbolicName))")
            }
        }
        let tpBTF = try #require(Program.tracingFamily(type: .tracing, attachType: .traceRawTP))
        #expect(Program.tracingError(.kernelNotSupported, family: tpBTF, command: .linkCreate, what: "x").message
                == "x: BPF_LINK_CREATE failed: ENOTSUPP (operation not supported by the kernel)")
    }

    // MARK: Iterators

    static func pids(_ bytes: [UInt8]) -> [UInt32] {
        stride(from: 0, to: bytes.count - bytes.count % 4, by: 4).map { offset in
            UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        }
    }

    /// iter/task writes one u32 pid per task: the output is a whole number of pids and holds ours; each
    /// read runs the program once more.
    @Test func taskIteratorListsOurProcess() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_iter_task"])
        let program = try #require(object.program(named: "on_iter_task"))
        let link = try program.attachIterator()
        #expect(link.kind == .bpfLink)
        #expect(link.target == "iter/task")
        #expect(try link.info().type == .iter)

        // A child that lives while the iterator runs must be listed too.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } // SIGTERM may be blocked in test runners

        let before = try Self.hits(object, Self.iteratorSlot)
        let output = try link.iteratorOutput()
        #expect(output.count % 4 == 0)
        let pids = Self.pids(output)
        #expect(pids.contains(UInt32(getpid())))
        #expect(pids.contains(UInt32(child.processIdentifier)))
        #expect(try Self.hits(object, Self.iteratorSlot) == before + 1)
        #expect(Self.pids(try link.iteratorOutput()).contains(UInt32(getpid())))
        #expect(try Self.hits(object, Self.iteratorSlot) == before + 2)

        // More output than the limit is an error, not a silent truncation.
        do {
            _ = try link.iteratorOutput(limit: 4)
            Issue.record("iterator output exceeded its limit silently")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("exceeds the limit of 4 bytes"))
        }
        link.close()
        #expect(throws: BPFError.self) { try link.iteratorOutput() }
    }

    /// A pinned iterator link runs when its pin is read (as `cat PIN` does).
    @Test func pinnedIteratorRunsWhenRead() throws {
        try AttachKit.requireRoot()
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let path = "/sys/fs/bpf/swift_load_iter_test_\(getpid())"
        let object = try Self.load(["on_iter_task"])
        let program = try #require(object.program(named: "on_iter_task"))
        let link = try program.attachIterator()
        try link.pin(at: path)
        defer { unlink(path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        let output = try Link.readToEnd(fd, limit: 64 << 20, what: "reading \(path)")
        #expect(Self.pids(output).contains(UInt32(getpid())))
        try link.unpin()
        link.close()
    }

    /// Links that are not iterators cannot be read as one; programs that are not iterators are refused.
    @Test func iteratorRefusals() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_raw_tp"])
        let program = try #require(object.program(named: "on_raw_tp"))
        do {
            _ = try program.attachIterator()
            Issue.record("a raw tracepoint program attached as an iterator")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("iterators are tracing programs loaded with attach type trace_iter"))
        }
        let link = try program.attachRawTracepoint()
        do {
            _ = try link.iteratorOutput()
            Issue.record("a raw tracepoint link was read as an iterator")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("it is not an iterator link"))
        }
        link.close()
    }

    /// iter/bpf_map_elem: hand-loaded (`r0 = 0; exit` with the attach BTF id of `bpf_iter_bpf_map_elem`),
    /// attached to a map through the iterator parameters; without a map the kernel refuses and the error
    /// says to pass one.
    @Test func mapElementIteratorTakesAMap() throws {
        try AttachKit.requireRoot()
        let vmlinux = try KernelBTF.vmlinux()
        let btfID = try #require(vmlinux.firstID(named: "bpf_iter_bpf_map_elem", kind: .function))
        let instructions: [UInt64] = [AttachKit.move(0, 0), AttachKit.exit]
        var attr = cbpf_prog_load_attr()
        attr.prog_type = ProgramType.tracing.rawValue
        attr.expected_attach_type = AttachType.traceIter.rawValue
        attr.attach_btf_id = btfID
        attr.insn_cnt = UInt32(instructions.count)
        let result = instructions.withUnsafeBytes { insns in
            "GPL".withCString { license in
                attr.insns = UInt64(UInt(bitPattern: insns.baseAddress))
                attr.license = UInt64(UInt(bitPattern: license))
                return SystemCall.programLoad(&attr)
            }
        }
        let fd = try result.get()
        let program = Program(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), name: "map_elem_iter",
                              sectionName: "iter/bpf_map_elem", type: .tracing, expectedAttachType: .traceIter,
                              attachTarget: .iter(name: "bpf_map_elem"))
        let map = try AttachKit.makeMap(.hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "iter_target")
        try map.update(UInt32(1), UInt64(7))

        let link = try program.attachIterator(map: map)
        #expect(link.target == "iter/bpf_map_elem (map iter_target)")
        #expect(try link.iteratorOutput() == []) // the program writes nothing
        link.close()

        do {
            _ = try program.attachIterator()
            Issue.record("a map element iterator attached without a map")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("pass the map (attachIterator(map:))"), "\(error.message)")
        }
    }

    /// The iterator parameters and link attributes (offline).
    @Test func iteratorAttributes() {
        let parameters = Program.iteratorMapParameters(mapDescriptor: 11)
        #expect(parameters == [11, 0, 0, 0])
        parameters.withUnsafeBytes { bytes in
            let attr = Program.iteratorLinkAttribute(program: 5, parameters: bytes)
            #expect(attr.prog_fd == 5)
            #expect(attr.target == 0)
            #expect(attr.attach_type == AttachType.traceIter.rawValue)
            #expect(attr.tail.iter.iter_info == UInt64(UInt(bitPattern: bytes.baseAddress)))
            #expect(attr.tail.iter.iter_info_len == 16)
        }
        let bare = Program.iteratorLinkAttribute(program: 5, parameters: nil)
        #expect(bare.tail.iter.iter_info == 0)
        #expect(bare.tail.iter.iter_info_len == 0)
    }
}
