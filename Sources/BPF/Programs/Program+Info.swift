import BPFObject
import ByteParsing
import CBPF
import SystemPackage

/// What the kernel says about a loaded program (`struct bpf_prog_info`).
public struct ProgramInfo: Sendable, Hashable {
    /// The program's kernel id (what `bpftool prog show` lists).
    public var id: UInt32
    /// The program's tag: a hash of its instructions, as 16 lower-case hex digits (bpftool's `tag`).
    public var tag: String
    /// The program type.
    public var type: ProgramType
    /// The kernel's copy of the name (at most 15 bytes).
    public var name: String
    /// Instructions the verifier processed (`verified_insns`; 0 on kernels before 5.16).
    public var verifiedInstructions: UInt32
    /// Total run time in nanoseconds; counted only while statistics are on
    /// (``Program/enableStatistics()`` or the `kernel.bpf_stats_enabled` sysctl).
    public var runTimeNanoseconds: UInt64
    /// Number of runs; counted only while statistics are on.
    public var runCount: UInt64
    /// Runs skipped because the program was already running on the CPU (recursion).
    public var recursionMisses: UInt64
    /// When the program was loaded, as time since boot (`CLOCK_BOOTTIME`).
    public var loadTime: Duration
    /// The user id that loaded it.
    public var createdByUID: UInt32
    /// Ids of the maps the program uses (its own references and bound maps).
    public var mapIDs: [UInt32]
    /// Id of the program's BTF object (0 without).
    public var btfID: UInt32
    /// Bytes of instructions after the verifier's rewriting (`xlated_prog_len`).
    public var translatedSize: Int
    /// Bytes of JIT-compiled machine code (`jited_prog_len`; 0 when not JIT-compiled).
    public var jitedSize: Int
    /// Whether the license is GPL-compatible (GPL-only helpers are available).
    public var isGPLCompatible: Bool
    /// BTF id the program attaches to (fentry, tp_btf, lsm…; 0 otherwise).
    public var attachBTFID: UInt32
    /// Id of the BTF object `attachBTFID` is in (0 for vmlinux or none).
    public var attachBTFObjectID: UInt32
}

extension Program {
    /// The kernel's description of the program: id, tag, type, name, verified instruction count, run-time
    /// statistics, load time, map ids, BTF id. Two calls: the first learns how many maps the program uses,
    /// the second fetches their ids. The corresponding kernel command is `BPF_OBJ_GET_INFO_BY_FD`.
    public func info() throws(BPFError) -> ProgramInfo {
        try Program.info(of: descriptor.rawValue, "program \(name)")
    }

    /// The program's kernel id alone (one `BPF_OBJ_GET_INFO_BY_FD`, no map ids, nothing decoded): what
    /// the run command's `attached` line shows.
    public func kernelID() throws(BPFError) -> UInt32 {
        try Program.fixedInfo(of: descriptor.rawValue, "program \(name)").id
    }

    /// The fixed part of `bpf_prog_info` (no map ids), from one `BPF_OBJ_GET_INFO_BY_FD`.
    private static func fixedInfo(of fd: Int32, _ what: String) throws(BPFError) -> bpf_prog_info {
        var raw = bpf_prog_info()
        if case .failure(let errno) = SystemCall.objectInfo(fd, &raw) {
            throw BPFError(errno: errno, command: .objectGetInfoByFD, "reading the info of \(what)")
        }
        return raw
    }

