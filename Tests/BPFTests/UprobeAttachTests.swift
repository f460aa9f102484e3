import BPFObject
import CBPF
import ELF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// The function the uprobe programs of Fixtures/attach.o name (`uprobe//proc/self/exe:swift_load_uprobe_target`):
/// exported under its C name from the test executable, never inlined or optimised, and called by the
/// tests through a C function pointer. It reads its argument so that the sleepable uprobe's
/// `bpf_copy_from_user` has 8 bytes of user memory to copy.
@_cdecl("swift_load_uprobe_target") @inline(never) @_optimize(none)
public func swiftLoadUprobeTarget(_ argument: UnsafePointer<CChar>?) -> Int32 {
    guard let argument else { return 0 }
    return Int32(argument.pointee)
}

/// Uprobes on the real kernel (Fixtures/attach.o's uprobe programs count their runs in `hits`), the
/// binary and symbol resolution, the uprobe PMU's attribute, and the refusals. Serialized: the tests
/// count calls of one function of this process.
@Suite(.serialized) struct UprobeAttachTests {
    /// Slots of `hits` (the enum in bpf-src/attach.bpf.c).
    static let pathSlot: UInt32 = 5
    static let plainSlot: UInt32 = 6
    static let returnSlot: UInt32 = 7
    static let sleepableSlot: UInt32 = 8
    static let targetSymbol = "swift_load_uprobe_target"

    static func load(_ programs: Set<String>) throws -> LoadedObject {
        try LoadedObject.load(contentsOf: TestPaths.fixtures + "/attach.o", options: LoadOptions(programNames: programs))
    }

    static func hits(_ object: LoadedObject, _ slot: UInt32) throws -> UInt64 {
        let map = try #require(object.map(named: "hits"))
        return try map.lookup(slot, as: UInt64.self) ?? 0
    }

    /// Calls the probed function `count` times through a C function pointer, with an 8-byte string.
    static func callTarget(_ count: Int) -> Int32 {
        let function: @convention(c) (UnsafePointer<CChar>?) -> Int32 = swiftLoadUprobeTarget
        var total: Int32 = 0
        "swiftld!".withCString { text in
            for _ in 0..<count { total &+= function(text) }
        }
        return total
    }

    // MARK: On the real kernel

    /// The section's uprobe and uretprobe on `/proc/self/exe:swift_load_uprobe_target` count every call;
    /// after close the link ids are gone and the counters stop.
    @Test func uprobeAndUretprobeCountCallsAndStopAfterClose() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_uprobe_path", "on_uretprobe"])
        let entry = try #require(object.program(named: "on_uprobe_path"))
        let exit = try #require(object.program(named: "on_uretprobe"))
        guard case .uprobe(let path, let symbol, let offset, let isReturn, _)? = entry.attachTarget,
              case .uprobe(_, _, _, let exitIsReturn, _)? = exit.attachTarget else {
            Issue.record("attach.o's uprobe sections name no uprobe target: \(String(describing: entry.attachTarget))")
            return
        }
        #expect(path == "/proc/self/exe" && symbol == Self.targetSymbol && offset == 0 && !isReturn && exitIsReturn)

        let entryLink = try entry.attachUprobe(path: path, symbol: symbol, offset: offset, isReturn: isReturn)
        let exitLink = try exit.attachUprobe(path: path, symbol: symbol, isReturn: exitIsReturn)
        let executable = try #require(realPath("/proc/self/exe"))
        #expect(entryLink.target == "uprobe/\(executable):\(Self.targetSymbol)")
        #expect(exitLink.target == "uretprobe/\(executable):\(Self.targetSymbol)")
        #expect(entryLink.kind == .bpfLink)
        let entryInfo = try entryLink.info()
        let exitInfo = try exitLink.info()
        #expect(entryInfo.type == .perfEvent)
        #expect(entryInfo.programID == (try entry.info().id))
        #expect(SystemCall.allIDs(of: .link).contains(entryInfo.id))

        let entryBefore = try Self.hits(object, Self.pathSlot)
        let exitBefore = try Self.hits(object, Self.returnSlot)
        #expect(Self.callTarget(25) == 25 * 115)
        #expect(try Self.hits(object, Self.pathSlot) == entryBefore + 25)
        #expect(try Self.hits(object, Self.returnSlot) == exitBefore + 25)

