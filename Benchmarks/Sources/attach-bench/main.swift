// attach-bench: the library side of the attach rows of Benchmarks/run: a minimal loader written with
// swift-load's library, doing exactly what harness/libbpf_attach_bench.c does with libbpf: open the
// object, load it, attach one program to a tracepoint, print one line, detach, unload, exit.
//
//   attach-bench OBJECT PROGRAM CATEGORY NAME
//
// Comparing it with the C loader measures the library; comparing the headline command with it measures
// what the command adds (argument parsing, planning, the summary).

import BPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes `text` to a descriptor at once (no stdio buffer: the run script times the line's arrival).
func write(_ text: String, to descriptor: Int32) {
    _ = text.withCString { write(descriptor, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    write("attach-bench: \(message)\n", to: 2)
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 5 else {
    write("usage: attach-bench OBJECT PROGRAM CATEGORY NAME\n", to: 2)
    exit(2)
}
do {
    // The object unloads when its last reference goes, at the end of this block.
    let object = try LoadedObject.load(contentsOf: arguments[1])
    guard let program = object.program(named: arguments[2]) else { fail("\(arguments[1]) has no program \(arguments[2])") }
    let link = try program.attachTracepoint(category: arguments[3], name: arguments[4])
    write("attached \(arguments[2]) -> tracepoint/\(arguments[3])/\(arguments[4])\n", to: 1)
    link.close()
} catch {
    fail("\(error)")
}
