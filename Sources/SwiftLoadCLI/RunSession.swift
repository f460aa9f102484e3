import BPF
import BTF
import ByteParsing
import Synchronization

/// What the run command shows while its programs are attached: one reader thread per ring buffer and perf
/// event array (and one for trace_pipe with `--trace`), each printing a line per record as it arrives, and
/// the counts for the summary. Human lines by default; with `--json` one object per line with a `"type"`.
final class RunSession: Sendable {
    let printer: LinePrinter
    let json: Bool
    let eventDecoder: EventDecoder

    private struct Counts: Sendable {
        var events: [String: Int] = [:]
        var lost: [String: UInt64] = [:]
        var traceLines = 0
    }

    private struct Readers: Sendable {
        var wakes: [@Sendable () -> Void] = []
        var threads: [BackgroundThread] = []
        var errors: [String] = []
    }

    private let counts = Mutex(Counts())
    private let readers = Mutex(Readers())
    /// Set by ``stopReaders()``; the reader loops end when they see it.
    private let stopping = Atomic<Bool>(false)

    init(printer: LinePrinter, json: Bool, eventDecoder: EventDecoder) {
        self.printer = printer
        self.json = json
        self.eventDecoder = eventDecoder
    }

    // MARK: Attachments

    /// `attached PROGRAM → TARGET (program id N, link id M)` (`programID` read once per program by the
    /// caller: one program may make a link per CPU); JSON adds `program_id` and `link_id` (null
    /// for attachments that are not BPF links: perf events on old kernels, socket filters).
    func attached(_ link: Link, programID: UInt32?) {
        let linkID = link.kind == .bpfLink ? (try? link.info())?.id : nil
        if json {
            printer.line(JSON.object([("type", .string("attached")), ("program", .string(link.programName)),
                                      ("target", .string(link.target)),
                                      ("program_id", programID.map { .uint(UInt64($0)) } ?? .null),
                                      ("link_id", linkID.map { .uint(UInt64($0)) } ?? .null)]).serialized)
        } else {
            var ids = programID.map { ["program id \(DecimalText.string(UInt64($0)))"] } ?? []
            if let linkID { ids.append("link id \(DecimalText.string(UInt64(linkID)))") }
            printer.line("attached \(link.programName) → \(link.target)\(ids.isEmpty ? "" : " (\(commaSeparated(ids)))")")
        }
    }

    func detached(_ link: Link) {
        if json {
            printer.line(JSON.object([("type", .string("detached")), ("program", .string(link.programName)),
                                      ("target", .string(link.target))]).serialized)
        } else {
            printer.line("detached \(link.programName) → \(link.target)")
        }
    }

