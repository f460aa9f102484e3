import BPFObject
import CBPF
import Foundation
import Testing
import TestSupport
@testable import BPF

@Suite struct SocketFilterTests {
    /// Sends `count` UDP datagrams to 127.0.0.1:`port` (nobody needs to listen: lo carries them anyway).
    static func sendLoopbackDatagrams(_ count: Int, port: UInt16 = 9) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let payload = [UInt8](repeating: 0x5A, count: 32)
        for _ in 0..<count {
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            #expect(sent == payload.count)
        }
    }

    /// A counting filter on `lo` sees the datagrams; after close the program is released with the socket.
    @Test func countsPacketsOnLoopback() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "packets")
        var programID: UInt32?
        do {
            let program = try AttachKit.load(.socketFilter, AttachKit.counterProgram(counts), name: "count_packets")
            programID = try program.info().id
            let link = try program.attachSocketFilter(interface: "lo")
            #expect(link.kind == .socketFilter(ownsSocket: true))
            #expect(link.target == "socket/lo")
            try Self.sendLoopbackDatagrams(5)
            #expect(AttachKit.eventually { ((try? AttachKit.firstValue(counts)) ?? 0) >= 5 })
            #expect(throws: BPFError.self) { try link.pin(at: "/sys/fs/bpf/never") }
            link.close()
            let after = try AttachKit.firstValue(counts)
            try Self.sendLoopbackDatagrams(3)
            usleep(50_000)
            #expect(try AttachKit.firstValue(counts) == after)
        }
        // The socket held the last reference to the program: both are gone.
        let id = try #require(programID)
        #expect(AttachKit.eventually { !SystemCall.allIDs(of: .program).contains(id) })
    }

    /// Two pings of 127.0.0.1 while attached.
    @Test func countsPing() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "packets")
        let program = try AttachKit.load(.socketFilter, AttachKit.counterProgram(counts), name: "count_packets")
        let link = try program.attachSocketFilter(interface: "lo")
        try LoopbackPing.run(count: 2)
        // Two echo requests and two replies, each seen going out and coming in on lo.
        #expect(AttachKit.eventually { ((try? AttachKit.firstValue(counts)) ?? 0) >= 4 })
        link.close()
    }

    /// On a caller's socket the filter is removed at close and the socket stays open.
    @Test func callersSocketKeepsItsDescriptor() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "packets")
        let program = try AttachKit.load(.socketFilter, AttachKit.counterProgram(counts), name: "count_packets")
        // A UDP socket bound to a free loopback port: its filter runs on what it receives.
        let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(receiver >= 0)
        defer { close(receiver) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(receiver, $0, length) == 0 && getsockname(receiver, $0, &length) == 0
            }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let link = try program.attachSocketFilter(socket: receiver)
        #expect(link.kind == .socketFilter(ownsSocket: false))
        try Self.sendLoopbackDatagrams(2, port: port)
        #expect(AttachKit.eventually { ((try? AttachKit.firstValue(counts)) ?? 0) >= 2 })
        link.close()
        #expect(fcntl(receiver, F_GETFD) >= 0)
        let after = try AttachKit.firstValue(counts)
        try Self.sendLoopbackDatagrams(2, port: port)
        usleep(50_000)
        #expect(try AttachKit.firstValue(counts) == after)
    }

    @Test func missingInterfaceIsNamed() throws {
        try AttachKit.requireRoot()
        let counts = try AttachKit.makeMap(.array, keySize: 4, valueSize: 8, maxEntries: 1, name: "packets")
        let program = try AttachKit.load(.socketFilter, AttachKit.counterProgram(counts), name: "count_packets")
        do {
            _ = try program.attachSocketFilter(interface: "nosuch0")
            Issue.record("attached to a missing interface")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "cannot attach program count_packets to socket/nosuch0: no network interface \"nosuch0\"")
        }
        let tracepoint = try AttachKit.load(.tracepoint, AttachKit.counterProgram(counts), name: "tp")
        #expect(throws: BPFError.self) { try tracepoint.attachSocketFilter(interface: "lo") }
        #expect(throws: BPFError.self) { try program.attachSocketFilter(socket: 987_654) }
    }
}

/// `ping -c COUNT -i0.2 127.0.0.1`, or, where iputils' ping is not installed, the same echo requests sent
/// from a raw ICMP socket (56 bytes of data, as ping sends; the kernel answers them itself).
enum LoopbackPing {
    static func run(count: Int) throws {
        if let ping = Tool.path("ping") {
            let result = try Tool.run(ping, ["-c\(count)", "-i0.2", "127.0.0.1"])
            #expect(result.status == 0, "\(result.stderr)")
            return
        }
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
        try #require(fd >= 0, "a raw ICMP socket needs root")
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        for sequence in 0..<count {
            // Type 8 (echo request), code 0, checksum, identifier, sequence, then 56 bytes of data.
            var packet = [UInt8](repeating: 0, count: 64)
            packet[0] = 8
            packet[4] = 0x53
            packet[5] = 0x4C
            packet[7] = UInt8(truncatingIfNeeded: sequence)
            for index in 8..<64 { packet[index] = UInt8(truncatingIfNeeded: index) }
            var sum: UInt32 = 0
            for index in stride(from: 0, to: packet.count, by: 2) { sum += UInt32(packet[index]) << 8 | UInt32(packet[index + 1]) }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            let checksum = ~UInt16(sum)
            packet[2] = UInt8(checksum >> 8)
            packet[3] = UInt8(checksum & 0xFF)
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    packet.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            #expect(sent == packet.count)
            usleep(200_000)
        }
    }
}