        entryLink.close()
        exitLink.close()
        #expect(AttachKit.eventually {
            let ids = SystemCall.allIDs(of: .link)
            return !ids.contains(entryInfo.id) && !ids.contains(exitInfo.id)
        })
        let entryAfter = try Self.hits(object, Self.pathSlot)
        let exitAfter = try Self.hits(object, Self.returnSlot)
        _ = Self.callTarget(10)
        #expect(try Self.hits(object, Self.pathSlot) == entryAfter)
        #expect(try Self.hits(object, Self.returnSlot) == exitAfter)
    }

    /// The section-less `uprobe` program, attached for this process only (pid given, any CPU), at a raw
    /// file offset (no symbol), with a cookie.
    @Test func plainUprobeForOneProcessAtAFileOffset() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_uprobe"])
        let program = try #require(object.program(named: "on_uprobe"))
        let executable = try #require(realPath("/proc/self/exe"))
        let fileOffset = try Uprobe.fileOffset(in: executable, symbol: Self.targetSymbol)
        #expect(try Uprobe.fileOffset(in: executable, symbol: Self.targetSymbol, offset: 4) == fileOffset + 4)

        let link = try program.attachUprobe(path: executable, symbol: nil, offset: fileOffset, pid: getpid(), cookie: 7)
        #expect(link.target == "uprobe/\(executable):0x\(String(fileOffset, radix: 16)) (pid \(getpid()))")
        let before = try Self.hits(object, Self.plainSlot)
        _ = Self.callTarget(12)
        #expect(try Self.hits(object, Self.plainSlot) == before + 12)
        link.close()
        let after = try Self.hits(object, Self.plainSlot)
        _ = Self.callTarget(5)
        #expect(try Self.hits(object, Self.plainSlot) == after)
    }

    /// A sleepable uprobe (`uprobe.s`) copies the argument's 8 bytes from user memory on every call.
    @Test func sleepableUprobeReadsUserMemory() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_uprobe_sleepable"])
        let program = try #require(object.program(named: "on_uprobe_sleepable"))
        let link = try program.attachUprobe(path: "/proc/self/exe", symbol: Self.targetSymbol)
        let before = try Self.hits(object, Self.sleepableSlot)
        _ = Self.callTarget(9)
        #expect(try Self.hits(object, Self.sleepableSlot) == before + 9)
        link.close()
    }

    /// A uprobe on libc's `exit`, the library named as `libc.so.6` and found through the search rules,
    /// fires in child processes (`/bin/true` calls exit when main returns); after close it stops.
    @Test func libcFunctionByLibraryNameFiresInChildren() throws {
        try AttachKit.requireRoot()
        let resolved = try Uprobe.resolveBinary("libc.so.6")
        // The library the children map is the same file (uprobes are per inode).
        let mappedLibc = try #require(mappedLibrary(named: "libc.so.6"), "this process maps no libc.so.6")
        #expect(sameFile(resolved, mappedLibc), "libc.so.6 resolved to \(resolved), but the process maps \(mappedLibc)")

        let object = try Self.load(["on_uprobe"])
        let program = try #require(object.program(named: "on_uprobe"))
        let link = try program.attachUprobe(path: "libc.so.6", symbol: "exit")
        #expect(link.target == "uprobe/\(resolved):exit")
        let before = try Self.hits(object, Self.plainSlot)
        try AttachKit.runTrue(times: 4)
        // Other processes of the machine exit too: at least ours are counted.
        #expect(try Self.hits(object, Self.plainSlot) >= before + 4)
        let info = try link.info()
        link.close()
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .link).contains(info.id) })
        let after = try Self.hits(object, Self.plainSlot)
        try AttachKit.runTrue(times: 2)
        #expect(try Self.hits(object, Self.plainSlot) == after)
    }

    /// A function the binary lacks, a missing file, a library nowhere on the search path, a process that
    /// does not exist, a program of another type: each one error naming it, and no link left behind.
    @Test func refusalsNameTheProblemAndLeaveNothing() throws {
        try AttachKit.requireRoot()
        let object = try Self.load(["on_uprobe", "on_tracepoint"])
        let program = try #require(object.program(named: "on_uprobe"))
        let links = Set(SystemCall.allIDs(of: .link))
        let libc = try Uprobe.resolveBinary("libc.so.6")

        func failure(_ body: () throws(BPFError) -> Link) -> BPFError? {
            do { _ = try body(); return nil } catch { return error }
        }
        let noSymbol = failure { () throws(BPFError) in try program.attachUprobe(path: libc, symbol: "swift_load_no_such_function") }
        #expect(noSymbol?.code == .notFound)
        #expect(noSymbol?.message == "binary \(libc) has no symbol swift_load_no_such_function")

        let noFile = failure { () throws(BPFError) in try program.attachUprobe(path: "/nonexistent/swift-load-binary", symbol: "main") }
        #expect(noFile?.code == .notFound)
        #expect(noFile?.message == "uprobe binary /nonexistent/swift-load-binary: no such file")

        let noLibrary = failure { () throws(BPFError) in try program.attachUprobe(path: "libswift_load_nothing.so", symbol: "f") }
        #expect(noLibrary?.code == .notFound)
        #expect(noLibrary?.message.hasPrefix("uprobe binary libswift_load_nothing.so not found: searched LD_LIBRARY_PATH and ") == true)

        let notELF = failure { () throws(BPFError) in try program.attachUprobe(path: TestPaths.root + "/Package.swift", symbol: "main") }
        #expect(notELF?.code == .invalidArgument)
        #expect(notELF?.message.contains("is not an ELF file") == true)

        let noProcess = failure { () throws(BPFError) in
            try program.attachUprobe(path: libc, symbol: "exit", pid: Int32.max - 1)
        }
        #expect(noProcess?.code == .notFound)
        #expect(noProcess?.message.hasSuffix("(no process \(Int32.max - 1))") == true)

        let tracepoint = try #require(object.program(named: "on_tracepoint"))
        let wrongType = failure { () throws(BPFError) in try tracepoint.attachUprobe(path: libc, symbol: "exit") }
        #expect(wrongType?.code == .invalidArgument)
        #expect(wrongType?.message.hasPrefix("cannot attach program on_tracepoint to uprobe/\(libc):exit: it is a tracepoint program") == true)
        #expect(wrongType?.message.contains("uprobes take kprobe-type programs") == true)

        #expect(Set(SystemCall.allIDs(of: .link)).subtracting(links).isEmpty)
    }

    // MARK: Resolution, offline

    @Test func binarySearchFollowsLibbpfRules() throws {
        let directory = NSTemporaryDirectory() + "swift-load-uprobe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/libfake.so.1", contents: Data([0x7f]))
        FileManager.default.createFile(atPath: directory + "/bin/faketool", contents: Data([0x7f]))
        try FileManager.default.createDirectory(atPath: directory + "/libdir.so", withIntermediateDirectories: true)

        #expect(try Uprobe.resolveBinary("libfake.so.1", libraryPath: "/nonexistent:" + directory, searchPath: nil) == directory + "/libfake.so.1")
        #expect(try Uprobe.resolveBinary("faketool", libraryPath: nil, searchPath: "/nonexistent::" + directory + "/bin/") == directory + "/bin/faketool")
        // Names with .so are not searched in PATH, others not in LD_LIBRARY_PATH.
        #expect(throws: BPFError.self) { try Uprobe.resolveBinary("libfake.so.1", libraryPath: nil, searchPath: directory) }
        #expect(throws: BPFError.self) { try Uprobe.resolveBinary("faketool", libraryPath: directory + "/bin", searchPath: "/nonexistent") }
        // A directory is not a binary.
        #expect(throws: BPFError.self) { try Uprobe.resolveBinary("libdir.so", libraryPath: directory, searchPath: nil) }
        // Paths with a slash are used as they are; /proc/self/exe becomes the real file.
        #expect(try Uprobe.resolveBinary(directory + "/libfake.so.1") == directory + "/libfake.so.1")
        let executable = try Uprobe.resolveBinary("/proc/self/exe")
        #expect(executable == realPath("/proc/self/exe"))
        #expect(!executable.hasPrefix("/proc/"))
        #expect(throws: BPFError.self) { try Uprobe.resolveBinary("") }
        // Standard places: libc by its soname, sh through PATH or /usr/bin.
        let libc = try Uprobe.resolveBinary("libc.so.6", libraryPath: nil, searchPath: nil)
        #expect(Uprobe.libraryDirectories.contains { libc == $0 + "/libc.so.6" })
        #expect(try Uprobe.resolveBinary("sh", libraryPath: nil, searchPath: nil).hasSuffix("/sh"))
    }

    @Test func targetDescriptions() {
        #expect(Uprobe.targetDescription(path: "/bin/x", symbol: "f", offset: 0, isReturn: false, pid: -1) == "uprobe//bin/x:f")
        #expect(Uprobe.targetDescription(path: "/bin/x", symbol: "f", offset: 16, isReturn: true, pid: -1) == "uretprobe//bin/x:f+0x10")
        #expect(Uprobe.targetDescription(path: "/bin/x", symbol: nil, offset: 0x1234, isReturn: false, pid: 42) == "uprobe//bin/x:0x1234 (pid 42)")
    }

    // MARK: The probe PMUs

    @Test func pmuFilesParse() {
        #expect(ProbePMU.parseType("8\n") == 8)
        #expect(ProbePMU.parseType(" 10 ") == 10)
        #expect(ProbePMU.parseType("x") == nil)
        #expect(ProbePMU.parseType("") == nil)
        #expect(ProbePMU.parseRetprobeBit("config:0\n") == 0)
        #expect(ProbePMU.parseRetprobeBit("config:63") == 63)
        #expect(ProbePMU.parseRetprobeBit("config:64") == nil)
        #expect(ProbePMU.parseRetprobeBit("config:32-63") == nil)
        #expect(ProbePMU.parseRetprobeBit("config1:0") == nil)
    }

    /// The PMUs of this machine: the uprobe PMU's type and retprobe bit match sysfs; a kernel without
    /// kprobes (this one) gets the message naming CONFIG_KPROBES.
    @Test func pmusOfThisKernel() throws {
        let uprobeDirectory = "/sys/bus/event_source/devices/uprobe"
        try require(FileManager.default.fileExists(atPath: uprobeDirectory), "this kernel has no uprobe PMU")
        let typeText = try String(contentsOfFile: uprobeDirectory + "/type", encoding: .utf8)
        #expect(try ProbePMU.uprobe.type() == UInt32(typeText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try ProbePMU.uprobe.type() == (try ProbePMU.uprobe.type()))
        #expect(try ProbePMU.uprobe.retprobeBit() == 0)
        #expect(ProbePMU.uprobe.description == "uprobe")

        if FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/kprobe") {
            #expect(try ProbePMU.kprobe.retprobeBit() == 0)
        } else {
            #expect(throws: BPFError.self) { try ProbePMU.kprobe.type() }
            do {
                _ = try ProbePMU.kprobe.type()
            } catch {
                #expect(error.code == .unsupported)
                #expect(error.message == "this kernel has no kprobe support (CONFIG_KPROBES): /sys/bus/event_source/devices/kprobe is missing")
            }
        }
    }

    /// PMU directories made up in a temporary directory: missing PMU, missing retprobe format, bad files.
    @Test func pmuErrorsNameWhatIsMissing() throws {
        let root = NSTemporaryDirectory() + "swift-load-pmu-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/uprobe/format", withIntermediateDirectories: true)
        try "9\n".write(toFile: root + "/uprobe/type", atomically: true, encoding: .utf8)
        let uprobe = ProbePMU(name: "uprobe", devicesDirectory: root)
        #expect(try uprobe.type() == 9)
        do {
            _ = try uprobe.retprobeBit()
            Issue.record("a missing retprobe format was accepted")
        } catch {
            #expect(error.code == .unsupported)
            #expect(error.message == "the uprobe PMU has no return-probe format (\(root)/uprobe/format/retprobe is missing): uretprobes through perf need Linux 4.17")
        }
        try "config:3-4\n".write(toFile: root + "/uprobe/format/retprobe", atomically: true, encoding: .utf8)
        #expect { try uprobe.retprobeBit() } throws: { ($0 as? BPFError)?.code == .kernel }
        try "config:5\n".write(toFile: root + "/uprobe/format/retprobe", atomically: true, encoding: .utf8)
        #expect(try uprobe.retprobeBit() == 5)

        let kprobe = ProbePMU(name: "kprobe", devicesDirectory: root)
        do {
            _ = try kprobe.type()
            Issue.record("a missing PMU was found")
        } catch {
            #expect(error.code == .unsupported)
            #expect(error.message == "this kernel has no kprobe support (CONFIG_KPROBES): \(root)/kprobe is missing")
        }
        let nowhere = ProbePMU(name: "uprobe", devicesDirectory: root + "/nonexistent")
        #expect { try nowhere.type() } throws: { error in
            (error as? BPFError)?.message == "this kernel has no uprobe support (CONFIG_UPROBE_EVENTS): \(root)/nonexistent/uprobe is missing (so is \(root)/nonexistent: is sysfs mounted at /sys?)"
        }
        try FileManager.default.createDirectory(atPath: root + "/odd", withIntermediateDirectories: true)
        try "eight".write(toFile: root + "/odd/type", atomically: true, encoding: .utf8)
        #expect { try ProbePMU(name: "odd", devicesDirectory: root).type() } throws: { error in
            (error as? BPFError)?.message == "the odd PMU's type is unreadable: \(root)/odd/type holds \"eight\", expected a number"
        }
    }

    /// The attribute: type, retprobe bit in config, config1 pointing at the NUL-terminated name for the
    /// closure's duration, config2 the offset; a kprobe on an address has config1 0.
    @Test func probeAttributeFields() throws {
        /// What a body sees: the fields, and config1 read as a string while it is valid.
        struct Seen: Equatable {
            var type: UInt32, size: UInt32, config: UInt64, name: String?, config2: UInt64
        }
        func seen(_ attribute: perf_event_attr) -> Seen {
            Seen(type: attribute.type, size: attribute.size, config: attribute.config,
                 name: UnsafePointer<CChar>(bitPattern: UInt(attribute.config1)).map { String(cString: $0) },
                 config2: attribute.config2)
        }
        let size = UInt32(MemoryLayout<perf_event_attr>.size)
        let path = "/usr/lib/libexample.so"
        let entry = try ProbePMU.withAttribute(type: 8, retprobeBit: 0, name: path, offset: 0x1234, isReturn: false) { attribute throws(BPFError) in
            seen(attribute)
        }
        #expect(entry == Seen(type: 8, size: size, config: 0, name: path, config2: 0x1234))
        let kretprobe = try ProbePMU.withAttribute(type: 6, retprobeBit: 5, name: "do_sys_open", offset: 0, isReturn: true) { attribute throws(BPFError) in
            seen(attribute)
        }
        #expect(kretprobe == Seen(type: 6, size: size, config: 1 << 5, name: "do_sys_open", config2: 0))
        let address = try ProbePMU.withAttribute(type: 6, retprobeBit: nil, name: nil, offset: 0xffff_ffff_8100_0000, isReturn: false) { attribute throws(BPFError) in
            seen(attribute)
        }
        #expect(address == Seen(type: 6, size: size, config: 0, name: nil, config2: 0xffff_ffff_8100_0000))
        #expect(throws: BPFError.self) {
            try ProbePMU.withAttribute(type: 6, retprobeBit: nil, name: "f", offset: 0, isReturn: true) { _ throws(BPFError) in }
        }
        #expect(throws: BPFError.self) {
            try ProbePMU.withAttribute(type: 6, retprobeBit: 0, name: "a\0b", offset: 0, isReturn: false) { _ throws(BPFError) in }
        }
        // An error thrown inside the closure comes out unchanged.
        #expect {
            try ProbePMU.withAttribute(type: 7, retprobeBit: 0, name: "x", offset: 0, isReturn: false) { _ throws(BPFError) in
                throw BPFError(.kernel, "from the body")
            }
        } throws: { ($0 as? BPFError)?.message == "from the body" }
    }

    // MARK: Helpers

    func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The path of the first mapping in /proc/self/maps whose file name is `name`.
    func mappedLibrary(named name: String) -> String? {
        // Read to the end with read(2): /proc files report size 0, and with many threads (a full parallel
        // test run) the maps file is long.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps"),
              let data = try? handle.readToEnd() else { return nil }
        let maps = String(decoding: data, as: UTF8.self)
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            if path.hasSuffix("/" + name) { return path }
        }
        return nil
    }

    func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }
}
