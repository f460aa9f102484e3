import BPFObject
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

/// cgroup_skb ingress/egress links on a cgroup the test makes under the cgroup v2 mount; traffic comes
/// from a shell that moves itself into the cgroup and then pings 127.0.0.1.
@Suite struct CgroupAttachTests {
    /// A fresh cgroup directory; removed by ``TestCgroup/remove()``.
    final class TestCgroup {
        nonisolated(unsafe) static var made = 0
        static let lock = NSLock()
        let path: String

        init() throws {
            let mount = try CgroupV2.mountPoint()
            let serial = Self.lock.withLock { () -> Int in
                Self.made += 1
                return Self.made
            }
            path = "\(mount)/swift-load-test-\(getpid())-\(serial)"
            try #require(mkdir(path, 0o755) == 0, "mkdir \(path): \(String(cString: strerror(errno)))")
        }

        /// Runs `command` with `sh -c` inside this cgroup (the shell writes its pid to `cgroup.procs` first).
        @discardableResult
        func run(_ command: String) throws -> Tool.Output {
            try Tool.run("/bin/sh", ["-c", "echo $$ > \(path)/cgroup.procs && \(command)"])
        }

        /// Removes the directory once its processes are gone (a cgroup with members cannot be removed).
        func remove() {
            for _ in 0..<100 where rmdir(path) != 0 && errno == EBUSY { usleep(20_000) }
        }
    }

    static func requirements() throws {
        try AttachKit.requireRoot()
        try require((try? CgroupV2.mountPoint()) != nil, "cgroup v2 is not mounted")
        try require(Tool.path("ping") != nil, "packets are sent with iputils' ping")
    }

    @Test func mountPointIsFound() throws {
        try AttachKit.requireRoot()
        let facts = SystemFacts.current()
        let mount = try CgroupV2.mountPoint()
        #expect(facts.cgroup2.mountPoint == mount)
        // Opening checks the statfs magic.
        _ = try Program.openCgroup(mount, for: "test")
    }

    /// Ingress counts the echo replies delivered to ping's socket, egress the requests it sends; both
    /// stop when the links close, and processes outside the cgroup never count.
    @Test func cgroupSKBCountsTheCgroupsPacketsUntilClosed() throws {
        try Self.requirements()
        let cgroup = try TestCgroup()
        defer { cgroup.remove() }
        let object = try AttachFixture.load(["on_cgroup_ingress", "on_cgroup_egress"])
        let ingressProgram = try AttachFixture.program(object, "on_cgroup_ingress")
        #expect(ingressProgram.expectedAttachType == .cgroupInetIngress)
        let ingress = try ingressProgram.attachCgroup(path: cgroup.path)
        let egress = try AttachFixture.program(object, "on_cgroup_egress").attachCgroup(path: cgroup.path)
        #expect(ingress.target == "cgroup_skb/ingress:\(cgroup.path)")
        #expect(egress.target == "cgroup_skb/egress:\(cgroup.path)")
        let infos = [try ingress.info(), try egress.info()]
        #expect(infos.allSatisfy { $0.type == .cgroup })

        // Outside the cgroup: nothing counts.
        try LoopbackPing.run(count: 1)
        #expect(try AttachFixture.hits(object, AttachFixture.cgroupIngress) == 0)
        #expect(try AttachFixture.hits(object, AttachFixture.cgroupEgress) == 0)

        let ping = try cgroup.run("exec ping -c3 -i0.2 -W2 127.0.0.1")
        #expect(ping.status == 0, "\(ping.stdout)\(ping.stderr)")
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.cgroupIngress)) ?? 0) >= 3 })
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.cgroupEgress)) ?? 0) >= 3 })

        ingress.close()
        egress.close()
        #expect(AttachKit.eventually { infos.allSatisfy { !AttachFixture.linkExists($0.id) } })
        let afterIn = try AttachFixture.hits(object, AttachFixture.cgroupIngress)
        let afterOut = try AttachFixture.hits(object, AttachFixture.cgroupEgress)
        try cgroup.run("exec ping -c2 -i0.2 -W2 127.0.0.1")
        #expect(try AttachFixture.hits(object, AttachFixture.cgroupIngress) == afterIn)
        #expect(try AttachFixture.hits(object, AttachFixture.cgroupEgress) == afterOut)
    }

    /// An explicit attach type overrides the expected one; a pinned cgroup link stays attached.
    @Test func explicitHookAndPinning() throws {
        try Self.requirements()
        try BPFFileSystem.prepare("/sys/fs/bpf")
        let cgroup = try TestCgroup()
        defer { cgroup.remove() }
        let object = try AttachFixture.load(["on_cgroup_egress"])
        let link = try AttachFixture.program(object, "on_cgroup_egress").attachCgroup(path: cgroup.path, attachType: .cgroupInetEgress)
        let id = try link.info().id
        let pin = "/sys/fs/bpf/swift_load_cgroup_link_\(getpid())"
        try link.pin(at: pin)
        defer { unlink(pin) }
        link.close()
        try cgroup.run("exec ping -c2 -i0.2 -W2 127.0.0.1")
        #expect(AttachKit.eventually { ((try? AttachFixture.hits(object, AttachFixture.cgroupEgress)) ?? 0) >= 2 })
        let reopened = try Link.open(pinnedAt: pin)
        try reopened.unpin()
        reopened.close()
        #expect(AttachKit.eventually { !AttachFixture.linkExists(id) })
    }

    @Test func badTargetsAreNamed() throws {
        try AttachKit.requireRoot()
        let mount = try CgroupV2.mountPoint()
        let object = try AttachFixture.load(["on_cgroup_ingress", "on_xdp"])
        let program = try AttachFixture.program(object, "on_cgroup_ingress")
        let xdp = try AttachFixture.program(object, "on_xdp")
        let missing = mount + "/swift-load-no-such-cgroup"
        do {
            _ = try program.attachCgroup(path: missing)
            Issue.record("attached to a missing cgroup")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "attaching program on_cgroup_ingress to cgroup_skb/ingress:\(missing): no cgroup \(missing) (no such directory); cgroup v2 is mounted at \(mount)")
        }
        do {
            _ = try program.attachCgroup(path: "/tmp")
            Issue.record("attached to /tmp")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("attaching program on_cgroup_ingress to cgroup_skb/ingress:/tmp: /tmp is not a cgroup v2 directory (its filesystem magic is 0x"))
            #expect(error.message.hasSuffix("; cgroup v2 is mounted at \(mount)"))
        }
        do {
            _ = try program.attachCgroup(path: mount + "/cgroup.procs")
            Issue.record("attached to a file")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("cgroup.procs is not a directory, so not a cgroup"))
        }
        do {
            _ = try xdp.attachCgroup(path: mount)
            Issue.record("attached an XDP program to a cgroup")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program on_xdp to cgroup \(mount): it is a xdp program, and cgroups take cgroup programs (cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops, cgroup_device, cgroup_sysctl, cgroup_sockopt)")
        }
        do {
            _ = try xdp.attachCgroup(path: mount, attachType: .cgroupInetIngress)
            Issue.record("attached an XDP program to a cgroup")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program on_xdp to cgroup_skb/ingress:\(mount): it is a xdp program, and the cgroup_inet_ingress hook takes cgroup_skb programs")
        }
        do {
            _ = try program.attachCgroup(path: mount, attachType: .cgroupInet4Connect)
            Issue.record("attached a cgroup_skb program to connect4")
        } catch {
            #expect(error.message.hasSuffix("it is a cgroup_skb program, and the cgroup_inet4_connect hook takes cgroup_sock_addr programs"))
        }
        // A cgroup_skb program loaded without an expected attach type must be told the hook.
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "counts")
        let bare = try AttachKit.load(.cgroupSKB, AttachKit.counterProgram(counts), name: "bare_skb")
        do {
            _ = try bare.attachCgroup(path: mount)
            Issue.record("attached without knowing the hook")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "cannot attach program bare_skb to cgroup \(mount): the program was loaded without a cgroup attach type and its section (unknown) names no cgroup hook; pass the attach type (e.g. cgroup_inet_ingress)")
        }
        do {
            _ = try program.attachCgroup(path: mount, attachType: .xdp)
            Issue.record("attached to a cgroup with the xdp attach type")
        } catch {
            #expect(error.message == "cannot attach program on_cgroup_ingress to cgroup \(mount): xdp is not a cgroup attach type")
        }
    }
}

