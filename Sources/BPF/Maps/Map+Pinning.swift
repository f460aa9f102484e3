import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Pinning shared by maps and programs: `BPF_OBJ_PIN`, `BPF_OBJ_GET`, and removing a pin (an unlink).
enum PinnedObjectFiles {
    /// What an open descriptor refers to, from `/proc/self/fd`: `bpf-map`, `bpf-prog`, `bpf-link`,
    /// `bpf_btf`…; nil when it is no anonymous BPF inode or `/proc` is not mounted.
    static func anonymousKind(of fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let target = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let prefix = "anon_inode:"
        guard target.hasPrefix(prefix) else { return nil }
        return String(target.dropFirst(prefix.count))
    }

    /// Pins the object behind `fd` at `path`; `what` names it in errors ("map counts").
    static func pin(_ fd: Int32, at path: String, _ what: String) throws(BPFError) {
        guard case .failure(let errno) = SystemCall.objectPin(fd, path: path) else { return }
        var error = BPFError(errno: errno, command: .objectPin, "pinning \(what) at \(path)")
        error.code = .pinning
        switch errno {
        case .fileExists: error.details.append("something is already pinned there; unpin it or choose another path")
        case .noSuchFileOrDirectory: error.details.append("the directory does not exist")
        case .notPermitted: error.details.append("the directory is not in a bpf filesystem (mount -t bpf bpf /sys/fs/bpf), or the process lacks privilege")
        default: break
        }
        throw error
    }

    /// Removes the pin at `path` (the object lives on while descriptors or links hold it). A pin already
    /// gone is not an error.
    static func unpin(_ path: String, _ what: String) throws(BPFError) {
        guard unlink(path) != 0 else { return }
        let code = Errno(rawValue: errno)
        guard code != .noSuchFileOrDirectory else { return }
        var error = BPFError(errno: code, command: nil, "unpinning \(what) at \(path)")
        error.code = .pinning
        throw error
    }

    /// Opens the object pinned at `path`, checking that it is a `kind` (`bpf-map`, `bpf-prog`).
    static func open(_ path: String, kind: String, _ what: String) throws(BPFError) -> OwnedFileDescriptor {
        let fd: OwnedFileDescriptor
        switch SystemCall.objectGet(path: path) {
        case .success(let raw): fd = try OwnedFileDescriptor(adopting: Int32(raw))
        case .failure(let errno):
            var error = BPFError(errno: errno, command: .objectGet, "opening the \(what) pinned at \(path)")
            if errno == .notPermitted { error.details.append("the path is not in a bpf filesystem, or the process lacks privilege") }
            throw error
        }
        if let actual = anonymousKind(of: fd.rawValue), actual != kind {
            throw BPFError(.invalidArgument, "\(path) is a pinned \(actual), not a \(kind)")
        }
        return fd
    }

    /// Opens the object of `kind` with `id`.
    static func open(id: UInt32, kind: KernelObjectKind, _ what: String) throws(BPFError) -> OwnedFileDescriptor {
        switch SystemCall.descriptor(of: kind, id: id) {
        case .success(let raw): return try OwnedFileDescriptor(adopting: Int32(raw))
        case .failure(let errno):
            throw BPFError(errno: errno, command: kind.descriptorByIDCommand, "opening \(what) id \(id)")
        }
    }
}

extension Map {
    /// Pins the map at `path` in a bpf filesystem (e.g. `/sys/fs/bpf/counts`), so it outlives this process;
    /// ``pinnedPath`` becomes `path`. The corresponding kernel command is `BPF_OBJ_PIN`.
    /// - Throws: ``BPFError`` `.pinning` when the path exists, its directory is missing, or it is not on
    ///   bpffs.
    public func pin(at path: String) throws(BPFError) {
        try PinnedObjectFiles.pin(descriptor.rawValue, at: path, "map \(name)")
        pinnedPath = path
    }

    /// Removes the pin made by ``pin(at:)`` (or the one the map was opened from); the map itself stays
    /// while this object or anything else holds it. Does nothing when the map is not pinned.
    public func unpin() throws(BPFError) {
        guard let path = pinnedPath else { return }
        try PinnedObjectFiles.unpin(path, "map \(name)")
        pinnedPath = nil
    }

    /// Opens the map pinned at `path`, reading its shape from the kernel (``info()``) and its key and value
    /// types from its BTF when it has some. The corresponding kernel command is `BPF_OBJ_GET`.
    /// - Throws: ``BPFError`` when nothing is pinned there, or the pinned object is not a map.
    public static func open(pinnedAt path: String) throws(BPFError) -> Map {
        let fd = try PinnedObjectFiles.open(path, kind: "bpf-map", "map")
        let map = try Map(describing: fd)
        map.pinnedPath = path
        return map
    }

    /// Opens the map with kernel id `id`, reading its shape as ``open(pinnedAt:)`` does. The corresponding
    /// kernel command is `BPF_MAP_GET_FD_BY_ID`.
    public static func open(id: UInt32) throws(BPFError) -> Map {
        try Map(describing: try PinnedObjectFiles.open(id: id, kind: .map, "map"))
    }
}
