// SocketFilter: counts the bytes and packets this machine sends per IP protocol on a network interface,
// with a socket filter whose maps are legacy `maps`-section definitions.
//
// Fixtures/legacy_sockex.o (in the style of the kernel's old samples/bpf/sockex1) reads the IPv4
// protocol byte of every outgoing packet and adds the packet's length to `proto_bytes[protocol]` and one
// to `proto_packets[protocol]`, two arrays of 256 counters. Attaching a socket filter to an interface
// opens a raw packet socket bound to it; the filter runs until the returned Link is closed.
//
// Run as root:   swift run SocketFilter [--duration SECONDS] [--object PATH] [INTERFACE]
// (default interface: lo; default object: Fixtures/legacy_sockex.o), then e.g. `ping -c3 127.0.0.1`.
// Prints the totals every second until --duration seconds have passed, or until Ctrl-C.

import BPF
import Foundation

let fixtures = URL(fileURLWithPath: #filePath)  // <repository>/Examples/SocketFilter/main.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

/// The object lacks the map or program this example uses.
struct NotInObject: Error, CustomStringConvertible {
    var path: String, names: String
    var description: String { "\(path) has no \(names)" }
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: SocketFilter [--duration SECONDS] [--object PATH] [INTERFACE]\n".utf8))
    exit(2)
}

var seconds: Int?
var objectPath = fixtures + "/legacy_sockex.o"
var interface = "lo"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--duration":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else { usage() }
        seconds = value
    case "--object":
        guard let value = arguments.popFirst() else { usage() }
        objectPath = value
    default: interface = argument
    }
}

let protocolNames: [UInt32: String] = [1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"]

do {
    let object = try LoadedObject.load(contentsOf: objectPath)
    guard let bytes = object.map(named: "proto_bytes"), let packets = object.map(named: "proto_packets"),
          let program = object.program(named: "count_proto_bytes") else {
        throw NotInObject(path: objectPath, names: "proto_bytes, proto_packets and count_proto_bytes")
    }
    let link = try program.attachSocketFilter(interface: interface)
    defer { link.close() }  // closes the socket, which ends the filter
    print("counting outgoing packets per IP protocol (\(link))")

    for _ in 0..<(seconds ?? .max) {
        try await Task.sleep(for: .seconds(1))
        // Both maps are arrays indexed by the protocol number, with a 64-bit counter per protocol.
        var line: [String] = []
        for (proto, total) in try bytes.entries(as: UInt32.self, UInt64.self).collect() where total > 0 {
            let count = try packets.lookup(proto, as: UInt64.self) ?? 0
            line.append("\(protocolNames[proto] ?? "protocol \(proto)"): \(total) bytes in \(count) packets")
        }
        print(line.isEmpty ? "no packets yet" : line.joined(separator: ", "))
    }
} catch {
    FileHandle.standardError.write(Data("SocketFilter: \(error)\n".utf8))
    exit(1)
}
