import CBPF
import SystemPackage

/// The kinds of kernel object that have ids, for the id walks and lookups.
public enum KernelObjectKind: Sendable, Hashable, CaseIterable {
    /// Programs.
    case program
    /// Maps.
    case map
    /// BTF objects.
    case btf
    /// Links.
    case link

    var nextIDCommand: BPFCommand {
        switch self {
        case .program: .programGetNextID
        case .map: .mapGetNextID
        case .btf: .btfGetNextID
        case .link: .linkGetNextID
        }
    }

    var descriptorByIDCommand: BPFCommand {
        switch self {
        case .program: .programGetFDByID
        case .map: .mapGetFDByID
        case .btf: .btfGetFDByID
        case .link: .linkGetFDByID
        }
    }
}

/// One typed function per pinning, id and info command.
extension SystemCall {
    /// Pins the object behind `fd` at `path` in a bpffs mount. The corresponding kernel command is
    /// `BPF_OBJ_PIN`.
    public static func objectPin(_ fd: Int32, path: String) -> Result<Void, Errno> {
        path.withCString { name in
            var attr = cbpf_obj_attr(pathname: kernelPointer(name), bpf_fd: UInt32(bitPattern: fd), file_flags: 0)
            return bpf(.objectPin, &attr).map { _ in }
        }
    }

    /// Opens the object pinned at `path`; the result is a new descriptor. The corresponding kernel command
    /// is `BPF_OBJ_GET`.
    public static func objectGet(path: String, flags: UInt32 = 0) -> Result<Int, Errno> {
        path.withCString { name in
            var attr = cbpf_obj_attr(pathname: kernelPointer(name), bpf_fd: 0, file_flags: flags)
            return bpf(.objectGet, &attr)
        }
    }

    /// The id after `id` of the given kind (0 starts the walk); `ENOENT` after the last. The corresponding
    /// kernel commands are `BPF_PROG_GET_NEXT_ID`, `BPF_MAP_GET_NEXT_ID`, `BPF_BTF_GET_NEXT_ID` and
    /// `BPF_LINK_GET_NEXT_ID`.
    public static func nextID(of kind: KernelObjectKind, after id: UInt32) -> Result<UInt32, Errno> {
        var attr = cbpf_id_attr(id: id, next_id: 0, open_flags: 0)
        return bpf(kind.nextIDCommand, &attr).map { _ in attr.next_id }
    }

    /// Opens the object with `id`; the result is a new descriptor. The corresponding kernel commands are
    /// `BPF_PROG_GET_FD_BY_ID`, `BPF_MAP_GET_FD_BY_ID`, `BPF_BTF_GET_FD_BY_ID` and `BPF_LINK_GET_FD_BY_ID`.
    public static func descriptor(of kind: KernelObjectKind, id: UInt32) -> Result<Int, Errno> {
        var attr = cbpf_id_attr(id: id, next_id: 0, open_flags: 0)
        return bpf(kind.descriptorByIDCommand, &attr)
    }

    /// Fills `info` (a `bpf_prog_info`, `bpf_map_info`, `bpf_btf_info` or `bpf_link_info`) for the object
    /// behind `fd`. The corresponding kernel command is `BPF_OBJ_GET_INFO_BY_FD`.
    public static func objectInfo<Info>(_ fd: Int32, _ info: inout Info) -> Result<Void, Errno> {
        withUnsafeMutableBytes(of: &info) { buffer in
            var attr = cbpf_info_attr(bpf_fd: UInt32(bitPattern: fd), info_len: UInt32(buffer.count),
                                      info: kernelPointer(buffer.baseAddress))
            return bpf(.objectGetInfoByFD, &attr).map { _ in }
        }
    }

    /// Every id of `kind` currently in the kernel, by walking the id space.
    public static func allIDs(of kind: KernelObjectKind) -> [UInt32] {
        var ids: [UInt32] = []
        var id: UInt32 = 0
        while case .success(let next) = nextID(of: kind, after: id) {
            ids.append(next)
            id = next
        }
        return ids
    }
}
