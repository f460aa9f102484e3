import BPFObject
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// The counters of `Fixtures/attach.o`: one slot of its `hits` array per program (bpf-src/attach.bpf.c).
enum AttachFixture {
    static let xdp: UInt32 = 9
    static let tcxIngress: UInt32 = 10
    static let tcxEgress: UInt32 = 11
    static let cgroupIngress: UInt32 = 12
    static let cgroupEgress: UInt32 = 13
    static let perfEvent: UInt32 = 15

    /// `Fixtures/attach.o` with only `programs` loaded (and every map).
    static func load(_ programs: Set<String>) throws -> LoadedObject {
        try LoadedObject.load(contentsOf: TestPaths.fixtures + "/attach.o", options: LoadOptions(programNames: programs))
    }

    /// The program `name` of `object`.
    static func program(_ object: LoadedObject, _ name: String) throws -> Program {
        try #require(object.program(named: name), "attach.o has no loaded program \(name)")
    }

    /// The counter in slot `slot` of `object`'s `hits` map.
    static func hits(_ object: LoadedObject, _ slot: UInt32) throws -> UInt64 {
        let map = try #require(object.map(named: "hits"))
        return try map.lookup(slot, as: UInt64.self) ?? 0
    }

    /// Whether a link with kernel id `id` exists.
    static func linkExists(_ id: UInt32) -> Bool { SystemCall.allIDs(of: .link).contains(id) }
}

/// XDP and tcx on the host end of a veth pair whose other end is in a network namespace the test makes;
/// packets are pinged from inside the namespace.
@Suite struct NetworkAttachTests {
    /// Root, `ip` and `ping`, then a fresh namespace.
    static func makeNamespace() throws -> NetworkNamespace {
        try AttachKit.requireRoot()
        try require(NetworkNamespace.isAvailable, "network namespaces are made with iproute2's ip")
        try require(Tool.path("ping") != nil, "packets are sent with iputils' ping")
        return try NetworkNamespace()
    }

