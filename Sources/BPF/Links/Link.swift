import BPFObject
import CBPF
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A program attached to a hook: owns the one descriptor that keeps the attachment alive, so closing it
/// (or releasing the last reference) detaches the program, unless the link is pinned.
///
/// Every attach mechanism returns a `Link` (``Program/attachTracepoint(category:name:cookie:)``,
/// ``Program/attachSocketFilter(interface:)`` and the others). What the descriptor is depends on the
/// kernel's means of attaching (``Kind``): a BPF link, a perf event that carries the program (kernels
/// without perf links), or a packet socket with a filter. Only BPF links have ids and can be pinned.
public final class Link: Sendable, CustomStringConvertible {
    /// What holds the attachment, which decides what closing, pinning and ``info()`` can do.
    public enum Kind: Sendable, Hashable {
        /// A kernel BPF link (`BPF_LINK_CREATE`, `BPF_RAW_TRACEPOINT_OPEN`): has an id, can be pinned.
        case bpfLink
        /// A perf event whose program was set with `PERF_EVENT_IOC_SET_BPF` (kernels before perf links):
        /// closing the event detaches (the kernel has no way to take a program off an event, so the link
        /// must hold the event's only descriptor); it cannot be pinned.
        case perfEvent
        /// A socket whose filter was set with `SO_ATTACH_BPF`. A socket the link opened itself is closed
        /// to detach; a caller's socket gets `SO_DETACH_BPF` instead (it stays open).
        case socketFilter(ownsSocket: Bool)
    }

    private struct State: Sendable {
        var descriptor: OwnedFileDescriptor?
        var pinnedPath: String?
        /// Runs once after the descriptor is closed (see ``addCleanup(_:)``).
        var cleanup: (@Sendable () -> Void)?
    }

    /// How the attachment is held.
    public let kind: Kind
    /// The program's name (empty for a link opened from a pin or by id).
    public let programName: String
    /// What the program is attached to, in the section vocabulary (`tracepoint/syscalls/sys_enter_execve`,
    /// `socket/lo`), or `pinned at PATH` for a link opened from a pin.
    public let target: String
    private let state: Mutex<State>

    /// Wraps a descriptor that holds an attachment. Attach mechanisms call this; users get links from them.
    public init(descriptor: OwnedFileDescriptor, kind: Kind, programName: String, target: String) {
        self.kind = kind
        self.programName = programName
        self.target = target
        state = Mutex(State(descriptor: descriptor, pinnedPath: nil))
    }

    /// The descriptor number while the link is open, nil after ``close()``. Valid only until then.
    public var fileDescriptor: Int32? { state.withLock { $0.descriptor?.rawValue } }

    /// Whether ``close()`` has not been called yet.
    public var isOpen: Bool { state.withLock { $0.descriptor != nil } }

    /// Where the link is pinned, when it was pinned through this object or opened from a pin.
    public var pinnedPath: String? { state.withLock { $0.pinnedPath } }

    /// `NAME → TARGET`.
    public var description: String { programName.isEmpty ? target : "\(programName) → \(target)" }

    /// Releases the attachment: the program is detached unless the link is pinned (or another process
    /// holds its descriptor). A caller's socket gets `SO_DETACH_BPF` and stays open. Idempotent; `deinit`
    /// does the same.
    public func close() {
        var descriptor: OwnedFileDescriptor?
        var cleanup: (@Sendable () -> Void)?
        state.withLock { state in
            descriptor = state.descriptor
            cleanup = state.cleanup
            state.descriptor = nil
            state.cleanup = nil
        }
        guard let fd = descriptor?.rawValue else { return }
        Self.release(fd, kind)
        descriptor = nil // closes it: the cleanup may need the attachment gone
        cleanup?()
    }

    /// Registers `cleanup` to run once, right after the link's descriptor is closed (by ``close()``,
    /// ``detach()`` or `deinit`): for what an attach mechanism created besides the descriptor and that can
    /// only go once the attachment is gone (a legacy kprobe event in tracefs). A pinned link runs it too
    /// when this object closes, so the cleanup must tolerate the kernel still holding the attachment.
    /// Several calls run their closures in order.
    func addCleanup(_ cleanup: @escaping @Sendable () -> Void) {
        state.withLock { state in
            if let previous = state.cleanup {
                state.cleanup = { previous(); cleanup() }
            } else {
                state.cleanup = cleanup
            }
        }
    }

    /// What closing needs besides closing the descriptor: a caller's socket loses its filter; a perf event
    /// is disabled first (this stops sampling events at once even if the event is still open elsewhere).
    private static func release(_ fd: Int32, _ kind: Kind) {
        switch kind {
        case .socketFilter(ownsSocket: false): _ = cbpf_socket_detach_bpf(fd)
        case .perfEvent: _ = cbpf_ioctl(fd, cbpf_PERF_EVENT_IOC_DISABLE, 0)
        case .bpfLink, .socketFilter(ownsSocket: true): break
        }
    }

    /// Ends the attachment now, even when the link is pinned or its descriptor is shared: `BPF_LINK_DETACH`
    /// for BPF links, then closes this object's descriptor. The pin (if any) stays, as a defunct link.
    ///
    /// - Throws: ``BPFError`` `.unsupported` when the kernel has no `BPF_LINK_DETACH` for this kind of link
    ///   (perf event links, among others): close it, and unpin it, instead. The link stays open then.
    public func detach() throws(BPFError) {
        guard let fd = fileDescriptor else { return }
        if kind == .bpfLink {
            if case .failure(let errno) = SystemCall.linkDetach(fd) {
                if errno == .notSupported || errno == .invalidArgument {
                    throw BPFError(.unsupported, "cannot detach \(description): the kernel has no BPF_LINK_DETACH for this kind of link (\(errno.symbolicName)); close it (and unpin it) instead",
                                   command: .linkDetach, errno: errno)
                }
                throw BPFError(errno: errno, command: .linkDetach, "detaching \(description)")
            }
        }
        close()
    }

