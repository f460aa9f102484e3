import BPFObject
import CBPF
import SystemPackage

extension Program {
    /// Attaches this tc classifier program to the ingress or egress path of network interface `interface`
    /// through a tcx link (`BPF_LINK_CREATE` with `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` and the interface
    /// index, Linux 6.6). tcx needs no qdisc and keeps several programs per hook; this one runs after
    /// those attached before it. Closing the link detaches it.
    ///
    /// - Parameters:
    ///   - direction: packets arriving (`ingress`) or leaving (`egress`).
    ///   - interface: the interface's name (`eth0`) or decimal index (`2`).
    /// - Returns: the attachment (a pinnable BPF link) with target `tcx/DIRECTION/NAME`.
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not a tc (`sched_cls`) program, `.notFound`
    ///   when there is no such interface, `.unsupported` on kernels before 6.6 ("tcx needs Linux 6.6").
    public func attachTCX(direction: TrafficDirection, interface: String) throws(BPFError) -> Link {
        var target = AttachTarget.tcx(direction: direction, interface: interface).description
        guard type == .schedCls else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) to \(target): it is a \(type) program, and tcx takes tc classifier programs (sched_cls, SEC(\"tcx/\(direction)\"))")
        }
        guard let device = NetworkInterface(interface) else {
            throw BPFError(.notFound, "cannot attach program \(name) to \(target): \(NetworkInterface.missing(interface))")
        }
        target = AttachTarget.tcx(direction: direction, interface: device.name).description
        var attr = Self.tcxLinkAttributes(program: descriptor.rawValue, interfaceIndex: device.index, direction: direction)
        switch SystemCall.linkCreate(&attr) {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: name, target: target)
        case .failure(let errno):
            // EINVAL is also what a kernel without tcx answers to the unknown attach type: ask the probe.
            let hasTCX = errno == .invalidArgument ? KernelFeatures.shared.supports(.tcx) : true
            throw Self.tcxRefusal(errno, program: name, target: target, kernelHasTCX: hasTCX,
                                  kernelRelease: RunningKernel.release)
        }
    }

    /// The `BPF_LINK_CREATE` attributes of a tcx link: program, interface index, the direction's attach
    /// type, no flags and no relative program (appended after the hook's other programs), no revision check.
    static func tcxLinkAttributes(program: Int32, interfaceIndex: UInt32, direction: TrafficDirection) -> cbpf_link_create_attr {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: program)
        attr.target = interfaceIndex
        attr.attach_type = direction.tcxAttachType.rawValue
        attr.flags = 0
        attr.tail.tcx.relative_fd = 0
        attr.tail.tcx.expected_revision = 0
        return attr
    }

    /// The error for a refused tcx link: no tcx in this kernel, the program already on that hook, the
    /// hook full, or the kernel's errno.
    static func tcxRefusal(_ errno: Errno, program: String, target: String, kernelHasTCX: Bool,
                           kernelRelease: String?) -> BPFError {
        let what = "attaching program \(program) to \(target)"
        var error = BPFError(errno: errno, command: .linkCreate, what)
        if !kernelHasTCX {
            let running = kernelRelease.map { "this kernel is \($0), and " } ?? ""
            error.code = .unsupported
            error.message = "cannot attach program \(program) to \(target): tcx needs Linux 6.6 (\(running)BPF_LINK_CREATE with \(target.hasPrefix("tcx/ingress") ? "BPF_TCX_INGRESS" : "BPF_TCX_EGRESS") failed: \(errno.symbolicName))"
            error.details.append("on older kernels, tc programs attach through a clsact qdisc and a cls_bpf filter (`tc filter add dev IFNAME ingress bpf da obj FILE`)")
        } else if errno == .fileExists {
            error.message = "\(what): the program is already attached to that hook (EEXIST)"
        } else if errno == .argListTooLong {
            error.message = "\(what): the hook already holds the most programs tcx allows (E2BIG)"
        }
        return error
    }
}
