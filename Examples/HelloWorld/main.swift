// HelloWorld: the smallest complete BPF program: a tracepoint that prints a line with bpf_printk, and
// user space that loads it, attaches it, and shows what it prints.
//
// Fixtures/hello.o's `hello` runs on every execve (tracepoint syscalls/sys_enter_execve) and calls
// bpf_printk("Hello, World from swift-load!"). The kernel writes such lines to tracefs's `trace_pipe`,
// one system-wide stream (every line goes to one reader only), which a TracePipeReader reads.
//
// Run as root:   swift run HelloWorld [--duration SECONDS] [--object PATH]
// (default object: Fixtures/hello.o), then start any program, e.g. `/bin/true`. Prints trace_pipe's
// lines until --duration seconds have passed, or until Ctrl-C.

import BPF
import Foundation

let fixtures = URL(fileURLWithPath: #filePath)  // <repository>/Examples/HelloWorld/main.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

/// The object lacks the program this example uses.
struct NotInObject: Error, CustomStringConvertible {
    var path: String, names: String
    var description: String { "\(path) has no \(names)" }
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: HelloWorld [--duration SECONDS] [--object PATH]\n".utf8))
    exit(2)
}

var seconds: Int?
var objectPath = fixtures + "/hello.o"
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
    guard let program = object.program(named: "hello") else { throw NotInObject(path: objectPath, names: "hello") }
    let trace = try TracePipeReader()  // finds tracefs (mounting it if needed)
    let link = try program.attachTracepoint()
    defer { link.close() }
    print("printing trace_pipe (\(link))")

    // stop() ends the lines() loop below.
    if let seconds {
        Task {
            try await Task.sleep(for: .seconds(seconds))
            trace.stop()
        }
    }
    for try await line in trace.lines() {
        print(line)
    }
} catch {
    FileHandle.standardError.write(Data("HelloWorld: \(error)\n".utf8))
    exit(1)
}
