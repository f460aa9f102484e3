import BPFObject
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// Hand-built maps and programs for the attach and buffer tests, made outside any object so that these
/// tests check attaching, not the object loader.
enum AttachKit {
    /// One instruction: `opcode | dst << 8 | src << 12 | offset << 16 | imm << 32` (little-endian hosts).
    static func insn(_ opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> UInt64 {
        UInt64(opcode) | UInt64(dst & 0xF) << 8 | UInt64(src & 0xF) << 12 | UInt64(UInt16(bitPattern: off)) << 16
            | UInt64(UInt32(bitPattern: imm)) << 32
    }

    /// `dst = map fd` (the two-slot `ld_imm64` with `BPF_PSEUDO_MAP_FD`).
    static func loadMap(_ dst: UInt8, _ map: Map) -> [UInt64] {
        [insn(0x18, dst: dst, src: 1, imm: map.descriptor.rawValue), 0]
    }

    static func call(_ helper: Int32) -> UInt64 { insn(0x85, imm: helper) }
    static let exit = insn(0x95)
    static func move(_ dst: UInt8, _ imm: Int32) -> UInt64 { insn(0xb7, dst: dst, imm: imm) }
    static func moveRegister(_ dst: UInt8, _ src: UInt8) -> UInt64 { insn(0xbf, dst: dst, src: src) }

    /// `r0 = &map[0]` or 0: the key is stored at `r10 - 4`. Clobbers r1-r5.
    static func lookupFirstElement(_ map: Map) -> [UInt64] {
        [insn(0x62, dst: 10, off: -4, imm: 0),   // *(u32 *)(r10 - 4) = 0
         moveRegister(2, 10),                     // r2 = r10
         insn(0x07, dst: 2, imm: -4)]             // r2 += -4
            + loadMap(1, map) + [call(1)]         // r0 = bpf_map_lookup_elem(map, &key)
    }

    /// Adds 1 to element 0 of `counts` (a one-element u64 array), returns 0.
    static func counterProgram(_ counts: Map) -> [UInt64] {
        lookupFirstElement(counts) + [
            insn(0x15, dst: 0, off: 2, imm: 0),   // if r0 == 0 goto +2
            move(1, 1),                           // r1 = 1
            insn(0xdb, dst: 0, src: 1),           // lock *(u64 *)(r0 + 0) += r1
            move(0, 0), exit,
        ]
    }

    /// Stores `bpf_get_attach_cookie(ctx)` in element 0 of `cookies`, returns 0.
    static func cookieProgram(_ cookies: Map) -> [UInt64] {
        [moveRegister(6, 1)] + lookupFirstElement(cookies) + [
            insn(0x15, dst: 0, off: 4, imm: 0),   // if r0 == 0 goto +4
            moveRegister(7, 0),                   // r7 = r0
            moveRegister(1, 6),                   // r1 = ctx
            call(174),                            // r0 = bpf_get_attach_cookie(ctx)
            insn(0x7b, dst: 7, src: 0),           // *(u64 *)(r7 + 0) = r0
            move(0, 0), exit,
        ]
    }

    /// A map outside any object.
    static func makeMap(_ type: MapType, keySize: Int, valueSize: Int, maxEntries: UInt32, name: String) throws -> Map {
        try Map.create(type: type, keySize: keySize, valueSize: valueSize, maxEntries: maxEntries, name: name)
    }

    /// Loads `instructions` as a program of `type`, with the verifier's log in the error when it refuses.
    static func load(_ type: ProgramType, _ instructions: [UInt64], name: String) throws -> Program {
        try Program.load(type: type, instructions: instructions, name: name, logSize: 1 << 16)
    }

    /// Element 0 of a one-element u64 array map.
    static func firstValue(_ map: Map) throws -> UInt64 {
        try map.lookup(UInt32(0), as: UInt64.self) ?? 0
    }

    /// Waits up to two seconds for `condition` (kernel objects are released when the last reference goes,
    /// which for reader threads is a moment after the sequence ends).
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// How many of this process's descriptors are epoll instances or eventfds (what buffer readers open
    /// besides kernel BPF objects).
    static func waiterDescriptorCount() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.filter { name in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) ?? ""
            return target == "anon_inode:[eventpoll]" || target == "anon_inode:[eventfd]"
        }.count
    }

    /// Runs `/bin/true` `times` times and returns their process ids.
    @discardableResult
    static func runTrue(times: Int = 1) throws -> [Int32] {
        var pids: [Int32] = []
        for _ in 0..<times {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/true")
            try process.run()
            pids.append(process.processIdentifier)
            process.waitUntilExit()
        }
        return pids
    }

    /// Kernel tests need root (bpf(), perf events, raw sockets).
    static func requireRoot() throws {
        try require(geteuid() == 0, "attaching programs needs root")
    }
}

