import SystemPackage

/// An error of the kernel side: what was being done, the `bpf()` command and errno when the kernel
/// refused, and the verifier's log for a rejected program. Prints as one line; ``details`` holds the rest.
public struct BPFError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, for callers that react differently (retry without BTF, report "not root").
    public enum Code: String, Sendable, Hashable {
        /// Missing privilege (`EPERM`/`EACCES` outside the verifier): not root, no `CAP_BPF`, lockdown.
        case permission
        /// The kernel lacks the feature (a map or program type, an attach mechanism, a BTF kind).
        case unsupported
        /// The verifier rejected a program; ``BPFError/log`` holds its log.
        case verifier
        /// The object cannot be loaded as it is (an extern that does not resolve, a bad relocation).
        case invalidObject
        /// A pinned object conflicts with the one being loaded, or bpffs is missing.
        case pinning
        /// Something named does not exist (a map, a program, a BTF type, a kernel object id).
        case notFound
        /// A caller's argument is wrong (a key of the wrong size, a value that does not fit).
        case invalidArgument
        /// Any other refusal by the kernel.
        case kernel
    }

    /// The kind of failure.
    public var code: Code
    /// What was being done and what went wrong, in one line.
    public var message: String
    /// The command the kernel refused, if any.
    public var command: BPFCommand?
    /// The errno the kernel returned, if any.
    public var errno: Errno?
    /// The verifier's (or BTF loader's) log, when there is one.
    public var log: String?
    /// Further lines a person needs (the log's relevant tail, the differences of a pinned map).
    public var details: [String]

    /// An error with a code and message.
    public init(_ code: Code, _ message: String, command: BPFCommand? = nil, errno: Errno? = nil,
                log: String? = nil, details: [String] = []) {
        self.code = code
        self.message = message
        self.command = command
        self.errno = errno
        self.log = log
        self.details = details
    }

    /// The kernel refused `command` while doing `what`: the code follows from the errno.
    public init(errno: Errno, command: BPFCommand?, _ what: String) {
        let code: Code = switch errno {
        case .notPermitted, .permissionDenied: .permission
        case .kernelNotSupported, .notSupported, .noFunction: .unsupported
        case .noSuchFileOrDirectory: .notFound
        default: .kernel
        }
        let by = command.map { "\($0) failed: " } ?? ""
        self.init(code, "\(what): \(by)\(errno.symbolicName) (\(errno.kernelDescription))", command: command, errno: errno)
    }

    /// The one-line message.
    public var description: String { message }
}

extension Errno {
    /// The C library's description, or the kernel's meaning for errnos the C library does not know.
    public var kernelDescription: String {
        rawValue == 524 ? "operation not supported by the kernel" : description
    }
}
