// ExecCounter: counts the programs that processes with given names start, with a tracepoint program
// and a hash map keyed by command name.
//
// Fixtures/execcount.o's `count_execve` runs on every execve (tracepoint syscalls/sys_enter_execve) and
// adds one to `exec_counts[comm]`, the entry of the calling process's name (a char[64] key). The example
// inserts the entries it watches with a count of 0, so that each is there before the first call, and
// reads them every second. The caller is the process that runs the new program, before it is replaced,
// so a shell's children count under the shell's name.
//
// Run as root:   swift run ExecCounter [--duration SECONDS] [--object PATH] [COMMAND...]
// (default commands: bash sh; default object: Fixtures/execcount.o). Prints the counts every second
// until --duration seconds have passed, or until Ctrl-C.

import BPF
import Foundation

let fixtures = URL(fileURLWithPath: #filePath)  // <repository>/Examples/ExecCounter/main.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

/// The object lacks the map or program this example uses.
struct NotInObject: Error, CustomStringConvertible {
    var path: String, names: String
    var description: String { "\(path) has no \(names)" }
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: ExecCounter [--duration SECONDS] [--object PATH] [COMMAND...]\n".utf8))
    exit(2)
}

var seconds: Int?
var objectPath = fixtures + "/execcount.o"
var commands: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--duration":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else { usage() }
        seconds = value
    case "--object":
        guard let value = arguments.popFirst() else { usage() }
        objectPath = value
    default: commands.append(argument)
    }
}
if commands.isEmpty { commands = ["bash", "sh"] }

/// `exec_counts`' key: a command name as the kernel keeps it (at most 15 bytes), zero-padded to 64 bytes.
func key(for command: String) -> [UInt8] {
    Array(command.utf8.prefix(15)) + [UInt8](repeating: 0, count: 64 - min(command.utf8.count, 15))
}

do {
    let object = try LoadedObject.load(contentsOf: objectPath)
    guard let counts = object.map(named: "exec_counts"), let program = object.program(named: "count_execve") else {
        throw NotInObject(path: objectPath, names: "exec_counts and count_execve")
    }
    // One entry per watched command, with a count of 0, for the program to add to.
    for command in commands {
        try counts.update(key: key(for: command), value: [UInt8](repeating: 0, count: 8))
    }
    // The section name, tracepoint/syscalls/sys_enter_execve, says where to attach.
    let link = try program.attachTracepoint()
    defer { link.close() }  // detaches; so would the end of the process
    print("counting programs started by \(commands.joined(separator: ", ")) (\(link))")

    for _ in 0..<(seconds ?? .max) {
        try await Task.sleep(for: .seconds(1))
        var line: [String] = []
        for command in commands {
            let count = try counts.withLookup(key: key(for: command)) { $0.loadUnaligned(as: UInt64.self) } ?? 0
            line.append("\(command) \(count)")
        }
        print(line.joined(separator: "  "))
    }
} catch {
    FileHandle.standardError.write(Data("ExecCounter: \(error)\n".utf8))
    exit(1)
}
