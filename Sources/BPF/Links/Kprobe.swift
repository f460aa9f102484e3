import BPFObject
import CBPF
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Program {
    /// Attaches this kprobe program to the kernel function `function`, at its entry (or `offset` bytes
    /// into it), or to its return when `isReturn` is true (a kretprobe).
    ///
    /// Opens a perf event of the `kprobe` PMU (its type and retprobe bit from sysfs, see ``ProbePMU``;
    /// `config1` points at the function's name, `config2` is the offset) and attaches through a perf link
    /// (``attach(perfEvent:cookie:target:)``). Kernels without the PMU (before 4.17) get a legacy kprobe
    /// instead: `p:swiftload/EVENT FUNC+OFF` (or `r:…`) written to `<tracefs>/kprobe_events`, opened as a
    /// tracepoint by its id; that event is removed from `kprobe_events` when the link closes.
    ///
    /// - Parameters:
    ///   - function: the kernel function (`do_nanosleep`; `MODULE:FUNC` for a module's function).
    ///   - offset: bytes into the function (entry probes only; it must be an instruction boundary).
    ///   - isReturn: probe the function's return instead of its entry.
    ///   - cookie: a value the program reads with `bpf_get_attach_cookie()` (needs perf links).
    /// - Returns: the attachment, with ``Link/target`` `kprobe/FUNC[+0xOFF]` or `kretprobe/FUNC`.
    /// - Throws: ``BPFError`` `.invalidArgument` for programs that are not kprobe programs, invalid names,
    ///   an offset on a return probe; `.unsupported` when the kernel has no kprobes ("this kernel has no
    ///   kprobe support (CONFIG_KPROBES)"); `.notFound` when the kernel has no such function.
    public func attachKprobe(function: String, offset: UInt64 = 0, isReturn: Bool = false,
                             cookie: UInt64? = nil) throws(BPFError) -> Link {
        let target = Self.kprobeTarget(function: function, offset: offset, isReturn: isReturn)
        return try attachKprobe(function: function, offset: offset, isReturn: isReturn, cookie: cookie, target: target)
    }

    /// Attaches this kprobe program to the kernel entry point of system call `name` (`execve`), or to its
    /// return when `isReturn` is true: a kprobe on the architecture's syscall wrapper (`__x64_sys_execve`,
    /// `__arm64_sys_execve`) when the kernel has wrappers (``KernelFeature/syscallWrapper``), else on
    /// `sys_execve`. Programs written with `BPF_KSYSCALL` read the arguments either way.
    ///
    /// - Returns: the attachment, with ``Link/target`` `ksyscall/NAME` or `kretsyscall/NAME`.
    /// - Throws: ``BPFError`` as ``attachKprobe(function:offset:isReturn:cookie:)``, naming the function.
    public func attachKsyscall(name: String, isReturn: Bool = false, cookie: UInt64? = nil) throws(BPFError) -> Link {
        let target = "\(isReturn ? "kretsyscall" : "ksyscall")/\(name)"
        guard !name.isEmpty, name.utf8.allSatisfy(Self.isSyscallNameByte) else {
            throw BPFError(.invalidArgument, "cannot attach program \(self.name) to \(target): '\(name)' is not a system call name (letters, digits and '_')")
        }
        let function = Self.syscallFunction(name, hasWrapper: KernelFeatures.shared.supports(.syscallWrapper),
                                            prefix: Probes.syscallPrefix)
        return try attachKprobe(function: function, offset: 0, isReturn: isReturn, cookie: cookie,
                                target: "\(target) (kernel function \(function))")
    }

    /// The kernel function a ksyscall probe hooks: `__PREFIX_sys_NAME` when the kernel wraps its system
    /// calls (and the architecture's prefix is known), else `sys_NAME`.
    static func syscallFunction(_ name: String, hasWrapper: Bool, prefix: String?) -> String {
        if hasWrapper, let prefix { return "__\(prefix)_sys_\(name)" }
        return "sys_\(name)"
    }

    /// `kprobe/FUNC`, `kprobe/FUNC+0x10`, `kretprobe/FUNC`.
    static func kprobeTarget(function: String, offset: UInt64, isReturn: Bool) -> String {
        (isReturn ? "kretprobe/" : "kprobe/") + function + (offset == 0 ? "" : "+0x" + String(offset, radix: 16))
    }

    /// `[A-Za-z0-9_]`.
    private static func isSyscallNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
    }

    /// `[A-Za-z0-9_.:]`: C symbols, the compiler's `.isra.0` / `.cold` suffixes, and `MODULE:FUNC`.
    private static func isKernelFunctionByte(_ byte: UInt8) -> Bool {
        isSyscallNameByte(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
    }

    private func attachKprobe(function: String, offset: UInt64, isReturn: Bool, cookie: UInt64?,
                              target: String) throws(BPFError) -> Link {
        let what = "cannot attach program \(name) to \(target)"
        guard type == .kprobe else {
            throw BPFError(.invalidArgument, "\(what): it is a \(type) program, and kprobes take kprobe programs (SEC(\"kprobe/FUNCTION\"), SEC(\"ksyscall/NAME\"))")
        }
        guard !function.isEmpty, function.utf8.count < 256, function.utf8.allSatisfy(Self.isKernelFunctionByte) else {
            throw BPFError(.invalidArgument, "\(what): '\(function)' is not a kernel function name (letters, digits, '_', '.', and ':' after a module name)")
        }
        if isReturn && offset != 0 {
            throw BPFError(.invalidArgument, "\(what): a return probe cannot take an offset (got \(offset))")
        }
        let pmu = ProbePMU.kprobe
        do {
            _ = try pmu.type()
        } catch where error.code == .unsupported {
            // No kprobe PMU: the legacy tracefs interface, if the kernel has kprobes at all.
            return try attachLegacyKprobe(function: function, offset: offset, isReturn: isReturn, cookie: cookie,
                                          target: target, noPMU: error)
        }
        let event: OwnedFileDescriptor
        do {
            event = try pmu.withAttribute(name: function, offset: offset, isReturn: isReturn) { attribute throws(BPFError) in
                try PerfEvent.open(attribute, pid: -1, cpu: 0, what: target)
            }
        } catch {
            throw Self.kprobeOpenError(error, function: function, offset: offset, what: what)
        }
        return try attach(perfEvent: event, cookie: cookie, target: target)
    }

    /// A refused kprobe in words a user can act on: the function that does not exist, is ambiguous, or
    /// cannot be probed.
    private static func kprobeOpenError(_ error: BPFError, function: String, offset: UInt64, what: String) -> BPFError {
        var error = error
        let errno = error.errno
        if errno == .noSuchFileOrDirectory {
            error.code = .notFound
            error.message = "\(what): this kernel has no function \(function) to probe (\(error.message))"
        } else if errno == .addressNotAvailable {
            error.code = .invalidArgument
            error.message = "\(what): several kernel functions are named \(function); name the module (MODULE:\(function)) (\(error.message))"
        } else if errno == .invalidArgument {
            error.message = "\(what): the kernel refuses to probe \(function)\(offset == 0 ? "" : " at offset \(offset)") (not probeable, or the offset is not an instruction boundary) (\(error.message))"
        } else {
            error.message = "\(what): \(error.message)"
        }
        return error
    }

    // MARK: Legacy kprobes (tracefs kprobe_events)

    /// The tracefs group of the kprobe events this process creates.
    static let legacyKprobeGroup = "swiftload"

    /// Numbers this process's legacy kprobe events so two probes on one function get distinct names.
    private static let legacyKprobeCounter = Atomic<Int>(0)

    /// A tracefs event name for a legacy kprobe: the function with every character that is not a letter,
    /// digit or `_` replaced by `_`, the offset when not 0, the process id and a counter
    /// (`do_nanosleep_4242_0`); at most 63 bytes (the kernel's `MAX_EVENT_NAME_LEN` is 64 with the NUL),
    /// starting with a letter or `_`, as tracefs requires.
    static func legacyKprobeEventName(function: String, offset: UInt64, pid: Int32, counter: Int) -> String {
        var suffix = offset == 0 ? "" : "_0x" + String(offset, radix: 16)
        suffix += "_\(pid)_\(counter)"
        var base = String(decoding: function.utf8.map { byte in
            let isWord = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
            return isWord ? byte : UInt8(ascii: "_")
        }, as: UTF8.self)
        if let first = base.utf8.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) { base = "_" + base }
        let room = 63 - suffix.utf8.count
        if base.utf8.count > room { base = String(decoding: base.utf8.prefix(room), as: UTF8.self) }
        return base + suffix
    }

    /// The `kprobe_events` line that creates a legacy kprobe: `p:GROUP/EVENT FUNC[+0xOFF]` for an entry
    /// probe, `r:GROUP/EVENT FUNC` for a return probe.
    static func legacyKprobeDefinition(event: String, function: String, offset: UInt64, isReturn: Bool) -> String {
        let place = offset == 0 ? function : function + "+0x" + String(offset, radix: 16)
        return "\(isReturn ? "r" : "p"):\(legacyKprobeGroup)/\(event) \(place)"
    }

    /// The `kprobe_events` line that removes a legacy kprobe: `-:GROUP/EVENT`.
    static func legacyKprobeRemoval(event: String) -> String {
        "-:\(legacyKprobeGroup)/\(event)"
    }

    private func attachLegacyKprobe(function: String, offset: UInt64, isReturn: Bool, cookie: UInt64?,
                                    target: String, noPMU: BPFError) throws(BPFError) -> Link {
        let what = "cannot attach program \(name) to \(target)"
        let root: String
        do {
            root = try TraceFS.root()
        } catch {
            var failure = error
            failure.message = "\(what): there is no kprobe PMU (\(noPMU.message)), and the legacy kprobe_events cannot be checked: \(error.message)"
            throw failure
        }
        let control = root + "/kprobe_events"
        guard access(control, F_OK) == 0 else {
            throw BPFError(.unsupported, "\(what): this kernel has no kprobe support (CONFIG_KPROBES): no kprobe PMU (\(ProbePMU.kprobe.directory) is missing) and no \(control)",
                           errno: noPMU.errno)
        }
        let event = Self.legacyKprobeEventName(function: function, offset: offset, pid: getpid(),
                                               counter: Self.legacyKprobeCounter.wrappingAdd(1, ordering: .relaxed).oldValue)
        let definition = Self.legacyKprobeDefinition(event: event, function: function, offset: offset, isReturn: isReturn)
        var written = appendLine(definition, to: control)
        if written == .fileExists {
            // A stale event of a process that had our pid and died before removing it.
            _ = appendLine(Self.legacyKprobeRemoval(event: event), to: control)
            written = appendLine(definition, to: control)
        }
        if let failure = written {
            let code: BPFError.Code = failure == .noSuchFileOrDirectory ? .notFound
                : failure == .notPermitted || failure == .permissionDenied ? .permission : .kernel
            let reason = failure == .noSuchFileOrDirectory ? "this kernel has no function \(function) to probe; " : ""
            throw BPFError(code, "\(what): \(reason)writing '\(definition)' to \(control) failed: \(failure.symbolicName) (\(failure.kernelDescription))",
                           errno: failure)
        }
        let remove: @Sendable () -> Void = { _ = appendLine(Program.legacyKprobeRemoval(event: event), to: control) }
        do {
            let id = try TraceFS.tracepointID(category: Self.legacyKprobeGroup, name: event)
            let perfEvent = try PerfEvent.openTracepoint(id: id, what: target)
            let link = try attach(perfEvent: perfEvent, cookie: cookie, target: target)
            link.addCleanup(remove)
            return link
        } catch {
            remove()
            throw error
        }
    }
}

/// Writes `line` and a newline to the tracefs control file `path` in one `write` (the kernel parses
/// each write as a command); nil on success, else the errno.
fileprivate func appendLine(_ line: String, to path: String) -> Errno? {
    let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
    guard fd >= 0 else { return Errno(rawValue: errno) }
    defer { _ = close(fd) }
    let bytes = Array((line + "\n").utf8)
    while true {
        let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if result < 0 && errno == EINTR { continue }
        if result < 0 { return Errno(rawValue: errno) }
        return result == bytes.count ? nil : .ioError
    }
}