    private static func info(of fd: Int32, _ what: String) throws(BPFError) -> ProgramInfo {
        var raw = try fixedInfo(of: fd, what)
        var mapIDs: [UInt32] = []
        // Maps can be bound between the calls: retry while the count grows, keep what fits.
        for _ in 0..<4 where raw.nr_map_ids > 0 {
            let wanted = Int(raw.nr_map_ids)
            mapIDs = [UInt32](repeating: 0, count: wanted)
            var second = bpf_prog_info()
            let result = mapIDs.withUnsafeMutableBytes { buffer in
                second.nr_map_ids = UInt32(wanted)
                second.map_ids = kernelPointer(buffer.baseAddress)
                return SystemCall.objectInfo(fd, &second)
            }
            if case .failure(let errno) = result {
                throw BPFError(errno: errno, command: .objectGetInfoByFD, "reading the map ids of \(what)")
            }
            let available = Int(second.nr_map_ids)
            raw = second
            if available <= wanted {
                mapIDs.removeLast(wanted - available)
                break
            }
        }
        let tag = withUnsafeBytes(of: raw.tag) { Hex.lowercase($0) }
        return ProgramInfo(
            id: raw.id, tag: tag, type: ProgramType(rawValue: raw.type),
            name: withUnsafeBytes(of: raw.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) },
            verifiedInstructions: raw.verified_insns, runTimeNanoseconds: raw.run_time_ns, runCount: raw.run_cnt,
            recursionMisses: raw.recursion_misses, loadTime: .nanoseconds(Int64(clamping: raw.load_time)),
            createdByUID: raw.created_by_uid, mapIDs: mapIDs, btfID: raw.btf_id,
            translatedSize: Int(raw.xlated_prog_len), jitedSize: Int(raw.jited_prog_len),
            isGPLCompatible: raw.gpl_compatible != 0, attachBTFID: raw.attach_btf_id,
            attachBTFObjectID: raw.attach_btf_obj_id)
    }

    /// Turns on run-time statistics (``ProgramInfo/runTimeNanoseconds``, ``ProgramInfo/runCount``) for
    /// every program in the system while the returned descriptor stays open; close it (release it) to turn
    /// them off again. Statistics cost a little time on every run. The corresponding kernel command is
    /// `BPF_ENABLE_STATS`.
    /// - Throws: ``BPFError`` when the kernel refuses (not root: `EPERM`).
    public static func enableStatistics() throws(BPFError) -> OwnedFileDescriptor {
        switch SystemCall.enableStatistics() {
        case .success(let fd): return try OwnedFileDescriptor(adopting: Int32(fd))
        case .failure(let errno): throw BPFError(errno: errno, command: .enableStats, "enabling program run-time statistics")
        }
    }

    /// Pins the program at `path` in a bpf filesystem, so it stays loaded after this process;
    /// ``pinnedPath`` becomes `path`. The corresponding kernel command is `BPF_OBJ_PIN`.
    /// - Throws: ``BPFError`` `.pinning` when the path exists, its directory is missing, or it is not on
    ///   bpffs.
    public func pin(at path: String) throws(BPFError) {
        try PinnedObjectFiles.pin(descriptor.rawValue, at: path, "program \(name)")
        pinnedPath = path
    }

    /// Removes the pin made by ``pin(at:)`` (or the one the program was opened from); the program stays
    /// loaded while this object, a link or anything else holds it. Does nothing when it is not pinned.
    public func unpin() throws(BPFError) {
        guard let path = pinnedPath else { return }
        try PinnedObjectFiles.unpin(path, "program \(name)")
        pinnedPath = nil
    }

    /// Opens the program pinned at `path`, with its type and name from the kernel's info (the section
    /// name and expected attach type are not known). The corresponding kernel command is `BPF_OBJ_GET`.
    /// - Throws: ``BPFError`` when nothing is pinned there, or the pinned object is not a program.
    public static func open(pinnedAt path: String) throws(BPFError) -> Program {
        let program = try Program(describing: try PinnedObjectFiles.open(path, kind: "bpf-prog", "program"))
        program.pinnedPath = path
        return program
    }

    /// Opens the program with kernel id `id`, as ``open(pinnedAt:)`` does. The corresponding kernel
    /// command is `BPF_PROG_GET_FD_BY_ID`.
    public static func open(id: UInt32) throws(BPFError) -> Program {
        try Program(describing: try PinnedObjectFiles.open(id: id, kind: .program, "program"))
    }

    /// A program for an already open descriptor: type and name from the kernel's info.
    convenience init(describing fd: OwnedFileDescriptor) throws(BPFError) {
        let info = try Program.info(of: fd.rawValue, "program")
        self.init(descriptor: fd, name: info.name, sectionName: "", type: info.type, expectedAttachType: nil)
    }
}
