import BPFObject
import ByteParsing
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The cgroup v2 filesystem, which cgroup programs attach to (a directory of it is a cgroup).
public enum CgroupV2 {
    /// `CGROUP2_SUPER_MAGIC` (`<linux/magic.h>`): what `statfs` reports for a cgroup v2 directory.
    public static let superMagic = 0x6367_7270
    /// `CGROUP_SUPER_MAGIC`: a cgroup v1 hierarchy, which cgroup programs cannot attach to.
    static let version1Magic = 0x0027_e0eb

    /// Where cgroup v2 is mounted, from `/proc/self/mountinfo`: `/sys/fs/cgroup` on unified systems,
    /// `/sys/fs/cgroup/unified` on hybrid ones. The first mount wins when there are several.
    /// - Throws: ``BPFError`` `.notFound` when no cgroup2 filesystem is mounted.
    public static func mountPoint() throws(BPFError) -> String {
        let path = "/proc/self/mountinfo"
        guard let storage = try? ByteStorage(contentsOf: path, maximumSize: 1 << 24),
              let bytes = storage.view(order: .little).bytes(0, storage.view(order: .little).count) else {
            throw BPFError(.notFound, "cannot read \(path) to find the cgroup v2 mount")
        }
        guard let mount = mountPoints(mountInfo: String(decoding: bytes, as: UTF8.self)).first else {
            throw BPFError(.notFound, "no cgroup v2 filesystem is mounted (mount -t cgroup2 none /sys/fs/cgroup)")
        }
        return mount
    }

    /// The mount points of the cgroup2 filesystems listed in `mountInfo` (the text of
    /// `/proc/PID/mountinfo`), in order. A line is `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…]
    /// - FSTYPE SOURCE SUPEROPTIONS`; the mount point has spaces and backslashes escaped as `\040` octal.
    static func mountPoints(mountInfo: String) -> [String] {
        mountInfo.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 7, let separator = fields.firstIndex(of: "-"), separator >= 6,
                  separator + 1 < fields.endIndex, fields[separator + 1] == "cgroup2" else { return nil }
            return SystemFacts.unescapeMountPath(fields[4])
        }
    }

    /// The program type the kernel requires on cgroup hook `attachType` (the kernel's
    /// `attach_type_to_prog_type`); nil when `attachType` is not a cgroup hook.
    public static func programType(for attachType: AttachType) -> ProgramType? {
        switch attachType {
        case .cgroupInetIngress, .cgroupInetEgress: .cgroupSKB
        case .cgroupInetSockCreate, .cgroupInetSockRelease, .cgroupInet4PostBind, .cgroupInet6PostBind: .cgroupSock
        case .cgroupInet4Bind, .cgroupInet6Bind, .cgroupInet4Connect, .cgroupInet6Connect,
             .cgroupUDP4Sendmsg, .cgroupUDP6Sendmsg, .cgroupUDP4Recvmsg, .cgroupUDP6Recvmsg,
             .cgroupInet4Getpeername, .cgroupInet6Getpeername, .cgroupInet4Getsockname, .cgroupInet6Getsockname,
             .cgroupUnixConnect, .cgroupUnixSendmsg, .cgroupUnixRecvmsg, .cgroupUnixGetpeername,
             .cgroupUnixGetsockname: .cgroupSockAddr
        case .cgroupSockOps: .sockOps
        case .cgroupDevice: .cgroupDevice
        case .cgroupSysctl: .cgroupSysctl
        case .cgroupGetsockopt, .cgroupSetsockopt: .cgroupSockopt
        case .lsmCgroup: .lsm
        default: nil
        }
    }

    /// The program types that attach to cgroups (``programType(for:)``'s answers, `lsm` aside: most LSM
    /// programs attach to the whole system).
    public static let programTypes: [ProgramType] = [.cgroupSKB, .cgroupSock, .cgroupSockAddr, .sockOps, .cgroupDevice,
                                                     .cgroupSysctl, .cgroupSockopt]
}

