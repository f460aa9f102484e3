import BPFObject
import ELF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Finding what a uprobe attaches to: the binary (searched like libbpf does for bare names) and the file
/// offset of a function in it (its symbol's address mapped through the program headers).
public enum Uprobe {
    /// Where libraries are looked for after `LD_LIBRARY_PATH`, in order: the traditional directories, then
    /// this architecture's multiarch directories (Debian and Ubuntu keep libc there).
    public static let libraryDirectories: [String] = {
        var directories = ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        if let triple = multiarchTriple {
            directories += ["/lib/" + triple, "/usr/lib/" + triple]
        }
        return directories
    }()

    /// Where executables are looked for after `PATH` (libbpf's fallback).
    public static let executableDirectories = ["/usr/bin", "/usr/sbin"]

    /// The Debian multiarch triple of this build's architecture.
    static var multiarchTriple: String? {
        #if arch(x86_64)
        "x86_64-linux-gnu"
        #elseif arch(arm64)
        "aarch64-linux-gnu"
        #elseif arch(i386)
        "i386-linux-gnu"
        #elseif arch(arm)
        "arm-linux-gnueabihf"
        #elseif arch(powerpc64le)
        "powerpc64le-linux-gnu"
        #elseif arch(s390x)
        "s390x-linux-gnu"
        #elseif arch(riscv64)
        "riscv64-linux-gnu"
        #else
        nil
        #endif
    }

    /// The file a uprobe on `path` attaches to.
    ///
    /// - A path with a `/` is used as it is (relative ones from the current directory), except that
    ///   `/proc/self/…` is resolved to the real file (it would name another process's file once the path
    ///   is read elsewhere, e.g. in a message or a pin).
    /// - A bare name containing `.so` (`libc.so.6`) is searched in `LD_LIBRARY_PATH`, then in
    ///   ``libraryDirectories``; any other bare name in `PATH`, then in ``executableDirectories``. The
    ///   first readable regular file wins.
    ///
    /// - Throws: ``BPFError`` `.notFound` naming the places searched, `.invalidArgument` for an empty
    ///   path.
    public static func resolveBinary(_ path: String) throws(BPFError) -> String {
        try resolveBinary(path, libraryPath: environment("LD_LIBRARY_PATH"), searchPath: environment("PATH"))
    }

    /// ``resolveBinary(_:)`` with the environment's search paths given.
    static func resolveBinary(_ path: String, libraryPath: String?, searchPath: String?) throws(BPFError) -> String {
        guard !path.isEmpty else {
            throw BPFError(.invalidArgument, "a uprobe needs a binary: the path is empty")
        }
        guard !path.utf8.contains(0) else {
            throw BPFError(.invalidArgument, "uprobe binary path \"\(path)\" contains a NUL byte")
        }
        if path.contains("/") {
            let resolved = path.hasPrefix("/proc/self/") || path.hasPrefix("/proc/thread-self/") ? realPath(path) ?? path : path
            guard exists(resolved) else {
                throw BPFError(.notFound, "uprobe binary \(path): no such file", errno: .noSuchFileOrDirectory)
            }
            guard isReadableRegularFile(resolved) else {
                throw BPFError(.invalidArgument, "uprobe binary \(path) is not a readable regular file")
            }
            return resolved
        }
        let isLibrary = path.contains(".so")
        let environmentPath = isLibrary ? libraryPath : searchPath
        var directories = (environmentPath ?? "").split(separator: ":", omittingEmptySubsequences: true).map(String.init)
        directories += isLibrary ? libraryDirectories : executableDirectories
        var tried: [String] = []
        for directory in directories where !tried.contains(directory) {
            tried.append(directory)
            let candidate = directory.hasSuffix("/") ? directory + path : directory + "/" + path
            if isReadableRegularFile(candidate) { return candidate }
        }
        let variable = isLibrary ? "LD_LIBRARY_PATH" : "PATH"
        throw BPFError(.notFound, "uprobe binary \(path) not found: searched \(variable) and \(tried.joined(separator: ":"))",
                       errno: .noSuchFileOrDirectory)
    }

    /// The file offset a uprobe on `symbol` + `offset` in `binary` takes: without a symbol, `offset`
    /// itself; with one, its address mapped through the `PT_LOAD` segment that holds it, plus `offset`.
    /// See ``ELFFile/functionLocation(named:)`` for how the symbol is chosen (`.dynsym` then `.symtab`,
    /// `name@@VERSION` accepted).
    ///
    /// - Throws: ``BPFError`` `.notFound` when the binary has no such function ("binary X has no symbol
    ///   Y"), `.invalidArgument` when it is not a readable ELF file, the symbol is ambiguous or lies in no
    ///   loadable executable segment.
    public static func fileOffset(in binary: String, symbol: String?, offset: UInt64 = 0) throws(BPFError) -> UInt64 {
        guard let symbol, !symbol.isEmpty else { return offset }
        let file: ELFFile
        do {
            file = try ELFFile(contentsOf: binary, accepting: .anyFile)
        } catch {
            switch error {
            case .file(let readError):
                throw BPFError(errno: Errno(rawValue: readError.errno), command: nil, "reading uprobe binary \(binary)")
            case .elf(let elfError):
                throw BPFError(.invalidArgument, "uprobe binary \(binary) is not an ELF file this reader understands: \(elfError)")
            }
        }
        let location: ELFFunctionLocation
        do {
            location = try file.functionLocation(named: symbol)
        } catch {
            switch error {
            case .notFound:
                throw BPFError(.notFound, "binary \(binary) has no symbol \(symbol)", details: [error.description])
            case .zeroAddress:
                throw BPFError(.notFound, "binary \(binary) has no symbol \(symbol) to probe: \(error.description)")
            case .malformed(let elfError):
                throw BPFError(.invalidArgument, "uprobe binary \(binary) is malformed: \(elfError)")
            case .ambiguous, .notInLoadableSegment, .notExecutable:
                throw BPFError(.invalidArgument, "cannot probe \(symbol) in \(binary): \(error.description)")
            }
        }
        let (total, overflow) = location.fileOffset.addingReportingOverflow(offset)
        guard !overflow else {
            throw BPFError(.invalidArgument, "uprobe offset \(offset) past \(symbol) in \(binary) overflows")
        }
        return total
    }