    @Test func xdpCountsReceivedPacketsUntilClosed() throws {
        let namespace = try Self.makeNamespace()
        defer { namespace.remove() }
        let object = try AttachFixture.load(["on_xdp"])
        let program = try AttachFixture.program(object, "on_xdp")
        let link = try program.attachXDP(interface: namespace.hostInterface)
        #expect(link.kind == .bpfLink)
        #expect(link.target == "xdp/\(namespace.hostInterface)")
        let info = try link.info()
        #expect(info.type == .xdp)
        #expect(info.programID == (try program.info().id))

        let before = try AttachFixture.hits(object, AttachFixture.xdp)
        let ping = try namespace.ping(count: 3)
        #expect(ping.status == 0, "\(ping.stdout)\(ping.stderr)")
        // The three echo requests arrive on the host end (ARP and IPv6 chatter may add more).
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.xdp)) ?? 0) >= before + 3 })

        link.close()
        #expect(AttachKit.eventually { !AttachFixture.linkExists(info.id) })
        let after = try AttachFixture.hits(object, AttachFixture.xdp)
        try namespace.ping(count: 2)
        #expect(try AttachFixture.hits(object, AttachFixture.xdp) == after)
    }

    /// An interface named by its index, in generic and in native mode (veth has native XDP).
    @Test(arguments: [XDPMode.generic, .native])
    func xdpByIndexInMode(_ mode: XDPMode) throws {
        let namespace = try Self.makeNamespace()
        defer { namespace.remove() }
        let object = try AttachFixture.load(["on_xdp"])
        let link = try AttachFixture.program(object, "on_xdp").attachXDP(interface: "\(namespace.hostInterfaceIndex)", mode: mode)
        #expect(link.target == "xdp/\(namespace.hostInterface)")
        let before = try AttachFixture.hits(object, AttachFixture.xdp)
        try namespace.ping(count: 3)
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.xdp)) ?? 0) >= before + 3 })
        link.close()
    }

    /// One XDP program per hook: a second link on the same interface is refused, naming the holder.
    @Test func secondXDPAttachIsRefused() throws {
        let namespace = try Self.makeNamespace()
        defer { namespace.remove() }
        let object = try AttachFixture.load(["on_xdp"])
        let program = try AttachFixture.program(object, "on_xdp")
        let first = try program.attachXDP(interface: namespace.hostInterface)
        let id = try first.info().id
        do {
            let second = try program.attachXDP(interface: namespace.hostInterface)
            second.close()
            Issue.record("a second XDP link attached to \(namespace.hostInterface)")
        } catch {
            #expect(error.errno == .resourceBusy)
            #expect(error.message.hasPrefix("cannot attach program on_xdp to interface \(namespace.hostInterface): the interface already has an XDP program (XDP link \(id) holds program "))
            #expect(error.message.hasSuffix("detach that one first (EBUSY)"))
        }
        // Once the first is closed, the hook is free again.
        first.close()
        let again = try program.attachXDP(interface: namespace.hostInterface)
        again.close()
    }

    @Test func missingInterfaceIsNamed() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_xdp", "on_tcx_ingress"])
        let xdp = try AttachFixture.program(object, "on_xdp")
        let tcx = try AttachFixture.program(object, "on_tcx_ingress")
        do {
            _ = try xdp.attachXDP(interface: "nosuch0")
            Issue.record("attached to a missing interface")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "cannot attach program on_xdp to xdp/nosuch0: no network interface \"nosuch0\"")
        }
        do {
            _ = try xdp.attachXDP(interface: "999999")
            Issue.record("attached to a missing interface index")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "cannot attach program on_xdp to xdp/999999: no network interface with index 999999")
        }
        do {
            _ = try tcx.attachTCX(direction: .ingress, interface: "nosuch0")
            Issue.record("attached to a missing interface")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "cannot attach program on_tcx_ingress to tcx/ingress/nosuch0: no network interface \"nosuch0\"")
        }
    }

    @Test func wrongProgramTypesAreRefused() throws {
        try AttachKit.requireRoot()
        let object = try AttachFixture.load(["on_xdp", "on_tcx_ingress"])
        let xdp = try AttachFixture.program(object, "on_xdp")
        let tcx = try AttachFixture.program(object, "on_tcx_ingress")
        do {
            _ = try tcx.attachXDP(interface: "lo")
            Issue.record("a tc program attached as XDP")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program on_tcx_ingress to xdp/lo: it is a sched_cls program, and interfaces take XDP programs (SEC(\"xdp\"))")
        }
        do {
            _ = try xdp.attachTCX(direction: .egress, interface: "lo")
            Issue.record("an XDP program attached to tcx")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program on_xdp to tcx/egress/lo: it is a xdp program, and tcx takes tc classifier programs (sched_cls, SEC(\"tcx/egress\"))")
        }
    }

    /// tcx ingress counts the echo requests, egress the replies; both stop when closed.
    @Test func tcxCountsBothDirectionsUntilClosed() throws {
        let namespace = try Self.makeNamespace()
        defer { namespace.remove() }
        let object = try AttachFixture.load(["on_tcx_ingress", "on_tcx_egress"])
        let ingress = try AttachFixture.program(object, "on_tcx_ingress").attachTCX(direction: .ingress, interface: namespace.hostInterface)
        let egress = try AttachFixture.program(object, "on_tcx_egress").attachTCX(direction: .egress, interface: namespace.hostInterface)
        #expect(ingress.target == "tcx/ingress/\(namespace.hostInterface)")
        #expect(egress.target == "tcx/egress/\(namespace.hostInterface)")
        let ids = [try ingress.info(), try egress.info()]
        #expect(ids.allSatisfy { $0.type == .tcx })

        let beforeIn = try AttachFixture.hits(object, AttachFixture.tcxIngress)
        let beforeOut = try AttachFixture.hits(object, AttachFixture.tcxEgress)
        let ping = try namespace.ping(count: 3)
        #expect(ping.status == 0, "\(ping.stdout)\(ping.stderr)")
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.tcxIngress)) ?? 0) >= beforeIn + 3 })
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.tcxEgress)) ?? 0) >= beforeOut + 3 })

        ingress.close()
        egress.close()
        #expect(AttachKit.eventually { ids.allSatisfy { !AttachFixture.linkExists($0.id) } })
        let afterIn = try AttachFixture.hits(object, AttachFixture.tcxIngress)
        let afterOut = try AttachFixture.hits(object, AttachFixture.tcxEgress)
        try namespace.ping(count: 2)
        #expect(try AttachFixture.hits(object, AttachFixture.tcxIngress) == afterIn)
        #expect(try AttachFixture.hits(object, AttachFixture.tcxEgress) == afterOut)
    }

    /// tcx keeps several programs per hook, but not the same one twice.
    @Test func tcxRefusesTheSameProgramTwice() throws {
        let namespace = try Self.makeNamespace()
        defer { namespace.remove() }
        let object = try AttachFixture.load(["on_tcx_ingress"])
        let program = try AttachFixture.program(object, "on_tcx_ingress")
        let first = try program.attachTCX(direction: .ingress, interface: namespace.hostInterface)
        do {
            let second = try program.attachTCX(direction: .ingress, interface: namespace.hostInterface)
            second.close()
            Issue.record("the same program attached twice to one tcx hook")
        } catch {
            #expect(error.errno == .fileExists)
            #expect(error.message == "attaching program on_tcx_ingress to tcx/ingress/\(namespace.hostInterface): the program is already attached to that hook (EEXIST)")
        }
        first.close()
    }

    /// A pinned XDP link keeps the program attached after the object closes it; the pin reopens it.
    @Test func pinnedXDPLinkOutlivesItsObject() throws {
        let namespace = try Self.makeNamespace()
        defer { namespace.remove() }
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let path = "/sys/fs/bpf/swift_load_xdp_link_\(getpid())_\(namespace.hostInterfaceIndex)"
        let object = try AttachFixture.load(["on_xdp"])
        let link = try AttachFixture.program(object, "on_xdp").attachXDP(interface: namespace.hostInterface)
        let id = try link.info().id
        try link.pin(at: path)
        defer { unlink(path) }
        link.close()
        #expect(AttachFixture.linkExists(id))
        let before = try AttachFixture.hits(object, AttachFixture.xdp)
        try namespace.ping(count: 2)
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.xdp)) ?? 0) >= before + 2 })

        let reopened = try Link.open(pinnedAt: path)
        #expect(try reopened.info().id == id)
        try reopened.unpin()
        reopened.close()
        #expect(AttachKit.eventually { !AttachFixture.linkExists(id) })
    }
}

