// ringbuf-bench: how fast swift-load's RingBufferReader consumes records a BPF program writes as fast as
// it can. The reference side is harness/libbpf_ringbuf_bench.c (libbpf's ring_buffer__poll /
// ring_buffer__consume), with the same modes and output.
//
// The program is Fixtures/ringbuf_bench.o (bpf-src/ringbuf_bench.bpf.c) on tracepoint
// syscalls/sys_enter_getpid: on every getpid() of this process it writes 64 records of 16 bytes with
// bpf_ringbuf_output and counts those that did not fit. Its ring `rb` is resized to --size bytes before
// loading (default 16 MiB).
//
// Usage:
//   ringbuf-bench stream [-n ROUNDS] [-d MILLISECONDS] [--size BYTES] OBJECT
//       Each round: a producer thread calls getpid() in a loop while this thread consumes with
//       `RingBufferReader.poll(timeout: 100 ms)` for the duration; prints
//         iter R events N ns T cpu_ns C written W dropped D hits H
//       (events: records consumed during the window, ns: the window, cpu_ns: this thread's CPU time in it
//       (the consumer's cost, wake-ups included); written/dropped: the program's counts over the window;
//       hits: the producer's getpid() calls). The ring is drained between rounds.
//   ringbuf-bench drain [-n ROUNDS] [--size BYTES] OBJECT
//       Each round: getpid() is called until the ring is three-quarters full (no consumer running), then
//       one `RingBufferReader.consume` reads everything; prints "iter R events N ns T".
// The handler counts each record and adds its second word to a checksum, printed as "checksum C" at the end
// (the same on both sides for drain). Every mode ends with "maxrss_kb N". Failures exit 2.

import BPF
import BPFObject
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `clock` in nanoseconds.
@inline(__always)
func clock(_ clock: clockid_t) -> UInt64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Monotonic clock in nanoseconds.
@inline(__always)
func now() -> UInt64 { clock(CLOCK_MONOTONIC) }

/// CPU time of the calling thread in nanoseconds.
func threadCPU() -> UInt64 { clock(CLOCK_THREAD_CPUTIME_ID) }

func fail(_ message: String) -> Never {
    let line = "ringbuf-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

let recordsPerHit = 64
let recordBytes = 24 // 8-byte header + 16-byte record

/// Whether the producer thread keeps calling getpid().
let producing = Atomic<Bool>(false)
/// getpid() calls the producer made.
let producerHits = Atomic<UInt64>(0)

/// The producer thread: getpid() until told to stop (a plain function: a closure written in top-level
/// code would belong to the main actor, and the runtime checks that on other threads).
nonisolated func produce(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    while producing.load(ordering: .relaxed) {
        _ = getpid()
        producerHits.add(1, ordering: .relaxed)
    }
    return nil
}

// --- Arguments ------------------------------------------------------------------------------------------
var arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first, mode == "stream" || mode == "drain" else {
    fail("usage: ringbuf-bench stream|drain [-n ROUNDS] [-d MILLISECONDS] [--size BYTES] OBJECT")
}
arguments.removeFirst()
var rounds = 5
var durationMilliseconds = 1000
var ringSize = 16 << 20
var objectPath: String?
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    func value() -> Int {
        guard let text = arguments.first, let number = Int(text), number > 0 else { fail("\(argument) needs a positive integer") }
        arguments.removeFirst()
        return number
    }
    switch argument {
    case "-n": rounds = value()
    case "-d": durationMilliseconds = value()
    case "--size": ringSize = value()
    default:
        guard objectPath == nil, !argument.hasPrefix("-") else { fail("unexpected argument \(argument)") }
        objectPath = argument
    }
}
guard let objectPath else { fail("no object given") }

// --- Load and attach ------------------------------------------------------------------------------------
let object: LoadedObject
let ring: Map
let state: Map
let link: Link
do {
    var spec = try ObjectSpec(contentsOf: objectPath)
    guard let index = spec.maps.firstIndex(where: { $0.name == "rb" }) else { fail("\(objectPath) has no map rb") }
    spec.maps[index].maxEntries = UInt32(ringSize)
    object = try LoadedObject.load(spec)
    guard let rb = object.map(named: "rb"), let bench = object.map(named: "bench_state"),
          let program = object.program(named: "ringbuf_bench") else { fail("\(objectPath) lacks rb, bench_state or ringbuf_bench") }
    ring = rb
    state = bench
    try state.update(UInt32(0), UInt64(getpid()))
    link = try program.attachTracepoint()
} catch {
    fail("\(error)")
}
let reader: RingBufferReader
do { reader = try RingBufferReader(map: ring) } catch { fail("\(error)") }

func counter(_ key: UInt32) -> UInt64 {
    do { return try state.lookup(key, as: UInt64.self) ?? 0 } catch { fail("\(error)") }
}

/// What the handler saw: records and the sum of their second words. Local to each measured call (a
/// global would be checked for exclusive access on every record, which the C side does not pay).
struct Tally {
    var records = 0
    var sum: UInt64 = 0

    @inline(__always)
    mutating func add(_ record: UnsafeRawBufferPointer) {
        records &+= 1
        sum &+= record.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }
}
var checksum: UInt64 = 0

func drainAll() {
    do {
        while try reader.consume({ _ in }) > 0 {}
    } catch { fail("\(error)") }
}

// --- Modes ----------------------------------------------------------------------------------------------
switch mode {
case "stream":
    for round in 0..<rounds {
        drainAll()
        let written0 = counter(1), dropped0 = counter(2)
        producerHits.store(0, ordering: .relaxed)
        producing.store(true, ordering: .releasing)
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, produce, nil)
        guard created == 0 else { fail("pthread_create: \(created)") }
        var tally = Tally()
        let start = now(), cpuStart = threadCPU()
        let end = start + UInt64(durationMilliseconds) * 1_000_000
        do {
            while now() < end {
                try reader.poll(timeout: .milliseconds(100)) { tally.add($0) }
            }
        } catch { fail("\(error)") }
        let elapsed = now() - start, cpu = threadCPU() - cpuStart
        let events = tally.records
        checksum &+= tally.sum
        producing.store(false, ordering: .releasing)
        pthread_join(thread, nil)
        let written = counter(1) - written0, dropped = counter(2) - dropped0
        print("iter \(round) events \(events) ns \(elapsed) cpu_ns \(cpu) written \(written) dropped \(dropped) hits \(producerHits.load(ordering: .relaxed))")
    }
default: // drain
    let hitsPerRound = ringSize / recordBytes / recordsPerHit * 3 / 4
    for round in 0..<rounds {
        drainAll()
        let dropped0 = counter(2)
        for _ in 0..<hitsPerRound { _ = getpid() }
        guard counter(2) == dropped0 else { fail("the ring overflowed while filling") }
        var tally = Tally()
        let start = now()
        do { try reader.consume { tally.add($0) } } catch { fail("\(error)") }
        let elapsed = now() - start
        guard tally.records == hitsPerRound * recordsPerHit else { fail("consumed \(tally.records) of \(hitsPerRound * recordsPerHit)") }
        checksum &+= tally.sum
        print("iter \(round) events \(tally.records) ns \(elapsed)")
    }
}
link.close()
print("checksum \(checksum)")
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
print("maxrss_kb \(usage.ru_maxrss)")
