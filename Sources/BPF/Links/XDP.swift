import BPFObject
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which of an interface's XDP hooks a program attaches to (the `XDP_FLAGS_*` mode bits of
/// `<linux/if_link.h>`). An interface has one hook per mode, and each hook holds one program.
public enum XDPMode: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No mode bit: the kernel picks native when the driver has it, generic otherwise.
    case automatic
    /// Generic XDP (`XDP_FLAGS_SKB_MODE`): runs after the socket buffer is built; works on every interface.
    case generic
    /// Native XDP (`XDP_FLAGS_DRV_MODE`): runs in the driver before any allocation; needs driver support.
    case native
    /// Offloaded XDP (`XDP_FLAGS_HW_MODE`): runs on the NIC; needs a program loaded for that device.
    case offload

    /// The mode bit sent in `BPF_LINK_CREATE`'s flags.
    public var flags: UInt32 {
        switch self {
        case .automatic: 0
        case .generic: 1 << 1
        case .native: 1 << 2
        case .offload: 1 << 3
        }
    }

    /// Looks a mode up by the names `ip link` and libbpf use: `auto`/`automatic`, `skb`/`generic`,
    /// `drv`/`native`, `hw`/`offload`.
    public init?(name: some StringProtocol) {
        switch name {
        case "auto", "automatic": self = .automatic
        case "skb", "generic": self = .generic
        case "drv", "native": self = .native
        case "hw", "offload": self = .offload
        default: return nil
        }
    }

    /// `automatic`, `generic`, `native` or `offload`.
    public var description: String {
        switch self {
        case .automatic: "automatic"
        case .generic: "generic"
        case .native: "native"
        case .offload: "offload"
        }
    }
}

/// A network interface of this process's network namespace, as attach targets name it: by name (`eth0`)
/// or by decimal index (`2`).
public struct NetworkInterface: Sendable, Hashable, CustomStringConvertible {
    /// The interface's name.
    public let name: String
    /// The interface's index (`ip link` prints it first).
    public let index: UInt32

    /// Finds the interface `nameOrIndex` names; nil when there is none. All-digit text is an index.
    public init?(_ nameOrIndex: String) {
        if !nameOrIndex.isEmpty, nameOrIndex.utf8.count <= 10, nameOrIndex.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
           let index = UInt32(nameOrIndex), index != 0 {
            var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
            guard if_indextoname(index, &buffer) != nil else { return nil }
            let length = buffer.firstIndex(of: 0) ?? buffer.count
            self.name = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            self.index = index
            return
        }
        // Longer names cannot exist (IFNAMSIZ), and if_nametoindex would not look at the rest.
        guard !nameOrIndex.isEmpty, nameOrIndex.utf8.count < Int(IF_NAMESIZE) else { return nil }
        let index = if_nametoindex(nameOrIndex)
        guard index != 0 else { return nil }
        self.name = nameOrIndex
        self.index = index
    }

    /// Why ``init(_:)`` found nothing, for messages: `no network interface "eth9"` or
    /// `no network interface with index 42`.
    static func missing(_ nameOrIndex: String) -> String {
        if !nameOrIndex.isEmpty, nameOrIndex.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            return "no network interface with index \(nameOrIndex)"
        }
        return "no network interface \"\(nameOrIndex)\""
    }

    /// The name.
    public var description: String { name }
}