    /// Iterator links produce their output when read: read each of `links` (the iterator links) once, right
    /// after attaching, and print it (text as lines, anything else as hex). A read that fails is an error
    /// for the caller (exit 1).
    func readIterators(_ links: [Link]) throws(BPFError) {
        for link in links {
            let output = try link.iteratorOutput()
            let text = String(decoding: output, as: UTF8.self)
            let isText = !output.isEmpty && output.allSatisfy { $0 == 0x0a || $0 == 0x09 || (0x20..<0x7f).contains($0) || $0 >= 0x80 }
                && text.utf8.elementsEqual(output)
            if json {
                printer.line(JSON.object([("type", .string("iter")), ("program", .string(link.programName)),
                                          ("target", .string(link.target)), ("bytes", .int(Int64(output.count))),
                                          ("output", .string(isText ? text : Hex.lowercase(output)))]).serialized)
            } else if isText {
                printer.line("iter \(link.programName) (\(output.count) bytes):")
                for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
                    printer.line("  " + line)
                }
            } else {
                printer.line("iter \(link.programName) (\(output.count) bytes): \(Hex.lowercase(Array(output.prefix(4096))))\(output.count > 4096 ? "…" : "")")
            }
        }
    }

    // MARK: Readers

    /// Starts a reader thread for every ring buffer and perf event array of `loaded`, and for `tracePipe`
    /// (`--trace`, opened before loading). Called before attaching, so that nothing the programs send
    /// from their first run is missed (a perf event array delivers only to CPUs whose slot is filled).
    ///
    /// Each loop polls with a short timeout and checks the session's own stop flag between polls: a stop
    /// that comes before the thread has even started is still seen (``stopReaders()`` never waits on a
    /// loop that missed it).
    func startReaders(_ loaded: LoadedObject, tracePipe: TracePipeReader?) throws(BPFError) {
        for map in loaded.maps where map.type.isRingBuffer {
            let reader = try RingBufferReader(map: map)
            let name = map.name
            try start(wake: { reader.wake() }) { [self] () throws(BPFError) in
                while !stopping.load(ordering: .acquiring) {
                    _ = try reader.poll(timeout: Self.pollInterval) { record in event(map: name, cpu: nil, bytes: record) }
                }
                _ = try reader.consume { record in event(map: name, cpu: nil, bytes: record) }
            }
        }
        for map in loaded.maps where map.type == .perfEventArray {
            let reader = try PerfBufferReader(map: map)
            let name = map.name
            try start(wake: { reader.wake() }) { [self] () throws(BPFError) in
                while !stopping.load(ordering: .acquiring) {
                    _ = try reader.poll(timeout: Self.pollInterval) { record in perfRecord(map: name, record) }
                }
                _ = try reader.consume { record in perfRecord(map: name, record) }
            }
        }
        if let reader = tracePipe {
            try start(wake: { reader.wake() }) { [self] () throws(BPFError) in
                while !stopping.load(ordering: .acquiring) {
                    _ = try reader.poll(timeout: Self.pollInterval) { line in traceLine(line) }
                }
                _ = try reader.consume { line in traceLine(line) }
            }
        }
    }

    /// How long a reader waits before looking at the stop flag again (a stop also wakes it at once).
    private static let pollInterval: Duration = .milliseconds(250)

    private func start(wake: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () throws(BPFError) -> Void) throws(BPFError) {
        let thread = BackgroundThread { [self] in
            do throws(BPFError) { try body() } catch {
                readers.withLock { $0.errors.append(error.message) }
                reportError("reading stopped: \(error.message)")
            }
        }
        guard let thread else {
            throw BPFError(.kernel, "cannot start a reader thread (pthread_create failed)")
        }
        readers.withLock {
            $0.wakes.append(wake)
            $0.threads.append(thread)
        }
    }

    /// Stops every reader and waits for its thread; each drains the records already there first.
    /// - Returns: the errors that ended readers early (each already reported on stderr).
    @discardableResult
    func stopReaders() -> [String] {
        stopping.store(true, ordering: .releasing)
        let current = readers.withLock { readers -> Readers in
            defer { readers.wakes = []; readers.threads = [] }
            return readers
        }
        for wake in current.wakes { wake() }
        for thread in current.threads { thread.join() }
        return readers.withLock { $0.errors }
    }

    /// One record: decoded with `--event-type` (its first bytes: perf samples carry padding), else hex;
    /// a record the type cannot describe (shorter than it) is shown in hex with both sizes.
    private func event(map: String, cpu: Int?, bytes: UnsafeRawBufferPointer) {
        counts.withLock { $0.events[map, default: 0] += 1 }
        let decoded = eventDecoder.decode(bytes)
        let undecodable = eventDecoder.isActive && decoded == nil
        if json {
            var fields: [(String, JSON)] = [("type", .string("event")), ("map", .string(map))]
            if let cpu { fields.append(("cpu", .int(Int64(cpu)))) }
            fields.append(("data", decoded.map { .serializedValue($0.json) } ?? .string(Hex.lowercase(bytes))))
            if undecodable { fields.append(("size", .int(Int64(bytes.count)))) }
            printer.line(JSON.object(fields).serialized)
        } else {
            let cpuText = cpu.map { " cpu \($0)" } ?? ""
            let note = undecodable ? " (\(bytes.count) bytes; the event type is \(eventDecoder.size))" : ""
            printer.line("event \(map)\(cpuText): \(decoded?.fieldsLine ?? Hex.lowercase(bytes))\(note)")
        }
    }

    private func perfRecord(map: String, _ record: PerfBufferRecord) {
        switch record {
        case .sample(let cpu, let data):
            data.withUnsafeBytes { event(map: map, cpu: cpu, bytes: $0) }
        case .lost(let cpu, let count):
            counts.withLock { $0.lost[map, default: 0] += count }
            if json {
                printer.line(JSON.object([("type", .string("lost")), ("map", .string(map)), ("cpu", .int(Int64(cpu))),
                                          ("count", .uint(count))]).serialized)
            } else {
                printer.line("lost \(count) records of \(map) on cpu \(cpu)")
            }
        }
    }

    /// A trace_pipe line: `trace: TASK-PID: MESSAGE` for people; the whole line, and its parts when it
    /// parses, in JSON.
    private func traceLine(_ line: String) {
        counts.withLock { $0.traceLines += 1 }
        let parsed = TraceLine(line)
        if json {
            var fields: [(String, JSON)] = [("type", .string("trace")), ("line", .string(line))]
            if let parsed {
                fields += [("task", .string(parsed.task)), ("pid", .int(Int64(parsed.pid))), ("cpu", .int(Int64(parsed.cpu))),
                           ("message", .string(parsed.message))]
            }
            printer.line(JSON.object(fields).serialized)
        } else {
            printer.line("trace: " + (parsed?.summary ?? line))
        }
    }

    // MARK: Maps and summary

    /// Prints every map worth showing (``MapDisplay/isShown(_:)``).
    func printMaps(_ loaded: LoadedObject) {
        for map in loaded.maps where MapDisplay.isShown(map) {
            if json {
                printer.line(MapDisplay.json(map).serialized)
            } else {
                printer.lines(MapDisplay.textLines(map))
            }
        }
    }

    /// The last line: how long the command ran (from its start, loading included), what stopped it, and
    /// what arrived; reader errors (each already reported) are listed and make the exit status 1.
    func summary(seconds: Double, stoppedBy: String, links: Int, readerErrors: [String]) {
        let counts = self.counts.withLock { $0 }
        let rounded = (seconds * 10).rounded() / 10
        if json {
            let events: [(String, JSON)] = counts.events.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }
            let lost: [(String, JSON)] = counts.lost.sorted { $0.key < $1.key }.map { ($0.key, .uint($0.value)) }
            printer.line(JSON.object([("type", .string("summary")), ("stopped_by", .string(stoppedBy)),
                                      ("seconds", .serializedValue("\(rounded)")), ("links", .int(Int64(links))),
                                      ("events", .object(events)), ("lost", .object(lost)),
                                      ("trace_lines", .int(Int64(counts.traceLines))),
                                      ("errors", .array(readerErrors.map { .string($0) }))]).serialized)
        } else {
            var parts = ["ran \(rounded) s (stopped by \(stoppedBy))", "\(links) link\(links == 1 ? "" : "s") detached"]
            for (map, count) in counts.events.sorted(by: { $0.key < $1.key }) {
                parts.append("\(count) event\(count == 1 ? "" : "s") from \(map)")
            }
            for (map, count) in counts.lost.sorted(by: { $0.key < $1.key }) where count > 0 {
                parts.append("\(count) lost from \(map)")
            }
            if counts.traceLines > 0 { parts.append("\(counts.traceLines) trace line\(counts.traceLines == 1 ? "" : "s")") }
            for error in readerErrors { parts.append("reading failed: \(error)") }
            printer.line("summary: " + commaSeparated(parts))
        }
    }
}

/// `parts` joined by ", ". Written out because `joined(separator:)` is generic over the sequence: its first
/// call makes the Swift runtime look up `[String]`'s collection conformances by scanning every conformance
/// record in the binary (~30 µs in swift-load), on the way to the `attached` line.
func commaSeparated(_ parts: [String]) -> String {
    var text = ""
    for (index, part) in parts.enumerated() {
        if index > 0 { text += ", " }
        text += part
    }
    return text
}
