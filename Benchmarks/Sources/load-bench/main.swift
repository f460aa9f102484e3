// load-bench: swift-load's object loader and map access through the library (the `BPF` module), timed in
// one process. The reference side is harness/libbpf_load_bench.c, with the same modes and output.
//
// Usage:
//   load-bench list [--pin DIR] OBJECT...
//       For every program of every object, a load of the object with only that program selected
//       (`LoadOptions.programNames`); prints "ok OBJECT PROGRAM" for each that loads. Benchmarks/run
//       intersects this with libbpf's list so that both sides load the same programs.
//   load-bench load [-n ROUNDS] [--pin DIR] OBJECT:PROGRAM[,PROGRAM...]...
//       Each round, for every spec in order: `LoadedObject.load(contentsOf:options:)` with those programs
//       selected (open + parse + CO-RE + externs + BTF + maps + programs), unpin what it pinned, release
//       it (every descriptor closed). Prints one line per round:
//         iter R wall_ns W kernel_ns K prog_ns P map_ns M btf_ns B loads N
//       kernel_ns is the time spent inside BPF_PROG_LOAD + BPF_MAP_CREATE + BPF_BTF_LOAD
//       (`LoadedObject.statistics`); wall_ns - kernel_ns is the loader's own work.
//   load-bench maps [-n OPERATIONS] [-r ROUNDS]
//       A HASH map u32 -> u64 with 65,536 entries (`Map.create`); per round OPERATIONS updates
//       (`update(key:value:flags:)`, raw pointers, BPF_ANY, keys cycling over the map) then OPERATIONS
//       lookups (`lookup(key:into:flags:)`). Prints "iter R update_ns U lookup_ns L ops N".
// Every mode ends with "maxrss_kb N" (getrusage). Failures print one line on stderr and exit 2.

import BPF
import BPFObject

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Monotonic clock in nanoseconds.
@inline(__always)
func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Writes one line to stderr and exits with status 2.
func fail(_ message: String) -> Never {
    let line = "load-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

func printMaxRSS() {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print("maxrss_kb \(usage.ru_maxrss)")
}

/// Releases the pins a load made, so the next load creates its maps again (as the first load of an object
/// on a machine does) and the directory is left empty.
func unpinAll(_ object: LoadedObject) {
    for map in object.maps where map.pinnedPath != nil { try? map.unpin() }
}

func positive(_ value: String?, _ option: String) -> Int {
    guard let value, let n = Int(value), n > 0 else { fail("\(option) needs a positive integer") }
    return n
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first else {
    fail("usage: load-bench list|load|maps ... (see the header of Benchmarks/Sources/load-bench/main.swift)")
}
arguments.removeFirst()
var rounds = 5
var operations = 1_000_000
var pinDirectory: String?
var operands: [String] = []
var remaining = arguments[...]
while let argument = remaining.popFirst() {
    switch argument {
    case "-n": let n = positive(remaining.popFirst(), "-n"); if mode == "maps" { operations = n } else { rounds = n }
    case "-r": rounds = positive(remaining.popFirst(), "-r")
    case "--pin":
        guard let value = remaining.popFirst() else { fail("--pin needs a directory") }
        pinDirectory = value
    default:
        if argument.hasPrefix("-") { fail("unknown option \(argument)") }
        operands.append(argument)
    }
}

switch mode {
case "list":
    for path in operands {
        let spec: ObjectSpec
        do { spec = try ObjectSpec(contentsOf: path) } catch { continue }
        for program in spec.programs {
            let options = LoadOptions(pinDirectory: pinDirectory, programNames: [program.name])
            guard let loaded = try? LoadedObject.load(spec, options: options) else { continue }
            unpinAll(loaded)
            print("ok \(path) \(program.name)")
        }
    }

case "load":
    // OBJECT:PROGRAM,PROGRAM (the object path may itself hold ':' only before the last one).
    let specs: [(path: String, programs: Set<String>)] = operands.map { operand in
        guard let colon = operand.lastIndex(of: ":") else { fail("\(operand): expected OBJECT:PROGRAM[,PROGRAM...]") }
        let names = operand[operand.index(after: colon)...].split(separator: ",").map(String.init)
        guard !names.isEmpty else { fail("\(operand): no program named") }
        return (String(operand[..<colon]), Set(names))
    }
    guard !specs.isEmpty else { fail("load: no OBJECT:PROGRAM given") }
    for round in 0..<rounds {
        var programNanoseconds: UInt64 = 0, mapNanoseconds: UInt64 = 0, btfNanoseconds: UInt64 = 0
        let start = now()
        for spec in specs {
            let options = LoadOptions(pinDirectory: pinDirectory, programNames: spec.programs)
            do {
                let loaded = try LoadedObject.load(contentsOf: spec.path, options: options)
                programNanoseconds &+= loaded.statistics.programLoadNanoseconds
                mapNanoseconds &+= loaded.statistics.mapCreateNanoseconds
                btfNanoseconds &+= loaded.statistics.btfLoadNanoseconds
                unpinAll(loaded)
            } catch {
                fail("\(spec.path): \(error.message)")
            }
        }
        let wall = now() &- start
        print("iter \(round) wall_ns \(wall) kernel_ns \(programNanoseconds + mapNanoseconds + btfNanoseconds) prog_ns \(programNanoseconds) map_ns \(mapNanoseconds) btf_ns \(btfNanoseconds) loads \(specs.count)")
    }

case "maps":
    let entries: UInt32 = 65_536
    let map: Map
    do { map = try Map.create(type: .hash, keySize: 4, valueSize: 8, maxEntries: entries, name: "bench_hash") } catch {
        fail("creating the hash map: \(error.message)")
    }
    var checksum: UInt64 = 0
    for round in 0..<rounds {
        var key: UInt32 = 0
        var value: UInt64 = 0
        let t0 = now()
        do {
            for i in 0..<operations {
                key = UInt32(truncatingIfNeeded: i) & (entries - 1)
                value = UInt64(i)
                try map.update(key: &key, value: &value)
            }
        } catch { fail("update: \(error.message)") }
        let t1 = now()
        do {
            for i in 0..<operations {
                key = UInt32(truncatingIfNeeded: i) & (entries - 1)
                if try map.lookup(key: &key, into: &value) { checksum &+= value }
            }
        } catch { fail("lookup: \(error.message)") }
        let t2 = now()
        print("iter \(round) update_ns \(t1 - t0) lookup_ns \(t2 - t1) ops \(operations)")
    }
    // Keeps the lookups from being optimized away and shows both sides read the same values.
    print("checksum \(checksum)")

default:
    fail("unknown mode \(mode) (list, load, maps)")
}
printMaxRSS()