@Suite struct TracepointTests {
    @Test func tracepointIDsComeFromTraceFS() throws {
        try AttachKit.requireRoot()
        let root = try TraceFS.root()
        #expect(TraceFS.isTraceFS(root))
        let id = try TraceFS.tracepointID(category: "syscalls", name: "sys_enter_execve")
        let text = try String(contentsOfFile: root + "/events/syscalls/sys_enter_execve/id", encoding: .utf8)
        #expect(id == UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test func unknownTracepointIsNamed() throws {
        try AttachKit.requireRoot()
        do {
            _ = try TraceFS.tracepointID(category: "syscalls", name: "sys_enter_foo")
            Issue.record("a missing tracepoint was found")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "no tracepoint syscalls/sys_enter_foo (events/syscalls/sys_enter_foo/id not found)")
        }
        #expect(throws: BPFError.self) { try TraceFS.tracepointID(category: "..", name: "x") }
        #expect(throws: BPFError.self) { try TraceFS.tracepointID(category: "syscalls", name: "a/b") }
    }

    /// The counter rises when `/bin/true` runs; after close the link id is gone from the kernel's list and
    /// the counter stops.
    @Test func execveCounterAttachesAndDetaches() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let program = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "count_exec")
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
        #expect(link.kind == .bpfLink)
        #expect(link.target == "tracepoint/syscalls/sys_enter_execve")
        #expect(link.description == "count_exec → tracepoint/syscalls/sys_enter_execve")

        let info = try link.info()
        #expect(info.type == .perfEvent)
        #expect(info.programID == (try program.info().id))
        #expect(SystemCall.allIDs(of: .link).contains(info.id))

        let before = try AttachKit.firstValue(counts)
        try AttachKit.runTrue(times: 3)
        #expect(try AttachKit.firstValue(counts) >= before + 3)

        link.close()
        #expect(!link.isOpen)
        #expect(link.fileDescriptor == nil)
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(info.id) })
        link.close() // idempotent
        #expect(throws: BPFError.self) { try link.info() }

        // Detached: execs no longer count (other processes' execs included).
        let after = try AttachKit.firstValue(counts)
        try AttachKit.runTrue()
        #expect(try AttachKit.firstValue(counts) == after)
    }

    /// `detach()` ends a link at once where the kernel can; perf event links cannot be detached this way
    /// (EOPNOTSUPP): the error says so and the link stays open.
    @Test func detachEndsTheLinkOrSaysWhyNot() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let program = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "count_exec")
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
        do {
            try link.detach()
            #expect(!link.isOpen)
        } catch {
            #expect(error.code == .unsupported)
            #expect(error.message.contains("no BPF_LINK_DETACH for this kind of link"))
            #expect(link.isOpen)
            link.close()
        }
        try link.detach() // closed: nothing to do
    }

    @Test func releasingTheLastReferenceDetaches() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let program = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "count_exec")
        var id: UInt32 = 0
        do {
            let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
            id = try link.info().id
        }
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(id) })
    }

    @Test func cookieReachesTheProgram() throws {
        try AttachKit.requireRoot()
        let cookies = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "cookies")
        let program = try AttachKit.load(.tracepoint, AttachKit.cookieProgram(cookies), name: "read_cookie")
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve", cookie: 0x5357_4946_54)
        try AttachKit.runTrue()
        #expect(try AttachKit.firstValue(cookies) == 0x5357_4946_54)
        link.close()
    }

    /// A pinned link outlives its object; opening the pin gives the same link; unpinning and closing ends it.
    @Test func pinningKeepsTheAttachment() throws {
        try AttachKit.requireRoot()
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let path = "/sys/fs/bpf/swift_load_attach_test_\(getpid())"
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let program = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "count_exec")
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
        let id = try link.info().id
        try link.pin(at: path)
        defer { unlink(path) } // a failure below must not leave the execve link attached
        #expect(link.pinnedPath == path)
        link.close()
        #expect(SystemCall.allIDs(of: .link).contains(id))

        let before = try AttachKit.firstValue(counts)
        try AttachKit.runTrue()
        #expect(try AttachKit.firstValue(counts) > before)

        let reopened = try Link.open(pinnedAt: path)
        #expect(try reopened.info().id == id)
        #expect(reopened.pinnedPath == path)
        try reopened.unpin()
        #expect(access(path, F_OK) != 0)
        reopened.close()
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(id) })
    }

    @Test func openingAPinThatIsNotALinkIsRefused() throws {
        try AttachKit.requireRoot()
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let path = "/sys/fs/bpf/swift_load_attach_map_\(getpid())"
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        try counts.pin(at: path)
        defer { try? counts.unpin() }
        do {
            _ = try Link.open(pinnedAt: path)
            Issue.record("a pinned map opened as a link")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "\(path) holds a bpf-map, not a link")
        }
        #expect(throws: BPFError.self) { try Link.open(pinnedAt: path + "_missing") }
    }

    @Test func wrongProgramTypeIsRefused() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let program = try AttachKit.load(.socketFilter, AttachKit.counterProgram(counts), name: "not_tp")
        do {
            _ = try program.attachTracepoint(category: "syscalls", name: "sys_enter_execve")
            Issue.record("a socket filter attached to a tracepoint")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("it is a socket_filter program"))
        }
        do {
            _ = try program.attachTracepoint()
            Issue.record("a program without a tracepoint section attached")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    /// The pre-5.15 path (forced): the program set on the perf event by ioctl; the link owns the event and
    /// cannot be pinned; closing it detaches.
    @Test func ioctlAttachmentOwnsThePerfEvent() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let program = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "count_exec")
        let target = "tracepoint/syscalls/sys_enter_execve"
        let id = try TraceFS.tracepointID(category: "syscalls", name: "sys_enter_execve")
        let link = try program.attach(perfEvent: try PerfEvent.openTracepoint(id: id, what: target), cookie: nil,
                                      target: target, forceIoctl: true)
        #expect(link.kind == .perfEvent)
        let before = try AttachKit.firstValue(counts)
        try AttachKit.runTrue()
        #expect(try AttachKit.firstValue(counts) > before)
        #expect(throws: BPFError.self) { try link.pin(at: "/sys/fs/bpf/never") }
        #expect(throws: BPFError.self) { try link.info() }
        // Cookies need perf links.
        #expect(throws: BPFError.self) {
            try program.attach(perfEvent: try PerfEvent.openTracepoint(id: id, what: target), cookie: 7,
                               target: target, forceIoctl: true)
        }
        link.close()
        let after = try AttachKit.firstValue(counts)
        try AttachKit.runTrue()
        #expect(try AttachKit.firstValue(counts) == after)
    }
}
