/// The `bpf(2)` commands swift-load issues: one table, data, with the kernel's names for error messages.
public enum BPFCommand: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case mapCreate = 0, mapLookupElement, mapUpdateElement, mapDeleteElement, mapGetNextKey, programLoad
    case objectPin, objectGet, programAttach, programDetach, programTestRun, programGetNextID, mapGetNextID
    case programGetFDByID, mapGetFDByID, objectGetInfoByFD, programQuery, rawTracepointOpen, btfLoad
    case btfGetFDByID, taskFDQuery, mapLookupAndDeleteElement, mapFreeze, btfGetNextID, mapLookupBatch
    case mapLookupAndDeleteBatch, mapUpdateBatch, mapDeleteBatch, linkCreate, linkUpdate, linkGetFDByID
    case linkGetNextID, enableStats, iterCreate, linkDetach, programBindMap

    /// The kernel's name (`BPF_MAP_CREATE`).
    public var description: String { Self.names[Int(rawValue)] }

    private static let names = [
        "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
        "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
        "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
        "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY",
        "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
        "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH",
        "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE",
        "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
        "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP",
    ]
}