extension Program {
    /// Attaches this XDP program to network interface `interface` through a BPF link (`BPF_LINK_CREATE`
    /// with `BPF_XDP` and the interface index, kernel 5.9). The program then sees every packet the
    /// interface receives, before the network stack; closing the link detaches it.
    ///
    /// - Parameters:
    ///   - interface: the interface's name (`eth0`) or decimal index (`2`).
    ///   - mode: which XDP hook; ``XDPMode/automatic`` lets the kernel pick native or generic.
    /// - Returns: the attachment (a pinnable BPF link) with target `xdp/NAME`.
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not an XDP program (or is a devmap/cpumap
    ///   entry program), `.notFound` when there is no such interface, `.kernel` when the interface already
    ///   has an XDP program in that mode, `.unsupported` when the driver lacks the mode.
    public func attachXDP(interface: String, mode: XDPMode = .automatic) throws(BPFError) -> Link {
        var target = AttachTarget.xdp(interface: interface).description
        guard type == .xdp else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it is a \(type) program, and interfaces take XDP programs (SEC(\"xdp\"))")
        }
        if let expected = expectedAttachType, expected == .xdpDevmap || expected == .xdpCpumap {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it was loaded for \(expected == .xdpDevmap ? "devmap" : "cpumap") entries (\(expected)), which are stored in a map, not attached to an interface")
        }
        guard let device = NetworkInterface(interface) else {
            throw BPFError(.notFound, "cannot attach program \(name) to \(target): \(NetworkInterface.missing(interface))")
        }
        target = AttachTarget.xdp(interface: device.name).description
        var attr = Self.xdpLinkAttributes(program: descriptor.rawValue, interfaceIndex: device.index, mode: mode)
        switch SystemCall.linkCreate(&attr) {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: name, target: target)
        case .failure(let errno):
            // Only a busy hook needs the walk over the kernel's links that finds who holds it.
            let busy = errno == .resourceBusy || errno == .fileExists
            throw Self.xdpRefusal(errno, program: name, interface: device, mode: mode,
                                  holder: busy ? Self.xdpLinkHolder(interfaceIndex: device.index) : nil)
        }
    }

    /// The `BPF_LINK_CREATE` attributes of an XDP link: program, interface index, `BPF_XDP`, the mode bit.
    static func xdpLinkAttributes(program: Int32, interfaceIndex: UInt32, mode: XDPMode) -> cbpf_link_create_attr {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: program)
        attr.target = interfaceIndex
        attr.attach_type = AttachType.xdp.rawValue
        attr.flags = mode.flags
        return attr
    }

    /// The error for a refused XDP link: a busy hook, a mode the driver lacks, or the kernel's errno.
    /// `holder` names the link that already holds the interface's XDP hook, when one was found.
    static func xdpRefusal(_ errno: Errno, program: String, interface: NetworkInterface, mode: XDPMode,
                           holder: String?) -> BPFError {
        let what = "attaching program \(program) to \(AttachTarget.xdp(interface: interface.name))"
        var error = BPFError(errno: errno, command: .linkCreate, what)
        switch errno {
        case .resourceBusy, .fileExists:
            // EBUSY: the hook of that mode holds a program (through a link or netlink); EEXIST: the other
            // of native/generic holds one, or an upper device (a bond) has one.
            let held = holder.map { " (\($0))" } ?? (errno == .fileExists ? " in the other mode or on an upper device" : "")
            error.message = "cannot attach program \(program) to interface \(interface.name): the interface already has an XDP program\(held); each XDP hook holds one program, so detach that one first (\(errno.symbolicName))"
            if holder == nil {
                error.details.append("a program attached through netlink is removed with `ip link set dev \(interface.name) xdp off`")
            }
        case .notSupported where mode == .native || mode == .offload:
            error.code = .unsupported
            error.message = "\(what): the driver of \(interface.name) has no \(mode) XDP (EOPNOTSUPP); use generic mode"
        case .invalidArgument where mode == .offload:
            error.message = "\(what): offloaded XDP needs a NIC that offloads XDP and a program loaded for that device (EINVAL)"
        default:
            break
        }
        return error
    }

    /// `link ID, program ID` of the XDP link on interface `interfaceIndex`, found by walking the kernel's
    /// links; nil when none is (the hook may then be held through netlink).
    static func xdpLinkHolder(interfaceIndex: UInt32) -> String? {
        for id in SystemCall.allIDs(of: .link) {
            guard case .success(let raw) = SystemCall.descriptor(of: .link, id: id),
                  let link = try? OwnedFileDescriptor(adopting: Int32(raw)) else { continue }
            var info = bpf_link_info()
            guard case .success = SystemCall.objectInfo(link.rawValue, &info) else { continue }
            if LinkType(rawValue: info.type) == .xdp && info.xdp.ifindex == interfaceIndex {
                return "XDP link \(info.id) holds program \(info.prog_id)"
            }
        }
        return nil
    }
}