    /// The link's target in the section vocabulary: `uprobe/PATH:SYMBOL+0xOFF`, `uretprobe/PATH:0xOFF`.
    static func targetDescription(path: String, symbol: String?, offset: UInt64, isReturn: Bool, pid: Int32) -> String {
        let kind = isReturn ? "uretprobe" : "uprobe"
        let hex = "0x" + String(offset, radix: 16)
        let place: String
        if let symbol, !symbol.isEmpty {
            place = offset == 0 ? symbol : symbol + "+" + hex
        } else {
            place = hex
        }
        return "\(kind)/\(path):\(place)" + (pid >= 0 ? " (pid \(pid))" : "")
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    private static func isReadableRegularFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, R_OK) == 0
    }
}

extension Program {
    /// Attaches this program as a uprobe (or uretprobe) on function `symbol` of `path`, plus `offset`
    /// bytes, or at file offset `offset` when `symbol` is nil.
    ///
    /// The binary is resolved like libbpf does (``Uprobe/resolveBinary(_:)``: `libc.so.6` through the
    /// library directories, `bash` through `PATH`, `/proc/self/exe` to the real file); the symbol's address
    /// is mapped to a file offset through the binary's program headers (``Uprobe/fileOffset(in:symbol:offset:)``).
    /// A perf event of the `uprobe` PMU is opened with the path and offset (and the PMU's retprobe bit for
    /// a return probe): for every process (`pid` -1, opened on CPU 0; uprobes fire on every CPU), or
    /// for process `pid` only. The program is attached through a perf link, or `PERF_EVENT_IOC_SET_BPF`
    /// on kernels without them (see ``attach(perfEvent:cookie:target:)``).
    ///
    /// - Parameters:
    ///   - path: the executable or shared library.
    ///   - symbol: the function (`malloc`, `realpath@@GLIBC_2.3`), or nil to attach at `offset` itself.
    ///   - offset: bytes past the function's start, or the file offset when `symbol` is nil.
    ///   - isReturn: a uretprobe: the program runs when the function returns.
    ///   - pid: the process to trace, or -1 for every process that runs the binary.
    ///   - cookie: a value the program reads with `bpf_get_attach_cookie()` (needs perf links).
    /// - Returns: the attachment; closing it detaches the program.
    /// - Throws: ``BPFError`` `.invalidArgument` for a program that is not of kprobe type (uprobes run
    ///   kprobe-type programs) or is a multi-uprobe program, `.notFound` when the binary or the symbol
    ///   does not exist ("binary X has no symbol Y"), `.unsupported` when the kernel has no uprobe PMU,
    ///   `.permission` without root, and the kernel's refusal otherwise.
    public func attachUprobe(path: String, symbol: String?, offset: UInt64 = 0, isReturn: Bool = false,
                             pid: Int32 = -1, cookie: UInt64? = nil) throws(BPFError) -> Link {
        let requested = Uprobe.targetDescription(path: path, symbol: symbol, offset: offset, isReturn: isReturn, pid: pid)
        guard type == .kprobe else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(requested): it is a \(type) program, and uprobes take kprobe-type programs (SEC(\"uprobe/PATH:FUNCTION\"))")
        }
        if let expectedAttachType, expectedAttachType == .traceUprobeMulti || expectedAttachType == .traceUprobeSession
            || expectedAttachType == .traceKprobeMulti || expectedAttachType == .traceKprobeSession {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(requested): it was loaded for a multi-probe link (\(expectedAttachType)), which a single uprobe cannot run")
        }
        guard pid >= -1 else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(requested): pid \(pid) is neither a process id nor -1 (every process)")
        }
        let binary = try Uprobe.resolveBinary(path)
        let fileOffset = try Uprobe.fileOffset(in: binary, symbol: symbol, offset: offset)
        let target = Uprobe.targetDescription(path: binary, symbol: symbol, offset: offset, isReturn: isReturn, pid: pid)
        let event: OwnedFileDescriptor
        do {
            event = try ProbePMU.uprobe.withAttribute(name: binary, offset: fileOffset, isReturn: isReturn) { attribute throws(BPFError) in
                try PerfEvent.open(attribute, pid: pid, cpu: pid == -1 ? 0 : -1, what: target)
            }
        } catch {
            var error = error
            switch error.errno {
            case .noSuchProcess?:
                error.code = .notFound
                error.message += " (no process \(pid))"
            case .invalidArgument?:
                error.details.append("file offset 0x\(String(fileOffset, radix: 16)) in \(binary): the kernel refuses offsets past the end of the file or outside its executable mappings")
            default:
                break
            }
            throw error
        }
        return try attach(perfEvent: event, cookie: cookie, target: target)
    }
}
