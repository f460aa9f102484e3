import BPF
import BTF
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
        var stops: [@Sendable () -> Void] = []
        var threads: [BackgroundThread] = []
        var errors: [String] = []
    }

    private let counts = Mutex(Counts())
    private let readers = Mutex(Readers())

    init(printer: LinePrinter, json: Bool, eventDecoder: EventDecoder) {
        self.printer = printer
        self.json = json
        self.eventDecoder = eventDecoder
    }

    // MARK: Attachments

    /// `attached PROGRAM → TARGET (program id N, link id M)`; JSON adds `program_id` and `link_id` (null
    /// for attachments that are not BPF links: perf events on old kernels, socket filters).
    func attached(_ link: Link, program: Program) {
        let programID = (try? program.info())?.id
        let linkID = link.kind == .bpfLink ? (try? link.info())?.id : nil
        if json {
            printer.line(JSON.object([("type", .string("attached")), ("program", .string(link.programName)),
                                      ("target", .string(link.target)),
                                      ("program_id", programID.map { .uint(UInt64($0)) } ?? .null),
                                      ("link_id", linkID.map { .uint(UInt64($0)) } ?? .null)]).serialized)
        } else {
            var ids = programID.map { ["program id \($0)"] } ?? []
            if let linkID { ids.append("link id \(linkID)") }
            printer.line("attached \(link.programName) → \(link.target)\(ids.isEmpty ? "" : " (\(ids.joined(separator: ", ")))")")
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

    /// Iterator links produce their output when read: read each once, right after attaching, and print it
    /// (text as lines, anything else as hex, or decoded with --event-type when it is a run of records).
    func readIterators(_ links: [Link]) {
        for link in links where link.target.hasPrefix("iter/") {
            let output: [UInt8]
            do { output = try link.iteratorOutput() } catch {
                reportError("reading \(link.description): \(error.message)")
                continue
            }
            let text = String(decoding: output, as: UTF8.self)
            let isText = !output.isEmpty && output.allSatisfy { $0 == 0x0a || $0 == 0x09 || (0x20..<0x7f).contains($0) || $0 >= 0x80 }
                && text.utf8.elementsEqual(output)
            if json {
                printer.line(JSON.object([("type", .string("iter")), ("program", .string(link.programName)),
                                          ("target", .string(link.target)), ("bytes", .int(Int64(output.count))),
                                          ("output", .string(isText ? text : hex(output)))]).serialized)
            } else if isText {
                printer.line("iter \(link.programName) (\(output.count) bytes):")
                for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
                    printer.line("  " + line)
                }
            } else {
                printer.line("iter \(link.programName) (\(output.count) bytes): \(hex(Array(output.prefix(4096))))\(output.count > 4096 ? "…" : "")")
            }
        }
    }

    // MARK: Readers

    /// Starts a reader thread for every ring buffer and perf event array of `loaded`, and for trace_pipe
    /// when `trace` is set.
    func startReaders(_ loaded: LoadedObject, trace: Bool) throws(BPFError) {
        for map in loaded.maps where map.type.isRingBuffer {
            let reader = try RingBufferReader(map: map)
            let name = map.name
            start(stop: { reader.stop() }) { [self] () throws(BPFError) in
                try reader.forEach { record in
                    event(map: name, cpu: nil, bytes: Array(record))
                    return true
                }
                _ = try reader.consume { record in event(map: name, cpu: nil, bytes: Array(record)) }
            }
        }
        for map in loaded.maps where map.type == .perfEventArray {
            let reader = try PerfBufferReader(map: map)
            let name = map.name
            start(stop: { reader.stop() }) { [self] () throws(BPFError) in
                try reader.forEach { record in
                    perfRecord(map: name, record)
                    return true
                }
                _ = try reader.consume { record in perfRecord(map: name, record) }
            }
        }
        if trace {
            let reader = try TracePipeReader()
            start(stop: { reader.stop() }) { [self] () throws(BPFError) in
                try reader.forEach { line in
                    traceLine(line)
                    return true
                }
            }
        }
    }

    private func start(stop: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () throws(BPFError) -> Void) {
        let thread = BackgroundThread {
            do throws(BPFError) { try body() } catch {
                reportError("reading stopped: \(error.message)")
            }
        }
        readers.withLock {
            $0.stops.append(stop)
            $0.threads.append(thread)
        }
    }

    /// Stops every reader and waits for its thread (each drains the records already there first).
    func stopReaders() {
        let current = readers.withLock { readers -> Readers in
            defer { readers = Readers() }
            return readers
        }
        for stop in current.stops { stop() }
        for thread in current.threads { thread.join() }
    }

    private func event(map: String, cpu: Int?, bytes: [UInt8]) {
        counts.withLock { $0.events[map, default: 0] += 1 }
        let decoded = eventDecoder.decode(bytes)
        if json {
            var fields: [(String, JSON)] = [("type", .string("event")), ("map", .string(map))]
            if let cpu { fields.append(("cpu", .int(Int64(cpu)))) }
            fields.append(("data", decoded.map { .serializedValue($0.json) } ?? .string(hex(bytes))))
            printer.line(JSON.object(fields).serialized)
        } else {
            let cpuText = cpu.map { " cpu \($0)" } ?? ""
            printer.line("event \(map)\(cpuText): \(decoded?.fieldsLine ?? hex(bytes))")
        }
    }

    private func perfRecord(map: String, _ record: PerfBufferRecord) {
        switch record {
        case .sample(let cpu, let data):
            event(map: map, cpu: cpu, bytes: data)
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
                for line in MapDisplay.textLines(map) { printer.line(line) }
            }
        }
    }

    func summary(seconds: Double, stoppedBy: String, links: Int) {
        let counts = self.counts.withLock { $0 }
        let rounded = (seconds * 10).rounded() / 10
        if json {
            let events: [(String, JSON)] = counts.events.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }
            let lost: [(String, JSON)] = counts.lost.sorted { $0.key < $1.key }.map { ($0.key, .uint($0.value)) }
            printer.line(JSON.object([("type", .string("summary")), ("stopped_by", .string(stoppedBy)),
                                      ("seconds", .serializedValue("\(rounded)")), ("links", .int(Int64(links))),
                                      ("events", .object(events)), ("lost", .object(lost)),
                                      ("trace_lines", .int(Int64(counts.traceLines)))]).serialized)
        } else {
            var parts = ["ran \(rounded) s (stopped by \(stoppedBy))", "\(links) link\(links == 1 ? "" : "s") detached"]
            for (map, count) in counts.events.sorted(by: { $0.key < $1.key }) {
                parts.append("\(count) event\(count == 1 ? "" : "s") from \(map)")
            }
            for (map, count) in counts.lost.sorted(by: { $0.key < $1.key }) where count > 0 {
                parts.append("\(count) lost from \(map)")
            }
            if counts.traceLines > 0 { parts.append("\(counts.traceLines) trace line\(counts.traceLines == 1 ? "" : "s")") }
            printer.line("summary: " + parts.joined(separator: ", "))
        }
    }
}

/// Bytes as lower-case hexadecimal.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}
