// ExecEvents: streams one event per program started on the machine, from a BPF ring buffer.
//
// Fixtures/events.o's `emit_events` runs on every execve (tracepoint syscalls/sys_enter_execve) and
// writes a `struct event { u32 pid; u32 uid; char comm[16]; char message[32]; }` into the ring buffer map
// `rb`. A RingBufferReader maps the ring into this process and reads the records straight from memory
// (no system call per record; an epoll wait when the ring is empty); its `records()` sequence hands each
// one over as bytes, which this example decodes into a Swift struct.
//
// Run as root:   swift run ExecEvents [--duration SECONDS] [--object PATH]
// (default object: Fixtures/events.o). Prints a line per execve until --duration seconds have passed,
// or until Ctrl-C.

import BPF
import Foundation

let fixtures = URL(fileURLWithPath: #filePath)  // <repository>/Examples/ExecEvents/main.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

/// The object lacks the map or program this example uses.
struct NotInObject: Error, CustomStringConvertible {
    var path: String, names: String
    var description: String { "\(path) has no \(names)" }
}

/// One `struct event` of bpf-src/events.bpf.c, decoded from the record's 56 bytes.
struct ExecEvent {
    var pid: UInt32
    var uid: UInt32
    var command: String
    var message: String

    init?(_ record: [UInt8]) {
        guard record.count >= 56 else { return nil }
        func number(at offset: Int) -> UInt32 {
            record.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        }
        func text(_ range: Range<Int>) -> String {
            String(decoding: record[range].prefix { $0 != 0 }, as: UTF8.self)
        }
        pid = number(at: 0)
        uid = number(at: 4)
        command = text(8..<24)
        message = text(24..<56)
    }
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: ExecEvents [--duration SECONDS] [--object PATH]\n".utf8))
    exit(2)
}

var seconds: Int?
var objectPath = fixtures + "/events.o"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--duration":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else { usage() }
        seconds = value
    case "--object":
        guard let value = arguments.popFirst() else { usage() }
        objectPath = value
    default: usage()
    }
}

do {
    let object = try LoadedObject.load(contentsOf: objectPath)
    guard let ring = object.map(named: "rb"), let program = object.program(named: "emit_events") else {
        throw NotInObject(path: objectPath, names: "rb and emit_events")
    }
    let reader = try RingBufferReader(map: ring)
    let link = try program.attachTracepoint()
    defer { link.close() }
    print("streaming exec events (\(link))")

    // stop() ends the records() loop below.
    if let seconds {
        Task {
            try await Task.sleep(for: .seconds(seconds))
            reader.stop()
        }
    }
    for try await record in reader.records() {
        guard let event = ExecEvent(record) else { continue }
        print("pid \(event.pid) uid \(event.uid) \(event.command): \(event.message)")
    }
} catch {
    FileHandle.standardError.write(Data("ExecEvents: \(error)\n".utf8))
    exit(1)
}
