import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// bpffs: where maps, programs and links are pinned. Pins only work on a bpf filesystem, which this
/// machine's kernel does not mount at boot (KERNEL.md), so the loader mounts it at `/sys/fs/bpf` when
/// missing and it has the privilege, as bpftool does.
public enum BPFFileSystem {
    /// `BPF_FS_MAGIC` from `<linux/magic.h>`.
    static let magic: UInt = 0xcafe_4a11

    /// Whether `path` lies on a bpf filesystem.
    public static func isBPFFileSystem(_ path: String) -> Bool {
        UInt(truncatingIfNeeded: cbpf_filesystem_magic(path)) == magic
    }

    /// Makes `directory` usable for pins: mounts bpffs at `/sys/fs/bpf` when the directory is (under) it and
    /// nothing is mounted, then creates missing directories.
    /// - Throws: ``BPFError`` with code `.pinning` naming the directory and what is wrong.
    public static func prepare(_ directory: String) throws(BPFError) {
        let root = LoadOptions.defaultPinDirectory
        if (directory == root || directory.hasPrefix(root + "/")) && !isBPFFileSystem(root) {
            guard mount("bpf", root, "bpf", 0, nil) == 0 else {
                let errno = Errno(rawValue: Glibc.errno)
                throw BPFError(.pinning, "\(root) is not a bpf filesystem and mounting one failed: \(errno.symbolicName) (\(errno)); run as root or mount it: mount -t bpf bpf \(root)", errno: errno)
            }
        }
        try makeDirectories(directory)
        guard isBPFFileSystem(directory) else {
            throw BPFError(.pinning, "\(directory) is not on a bpf filesystem: pins need bpffs (mount -t bpf bpf DIR)")
        }
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws(BPFError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && Glibc.errno != EEXIST {
                let errno = Errno(rawValue: Glibc.errno)
                throw BPFError(.pinning, "cannot create pin directory \(prefix): \(errno.symbolicName) (\(errno))", errno: errno)
            }
        }
    }

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
