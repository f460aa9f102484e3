import BPFObject
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Program {
    /// Attaches this socket filter program to every packet on network interface `interface`, in both
    /// directions: opens a raw packet socket (`AF_PACKET`, every protocol), attaches the program with
    /// `SO_ATTACH_BPF`, then binds the socket to the interface. The returned link owns the socket: it stays
    /// open while attached, and closing the link closes it, which detaches the program.
    ///
    /// The socket is bound only after the filter is in place, so no unfiltered packet queues on it. What
    /// the program returns is how many bytes of each packet the socket keeps; the link never reads them,
    /// so a counting program should return 0.
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not a socket filter program, `.notFound` when
    ///   there is no such interface, `.permission` without root (`CAP_NET_RAW`).
    public func attachSocketFilter(interface: String) throws(BPFError) -> Link {
        let target = "socket/\(interface)"
        try checkSocketFilterType(target)
        let index = if_nametoindex(interface)
        guard index != 0 else {
            throw BPFError(.notFound, "cannot attach program \(name) to \(target): no network interface \"\(interface)\"")
        }
        let opened = cbpf_packet_socket()
        guard opened >= 0 else {
            var error = BPFError(errno: Errno(rawValue: -opened), command: nil, "opening a packet socket for \(target)")
            if error.code == .permission { error.message += "; raw packet sockets need root (CAP_NET_RAW)" }
            throw error
        }
        let socket = try OwnedFileDescriptor(adopting: opened)
        let attached = cbpf_socket_attach_bpf(socket.rawValue, descriptor.rawValue)
        guard attached == 0 else {
            throw BPFError(errno: Errno(rawValue: -attached), command: nil, "attaching program \(name) to \(target): setsockopt(SO_ATTACH_BPF) failed")
        }
        let bound = cbpf_packet_socket_bind(socket.rawValue, Int32(bitPattern: index))
        guard bound == 0 else {
            throw BPFError(errno: Errno(rawValue: -bound), command: nil, "binding the packet socket to interface \(interface) (index \(index))")
        }
        return Link(descriptor: socket, kind: .socketFilter(ownsSocket: true), programName: name, target: target)
    }

    /// Attaches this socket filter program to the caller's socket `socket` (`SO_ATTACH_BPF`). The socket
    /// stays the caller's: the link holds a duplicate of it, and closing the link removes the filter
    /// (`SO_DETACH_BPF`, which removes whatever filter the socket has then) without closing the socket.
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not a socket filter program or `socket` is not
    ///   a socket, and the kernel's refusal otherwise.
    public func attachSocketFilter(socket: Int32) throws(BPFError) -> Link {
        let target = "socket fd \(socket)"
        try checkSocketFilterType(target)
        let duplicated = cbpf_dup_cloexec(socket, 3)
        guard duplicated >= 0 else {
            throw BPFError(errno: Errno(rawValue: -duplicated), command: nil, "attaching program \(name) to \(target): the descriptor cannot be duplicated")
        }
        let held = try OwnedFileDescriptor(adopting: duplicated)
        let attached = cbpf_socket_attach_bpf(held.rawValue, descriptor.rawValue)
        guard attached == 0 else {
            let errno = Errno(rawValue: -attached)
            var error = BPFError(errno: errno, command: nil, "attaching program \(name) to \(target): setsockopt(SO_ATTACH_BPF) failed")
            if errno.rawValue == ENOTSOCK { error.code = .invalidArgument }
            throw error
        }
        return Link(descriptor: held, kind: .socketFilter(ownsSocket: false), programName: name, target: target)
    }

    private func checkSocketFilterType(_ target: String) throws(BPFError) {
        guard type == .socketFilter else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it is a \(type) program, and SO_ATTACH_BPF takes socket filter programs (SEC(\"socket\"))")
        }
    }
}