extension Program {
    /// Attaches this cgroup program to the cgroup v2 directory `path` through a BPF link (`BPF_LINK_CREATE`
    /// with the cgroup's descriptor, kernel 5.7). The program then runs for every process in that cgroup
    /// and its descendants, alongside the other programs on the hook (links attach as
    /// `BPF_F_ALLOW_MULTI`). Closing the link detaches it.
    ///
    /// - Parameters:
    ///   - path: a directory of the cgroup v2 filesystem (see ``CgroupV2/mountPoint()``), e.g.
    ///     `/sys/fs/cgroup/my.slice`.
    ///   - attachType: the hook (`cgroupInetIngress`, `cgroupInet4Connect`…); nil means the program's
    ///     expected attach type, or the hook its section names.
    /// - Returns: the attachment (a pinnable BPF link) with target `SECTION:PATH` (`cgroup_skb/ingress:/sys/fs/cgroup/x`).
    /// - Throws: ``BPFError`` `.notFound` when `path` does not exist, `.invalidArgument` when it is not a
    ///   cgroup v2 directory, when the hook is not a cgroup hook or takes another program type, or when no
    ///   hook is known; `.permission` without root or when the cgroup forbids more programs on the hook.
    public func attachCgroup(path: String, attachType: AttachType? = nil) throws(BPFError) -> Link {
        guard let hook = attachType ?? programCgroupHook else {
            guard CgroupV2.programTypes.contains(type) else {
                throw BPFError(.invalidArgument, "cannot attach program \(name) to cgroup \(path): it is a \(type) program, and cgroups take cgroup programs (\(CgroupV2.programTypes.map(\.description).joined(separator: ", ")))")
            }
            throw BPFError(.invalidArgument, "cannot attach program \(name) to cgroup \(path): the program was loaded without a cgroup attach type and its section (\(sectionName.isEmpty ? "unknown" : sectionName)) names no cgroup hook; pass the attach type (e.g. cgroup_inet_ingress)")
        }
        let target = AttachTarget.cgroup(attachType: hook, path: path).description
        guard let required = CgroupV2.programType(for: hook) else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to cgroup \(path): \(hook) is not a cgroup attach type")
        }
        guard type == required else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it is a \(type) program, and the \(hook) hook takes \(required) programs")
        }
        let cgroup = try Self.openCgroup(path, for: "attaching program \(name) to \(target)")
        var attr = Self.cgroupLinkAttributes(program: descriptor.rawValue, cgroup: cgroup.rawValue, attachType: hook)
        switch SystemCall.linkCreate(&attr) {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: name, target: target)
        case .failure(let errno):
            throw Self.cgroupRefusal(errno, program: name, target: target, hook: hook, loadedFor: expectedAttachType,
                                     isRoot: geteuid() == 0)
        }
    }

    /// The cgroup hook this program was loaded for (its expected attach type), or else the one its section
    /// names; nil when neither is a cgroup hook.
    private var programCgroupHook: AttachType? {
        if let expectedAttachType, CgroupV2.programType(for: expectedAttachType) != nil { return expectedAttachType }
        if case .cgroup(let attachType, _)? = attachTarget { return attachType }
        return nil
    }

    /// Opens cgroup directory `path` (`O_RDONLY | O_DIRECTORY`) and checks it is on cgroup v2.
    static func openCgroup(_ path: String, for what: String) throws(BPFError) -> OwnedFileDescriptor {
        let raw = path.withCString { cbpf_net_open_directory($0) }
        guard raw >= 0 else {
            let failure = Errno(rawValue: -raw)
            var error = BPFError(errno: failure, command: nil, "\(what): opening \(path)")
            switch failure {
            case .noSuchFileOrDirectory:
                error.message = "\(what): no cgroup \(path) (no such directory)\(mountHint)"
            case .notDirectory:
                error.code = .invalidArgument
                error.message = "\(what): \(path) is not a directory, so not a cgroup\(mountHint)"
            default: break
            }
            throw error
        }
        let cgroup = try OwnedFileDescriptor(adopting: raw)
        var fileSystemMagic: Int64 = 0
        let stated = cbpf_net_filesystem_magic(cgroup.rawValue, &fileSystemMagic)
        guard stated == 0 else {
            throw BPFError(errno: Errno(rawValue: -stated), command: nil, "\(what): statfs of \(path)")
        }
        let magic = Int(fileSystemMagic)
        guard magic == CgroupV2.superMagic else {
            let what = "\(what): \(path) is not a cgroup v2 directory"
            let found = magic == CgroupV2.version1Magic ? " (it is in a cgroup v1 hierarchy)" : " (its filesystem magic is 0x\(String(UInt32(truncatingIfNeeded: magic), radix: 16)))"
            throw BPFError(.invalidArgument, what + found + mountHint)
        }
        return cgroup
    }

    /// `; cgroup v2 is mounted at PATH`, or nothing when it is not mounted.
    private static var mountHint: String {
        (try? CgroupV2.mountPoint()).map { "; cgroup v2 is mounted at \($0)" } ?? "; no cgroup v2 filesystem is mounted"
    }

    /// The `BPF_LINK_CREATE` attributes of a cgroup link: program, the cgroup directory's descriptor,
    /// the hook, no flags.
    static func cgroupLinkAttributes(program: Int32, cgroup: Int32, attachType: AttachType) -> cbpf_link_create_attr {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: program)
        attr.target = UInt32(bitPattern: cgroup)
        attr.attach_type = attachType.rawValue
        attr.flags = 0
        return attr
    }

    /// The error for a refused cgroup link.
    static func cgroupRefusal(_ errno: Errno, program: String, target: String, hook: AttachType,
                              loadedFor: AttachType?, isRoot: Bool) -> BPFError {
        let what = "attaching program \(program) to \(target)"
        var error = BPFError(errno: errno, command: .linkCreate, what)
        switch errno {
        case .invalidArgument:
            if let loadedFor, loadedFor != hook {
                error.message = "\(what): the program was loaded for the \(loadedFor) hook, and the kernel refuses it on \(hook) (EINVAL)"
            }
        case .notPermitted where isRoot:
            // Root gets EPERM when the hook holds a program attached without BPF_F_ALLOW_MULTI, or an
            // ancestor forbids overriding.
            error.code = .kernel
            error.message = "\(what): the cgroup's \(hook) hook (or an ancestor's) holds a program attached without BPF_F_ALLOW_MULTI, which admits no other (EPERM)"
        default: break
        }
        return error
    }
}
