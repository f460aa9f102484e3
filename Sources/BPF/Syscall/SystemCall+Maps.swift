import CBPF
import SystemPackage

/// One typed function per map command. Element commands take raw buffers (the caller sized them from the
/// map's key and value sizes) and return the errno instead of throwing, because `ENOENT` is an answer,
/// not a failure, on these hot paths.
extension SystemCall {
    /// Creates a map. The corresponding kernel command is `BPF_MAP_CREATE`.
    public static func mapCreate(_ attr: inout cbpf_map_create_attr) -> Result<Int, Errno> {
        bpf(.mapCreate, &attr)
    }

    /// Copies the value of `key` into `value`. The corresponding kernel command is `BPF_MAP_LOOKUP_ELEM`.
    public static func mapLookupElement(_ fd: Int32, key: UnsafeRawPointer?, value: UnsafeMutableRawPointer,
                                        flags: UInt64 = 0) -> Result<Void, Errno> {
        elementCommand(.mapLookupElement, fd, key, UnsafeRawPointer(value), flags)
    }

    /// Creates or replaces the value of `key`. The corresponding kernel command is `BPF_MAP_UPDATE_ELEM`.
    public static func mapUpdateElement(_ fd: Int32, key: UnsafeRawPointer?, value: UnsafeRawPointer,
                                        flags: UInt64 = 0) -> Result<Void, Errno> {
        elementCommand(.mapUpdateElement, fd, key, value, flags)
    }

    /// Deletes `key`. The corresponding kernel command is `BPF_MAP_DELETE_ELEM`.
    public static func mapDeleteElement(_ fd: Int32, key: UnsafeRawPointer?, flags: UInt64 = 0) -> Result<Void, Errno> {
        elementCommand(.mapDeleteElement, fd, key, nil, flags)
    }

    /// Writes the key after `key` (the first key when `key` is nil) into `nextKey`; `ENOENT` after the last.
    /// The corresponding kernel command is `BPF_MAP_GET_NEXT_KEY`.
    public static func mapGetNextKey(_ fd: Int32, key: UnsafeRawPointer?, nextKey: UnsafeMutableRawPointer) -> Result<Void, Errno> {
        elementCommand(.mapGetNextKey, fd, key, UnsafeRawPointer(nextKey), 0)
    }

    /// Copies the value of `key` into `value` and deletes it (for queues and stacks `key` is nil: pop).
    /// The corresponding kernel command is `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    public static func mapLookupAndDeleteElement(_ fd: Int32, key: UnsafeRawPointer?, value: UnsafeMutableRawPointer,
                                                 flags: UInt64 = 0) -> Result<Void, Errno> {
        elementCommand(.mapLookupAndDeleteElement, fd, key, UnsafeRawPointer(value), flags)
    }

    /// Makes the map read-only for user space from now on. The corresponding kernel command is
    /// `BPF_MAP_FREEZE`.
    public static func mapFreeze(_ fd: Int32) -> Result<Void, Errno> {
        elementCommand(.mapFreeze, fd, nil, nil, 0)
    }

    /// One of the four batch commands (`BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
    /// `BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH`); on return `attr.count` holds how many elements were
    /// processed, also on failure.
    public static func mapBatch(_ command: BPFCommand, _ attr: inout cbpf_map_batch_attr) -> Result<Void, Errno> {
        precondition([.mapLookupBatch, .mapLookupAndDeleteBatch, .mapUpdateBatch, .mapDeleteBatch].contains(command))
        return bpf(command, &attr).map { _ in }
    }

    private static func elementCommand(_ command: BPFCommand, _ fd: Int32, _ key: UnsafeRawPointer?,
                                       _ value: UnsafeRawPointer?, _ flags: UInt64) -> Result<Void, Errno> {
        var attr = cbpf_map_elem_attr()
        attr.map_fd = UInt32(bitPattern: fd)
        attr.key = kernelPointer(key)
        attr.value = kernelPointer(value)
        attr.flags = flags
        return bpf(command, &attr).map { _ in }
    }
}
