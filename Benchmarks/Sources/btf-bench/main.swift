// btf-bench: times swift-load's BTF parse + name index on one file, N times in one process.
//
// Usage: btf-bench [--iterations N] [--find STRUCT_NAME] [--parse-only] [FILE]
//        (FILE defaults to /sys/kernel/btf/vmlinux, STRUCT_NAME to task_struct)
//
// Each iteration does what a loader does once per process: open and map the file
// (`ByteStorage(contentsOf:)`), decode it (`TypeGraph(data:)`), build the name index
// (`buildNameIndex()`), then one lookup (`firstID(named: STRUCT_NAME, kind: .struct)`), and frees
// everything before the next iteration. Output, one line per iteration then a summary, is meant for
// Benchmarks/run (space-separated key value pairs):
//
//   iter 3 total_ns 5123456 cpu_ns 5100000 load_ns 12345 parse_ns 2345678 index_ns 2765432 find_ns 1234 found 114
//   maxrss_kb 23456 types 123456
//
// `total_ns` (wall) and `cpu_ns` (process CPU time) cover load + parse + index (the figure compared with libbpf's `btf__parse`); `find_ns` is
// reported separately. With --parse-only neither the index nor the lookup is done (index_ns and find_ns
// near 0), which shows the cost of the parse alone.

import BTF
import ByteParsing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Monotonic (wall) clock in nanoseconds.
@inline(__always)
func now() -> UInt64 { clock(CLOCK_MONOTONIC) }

/// CPU time of this process in nanoseconds: unlike wall time, not inflated when other processes
/// compete for the cores.
@inline(__always)
func cpuNow() -> UInt64 { clock(CLOCK_PROCESS_CPUTIME_ID) }

@inline(__always)
func clock(_ id: clockid_t) -> UInt64 {
    var ts = timespec()
    clock_gettime(id, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Writes one line to stderr and exits with status 2.
func fail(_ message: String) -> Never {
    let line = "btf-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

var iterations = 20
var parseOnly = false
var path = "/sys/kernel/btf/vmlinux"
var structName = "task_struct"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--iterations", "-n":
        guard let value = arguments.popFirst(), let n = Int(value), n > 0 else {
            fail("--iterations needs a positive integer")
        }
        iterations = n
    case "--find", "-f":
        guard let value = arguments.popFirst(), !value.isEmpty else { fail("--find needs a struct name") }
        structName = value
    case "--parse-only":
        parseOnly = true
    case "--help", "-h":
        print("usage: btf-bench [--iterations N] [--find STRUCT_NAME] [--parse-only] [FILE]")
        exit(0)
    default:
        if argument.hasPrefix("-") { fail("unknown option \(argument)") }
        path = argument
    }
}

var typeCount = 0
for iteration in 0..<iterations {
    let c0 = cpuNow()
    let t0 = now()
    let storage: ByteStorage
    do { storage = try ByteStorage(contentsOf: path) } catch { fail("\(error)") }
    let t1 = now()
    let graph: TypeGraph
    do { graph = try TypeGraph(data: storage.view(order: .little)) } catch { fail("\(path): \(error)") }
    let t2 = now()
    if !parseOnly { graph.buildNameIndex() }
    let t3 = now()
    let c3 = cpuNow()
    // The lookup would build the index lazily: skip it when measuring the parse alone.
    let f0 = now()
    let found = parseOnly ? 0 : graph.firstID(named: structName, kind: .struct)
    let t4 = now()
    guard let found else { fail("struct \(structName) not found in \(path)") }
    typeCount = graph.count
    print("iter \(iteration) total_ns \(t3 - t0) cpu_ns \(c3 - c0) load_ns \(t1 - t0) parse_ns \(t2 - t1) index_ns \(t3 - t2) find_ns \(t4 - f0) found \(found)")
}

var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
print("maxrss_kb \(usage.ru_maxrss) types \(typeCount)")