/// The cgroup attributes, mountinfo parsing and hook table, without a kernel.
@Suite struct CgroupAttachAttributeTests {
    @Test func cgroupLinkAttributes() {
        let attr = Program.cgroupLinkAttributes(program: 5, cgroup: 6, attachType: .cgroupInetEgress)
        #expect(attr.prog_fd == 5)
        #expect(attr.target == 6)
        #expect(attr.attach_type == 1)
        #expect(attr.flags == 0)
    }

    @Test func mountInfoIsParsed() {
        let text = """
            22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
            30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
            31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
            32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
            40 22 0:40 / /mnt/with\\040space rw master:1 unbindable - cgroup2 none rw
            bad line
            """
        #expect(CgroupV2.mountPoints(mountInfo: text) == ["/sys/fs/cgroup/unified", "/mnt/with space"])
        #expect(CgroupV2.mountPoints(mountInfo: "") == [])
    }

    @Test func hooksTakeTheirProgramTypes() {
        #expect(CgroupV2.programType(for: .cgroupInetIngress) == .cgroupSKB)
        #expect(CgroupV2.programType(for: .cgroupInetSockCreate) == .cgroupSock)
        #expect(CgroupV2.programType(for: .cgroupInet6Connect) == .cgroupSockAddr)
        #expect(CgroupV2.programType(for: .cgroupUnixGetsockname) == .cgroupSockAddr)
        #expect(CgroupV2.programType(for: .cgroupSockOps) == .sockOps)
        #expect(CgroupV2.programType(for: .cgroupSetsockopt) == .cgroupSockopt)
        #expect(CgroupV2.programType(for: .cgroupSysctl) == .cgroupSysctl)
        #expect(CgroupV2.programType(for: .cgroupDevice) == .cgroupDevice)
        #expect(CgroupV2.programType(for: .lsmCgroup) == .lsm)
        #expect(CgroupV2.programType(for: .xdp) == nil)
    }

    @Test func refusalMessages() {
        let mismatch = Program.cgroupRefusal(.invalidArgument, program: "p", target: "cgroup/connect4:/c", hook: .cgroupInet6Connect,
                                             loadedFor: .cgroupInet4Connect, isRoot: true)
        #expect(mismatch.message == "attaching program p to cgroup/connect4:/c: the program was loaded for the cgroup_inet4_connect hook, and the kernel refuses it on cgroup_inet6_connect (EINVAL)")
        let exclusive = Program.cgroupRefusal(.notPermitted, program: "p", target: "t", hook: .cgroupInetIngress, loadedFor: nil, isRoot: true)
        #expect(exclusive.code == .kernel)
        #expect(exclusive.message.contains("without BPF_F_ALLOW_MULTI"))
        let unprivileged = Program.cgroupRefusal(.notPermitted, program: "p", target: "t", hook: .cgroupInetIngress, loadedFor: nil, isRoot: false)
        #expect(unprivileged.code == .permission)
    }
}