/// The attributes and messages of XDP and tcx links, checked without a kernel.
@Suite struct NetworkAttachAttributeTests {
    @Test func xdpModesAndNames() {
        #expect(XDPMode.allCases.map(\.flags) == [0, 2, 4, 8])
        #expect(XDPMode(name: "skb") == .generic)
        #expect(XDPMode(name: "drv") == .native)
        #expect(XDPMode(name: "hw") == .offload)
        #expect(XDPMode(name: "auto") == .automatic)
        #expect(XDPMode(name: "fast") == nil)
    }

    @Test func xdpLinkAttributes() {
        let attr = Program.xdpLinkAttributes(program: 7, interfaceIndex: 3, mode: .native)
        #expect(attr.prog_fd == 7)
        #expect(attr.target == 3)
        #expect(attr.attach_type == 37)
        #expect(attr.flags == 4)
        #expect(Program.xdpLinkAttributes(program: 7, interfaceIndex: 3, mode: .automatic).flags == 0)
    }

    @Test func tcxLinkAttributes() {
        let ingress = Program.tcxLinkAttributes(program: 9, interfaceIndex: 4, direction: .ingress)
        #expect(ingress.prog_fd == 9)
        #expect(ingress.target == 4)
        #expect(ingress.attach_type == 46)
        #expect(ingress.flags == 0)
        #expect(ingress.tail.tcx.relative_fd == 0)
        #expect(ingress.tail.tcx.expected_revision == 0)
        #expect(Program.tcxLinkAttributes(program: 9, interfaceIndex: 4, direction: .egress).attach_type == 47)
    }

    /// What a kernel before 6.6 says (EINVAL to the unknown attach type) becomes "tcx needs Linux 6.6".
    @Test func tcxOnOldKernelsSaysWhatIsNeeded() {
        let error = Program.tcxRefusal(.invalidArgument, program: "p", target: "tcx/ingress/eth0", kernelHasTCX: false,
                                       kernelRelease: "6.1.0-18-amd64")
        #expect(error.code == .unsupported)
        #expect(error.message == "cannot attach program p to tcx/ingress/eth0: tcx needs Linux 6.6 (this kernel is 6.1.0-18-amd64, and BPF_LINK_CREATE with BPF_TCX_INGRESS failed: EINVAL)")
        let other = Program.tcxRefusal(.invalidArgument, program: "p", target: "tcx/egress/eth0", kernelHasTCX: true, kernelRelease: nil)
        #expect(other.code == .kernel)
        #expect(other.message.hasPrefix("attaching program p to tcx/egress/eth0: BPF_LINK_CREATE failed: EINVAL"))
    }

    @Test func xdpRefusalMessages() {
        let device = NetworkInterface("lo")!
        let busy = Program.xdpRefusal(.resourceBusy, program: "p", interface: device, mode: .automatic, holder: nil)
        #expect(busy.message == "cannot attach program p to interface lo: the interface already has an XDP program; each XDP hook holds one program, so detach that one first (EBUSY)")
        #expect(busy.details == ["a program attached through netlink is removed with `ip link set dev lo xdp off`"])
        let other = Program.xdpRefusal(.fileExists, program: "p", interface: device, mode: .generic, holder: nil)
        #expect(other.message.contains("already has an XDP program in the other mode or on an upper device"))
        let native = Program.xdpRefusal(.notSupported, program: "p", interface: device, mode: .native, holder: nil)
        #expect(native.code == .unsupported)
        #expect(native.message == "attaching program p to xdp/lo: the driver of lo has no native XDP (EOPNOTSUPP); use generic mode")
    }

    @Test func interfacesByNameAndIndex() {
        let lo = NetworkInterface("lo")
        #expect(lo?.index == 1)
        #expect(NetworkInterface("1")?.name == "lo")
        #expect(NetworkInterface("nosuch0") == nil)
        #expect(NetworkInterface("") == nil)
        #expect(NetworkInterface("0") == nil)
        #expect(NetworkInterface("a-name-longer-than-fifteen") == nil)
        #expect(NetworkInterface.missing("12") == "no network interface with index 12")
        #expect(NetworkInterface.missing("eth9") == "no network interface \"eth9\"")
    }
}
