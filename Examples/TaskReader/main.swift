// TaskReader: reads fields of the kernel's `struct task_struct` with CO-RE (compile once, run
// everywhere): the program was compiled against its own minimal declaration of the struct, and the
// loader moved every field access to where the running kernel's BTF says the field is.
//
// Fixtures/core.o's `core_read_task` (bpf-src/core.bpf.c) runs on every execve (tracepoint
// syscalls/sys_enter_execve) and stores what it read from the calling task into the hash map
// `task_infos`, keyed by process id: its pid and parent's pid, state, a bitfield (`in_execve`),
// `mm->arg_start`, the size of `comm` as this kernel has it, `comm` itself, and two `.kconfig` values
// (LINUX_KERNEL_VERSION and CONFIG_HZ) that the loader filled in from the running system.
//
// Run as root:   swift run TaskReader [--duration SECONDS] [--object PATH]
// (default object: Fixtures/core.o). Every second prints the tasks seen since the last second and
// removes them from the map, until --duration seconds have passed, or until Ctrl-C.

import BPF
import Foundation

let fixtures = URL(fileURLWithPath: #filePath)  // <repository>/Examples/TaskReader/main.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

/// The object lacks the map or program this example uses.
struct NotInObject: Error, CustomStringConvertible {
    var path: String, names: String
    var description: String { "\(path) has no \(names)" }
}

/// `struct task_info` of bpf-src/core.bpf.c, decoded from its 56 bytes.
struct TaskInfo {
    var pid, parentPID, state, inExecve: UInt32
    var argumentsStart: UInt64
    var commSize, kernelVersion, hz: UInt32
    var command: String

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 56 else { return nil }
        func u32(_ offset: Int) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) } }
        pid = u32(0)
        parentPID = u32(4)
        state = u32(8)
        inExecve = u32(12)
        argumentsStart = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) }
        commSize = u32(24)
        kernelVersion = u32(28)
        hz = u32(32)
        command = String(decoding: bytes[40..<56].prefix { $0 != 0 }, as: UTF8.self)
    }
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: TaskReader [--duration SECONDS] [--object PATH]\n".utf8))
    exit(2)
}

var seconds: Int?
var objectPath = fixtures + "/core.o"
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
    // Load only the program this example attaches (core.o has others, for the tests).
    let object = try LoadedObject.load(contentsOf: objectPath, options: LoadOptions(programNames: ["core_read_task"]))
    guard let tasks = object.map(named: "task_infos"), let program = object.program(named: "core_read_task") else {
        throw NotInObject(path: objectPath, names: "task_infos and core_read_task")
    }
    let link = try program.attachTracepoint()
    defer { link.close() }
    print("reading task_struct of every process that calls execve (\(link))")

    for _ in 0..<(seconds ?? .max) {
        try await Task.sleep(for: .seconds(1))
        for (key, value) in try tasks.entries().collect() {
            _ = try tasks.delete(key: key)
            guard let task = TaskInfo(value) else { continue }
            let version = "\(task.kernelVersion >> 16).\(task.kernelVersion >> 8 & 0xFF).\(task.kernelVersion & 0xFF)"
            print("pid \(task.pid) (parent \(task.parentPID)) \(task.command): state \(task.state), "
                + "in_execve \(task.inExecve), arg_start 0x\(String(task.argumentsStart, radix: 16)), "
                + "comm is \(task.commSize) bytes; kernel \(version), HZ \(task.hz)")
        }
    }
} catch {
    FileHandle.standardError.write(Data("TaskReader: \(error)\n".utf8))
    exit(1)
}