    /// Pins the link at `path` on a bpf filesystem, so the attachment outlives this process.
    /// The corresponding kernel command is `BPF_OBJ_PIN`.
    /// - Throws: ``BPFError`` `.unsupported` for attachments that are not BPF links, `.pinning` when the
    ///   kernel refuses the path.
    public func pin(at path: String) throws(BPFError) {
        guard kind == .bpfLink else {
            throw BPFError(.unsupported, "cannot pin \(description): only BPF links can be pinned, and this attachment is a \(kindName) (the kernel offered no link for it)")
        }
        guard let fd = fileDescriptor else { throw closedError("pin") }
        if case .failure(let errno) = SystemCall.objectPin(fd, path: path) {
            var error = BPFError(errno: errno, command: .objectPin, "pinning \(description) at \(path)")
            error.code = .pinning
            if errno == .permissionDenied || errno == .notPermitted { error.code = .permission }
            throw error
        }
        state.withLock { $0.pinnedPath = path }
    }

    /// Removes the pin made by ``pin(at:)`` (or the one this link was opened from); the attachment then
    /// lasts while this object is open. Does nothing when not pinned.
    public func unpin() throws(BPFError) {
        guard let path = pinnedPath else { return }
        if unlink(path) != 0 && errno != ENOENT {
            let errno = Errno(rawValue: errno)
            throw BPFError(.pinning, "removing the pin \(path) of \(description): \(errno.symbolicName) (\(errno))", errno: errno)
        }
        state.withLock { $0.pinnedPath = nil }
    }

    /// Opens the link pinned at `path`. The corresponding kernel command is `BPF_OBJ_GET`.
    /// - Throws: ``BPFError`` `.notFound` when nothing is pinned there, `.invalidArgument` when what is
    ///   pinned there is a map or a program rather than a link.
    public static func open(pinnedAt path: String) throws(BPFError) -> Link {
        let descriptor: OwnedFileDescriptor
        switch SystemCall.objectGet(path: path) {
        case .success(let fd): descriptor = try OwnedFileDescriptor(adopting: Int32(fd))
        case .failure(let errno): throw BPFError(errno: errno, command: .objectGet, "opening the link pinned at \(path)")
        }
        let kind = bpfObjectKind(descriptor.rawValue)
        guard kind == "bpf-link" else {
            throw BPFError(.invalidArgument, "\(path) holds a \(kind.isEmpty ? "BPF object" : kind), not a link")
        }
        let link = Link(descriptor: descriptor, kind: .bpfLink, programName: "", target: "pinned at \(path)")
        link.state.withLock { $0.pinnedPath = path }
        return link
    }

    /// Opens the link with kernel id `id`. The corresponding kernel command is `BPF_LINK_GET_FD_BY_ID`.
    public static func open(id: UInt32) throws(BPFError) -> Link {
        switch SystemCall.descriptor(of: .link, id: id) {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: "",
                        target: "link \(id)")
        case .failure(let errno):
            throw BPFError(errno: errno, command: .linkGetFDByID, "opening link \(id)")
        }
    }

    /// The kernel's facts about this link. The corresponding kernel command is `BPF_OBJ_GET_INFO_BY_FD`.
    /// - Throws: ``BPFError`` `.unsupported` for attachments that are not BPF links (they have no id).
    public func info() throws(BPFError) -> LinkInfo {
        guard kind == .bpfLink else {
            throw BPFError(.unsupported, "\(description) is a \(kindName), not a BPF link: it has no id or link info")
        }
        guard let fd = fileDescriptor else { throw closedError("read the info of") }
        var info = bpf_link_info()
        if case .failure(let errno) = SystemCall.objectInfo(fd, &info) {
            throw BPFError(errno: errno, command: .objectGetInfoByFD, "reading the info of \(description)")
        }
        return LinkInfo(id: info.id, type: LinkType(rawValue: info.type), programID: info.prog_id)
    }

    private var kindName: String {
        switch kind {
        case .bpfLink: "BPF link"
        case .perfEvent: "perf event with the program set by ioctl"
        case .socketFilter: "socket filter"
        }
    }

    private func closedError(_ what: String) -> BPFError {
        BPFError(.invalidArgument, "cannot \(what) \(description): the link is closed")
    }

    deinit { close() }
}

/// What the kernel reports about a BPF link (`struct bpf_link_info`).
public struct LinkInfo: Sendable, Hashable {
    /// The link's kernel id (as `bpftool link show` lists it).
    public var id: UInt32
    /// The kind of link (`perf_event`, `tracing`, `xdp`…).
    public var type: LinkType
    /// The id of the attached program.
    public var programID: UInt32

    /// Makes an info value.
    public init(id: UInt32, type: LinkType, programID: UInt32) {
        self.id = id
        self.type = type
        self.programID = programID
    }
}

/// The anonymous-inode kind of a BPF descriptor (`bpf-link`, `bpf-map`, `bpf-prog`), from the descriptor's
/// `/proc/self/fd` entry (`anon_inode:bpf-link`); empty when it cannot be read.
func bpfObjectKind(_ fd: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    let length = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
    guard length > 0 else { return "" }
    let text = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let prefix = "anon_inode:"
    return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : ""
}
