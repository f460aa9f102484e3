import ArgumentParser
import BPF
import BPFObject
import BTF
import ByteParsing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The run command's settings as a value: built by ArgumentParser's ``RunCommand``, or straight from the
/// command line by ``RunArguments`` when it has only the run command's own options.
struct RunOptions: Equatable, Sendable {
    /// The BPF ELF object.
    var object: String
    /// `--attach [PROGRAM=]SPEC`, in order.
    var attachments: [String] = []
    /// `--program`, `--btf`, `--set`, `--pin`.
    var loading = LoadingChoices()
    /// `--trace`: stream bpf_printk output.
    var trace = false
    /// `--maps SECONDS`.
    var mapsInterval: Double?
    /// `--event-type TYPE`.
    var eventType: String?
    /// `--duration SECONDS`.
    var duration: Double?
    /// `--json`.
    var json = false

    /// What is wrong with the values, as ArgumentParser's validation message, or nil.
    var problem: String? {
        if let problem = loading.problem { return problem }
        if let mapsInterval, !(mapsInterval >= 0.05) { return "--maps: expected a number of seconds, at least 0.05" }
        if let duration, !(duration >= 0) { return "--duration: expected a number of seconds" }
        return nil
    }

    /// Loads, attaches, streams until a signal or the duration, detaches; failures are one line on stderr
    /// and `ExitCode.failure`.
    func run() throws {
        // Before any thread exists, so that every thread inherits the blocked mask (see StopSignals).
        let signals = StopSignals()
        defer { signals.restore() }
        let started = monotonicSeconds()

        var requests: [AttachRequest] = []
        for text in attachments {
            do { requests.append(try AttachRequest(parsing: text)) } catch {
                reportError("--attach \(text): \(error)")
                throw ExitCode.failure
            }
        }
        var (spec, options) = try loading.prepare(object)
        let plan: AttachPlan
        do { plan = try AttachPlan.make(requests, spec: &spec, onlyPrograms: options.programNames) } catch {
            reportError("\(object): \(error)")
            throw ExitCode.failure
        }
        // Programs that --attach names load even when --program left them out.
        options.programNames?.formUnion(plan.steps.map(\.program))
        let eventDecoder = try EventDecoder(typeName: eventType, btf: spec.btf, object: object)
        // trace_pipe first: it has one reader at a time, and finding it taken should cost nothing.
        var tracePipe: TracePipeReader?
        if trace {
            do { tracePipe = try TracePipeReader() } catch {
                reportError("--trace: \(error.message)", details: error.details)
                throw ExitCode.failure
            }
        }

        let printer = LinePrinter()
        let session = RunSession(printer: printer, json: json, eventDecoder: eventDecoder)
        let loaded = try loadObject(spec, options: options, path: object)
        for warning in loaded.warnings { reportError("warning: \(warning)") }
        let attachedNames = plan.steps.map(\.program)
        for failure in loaded.failures where !attachedNames.contains(failure.name) {
            reportError("warning: program \(failure.name) not loaded: \(failure.error.message)")
        }
        for (program, reason) in plan.skipped where loaded.program(named: program) != nil {
            reportError("note: program \(program) not attached: \(reason); use --attach \(program)=SPEC")
        }

        // Readers first, so that nothing the programs send from their first run is missed.
        do { try session.startReaders(loaded, tracePipe: tracePipe) } catch {
            session.stopReaders()
            reportError("\(error.message)", details: error.details)
            throw ExitCode.failure
        }

        // Attach, all or nothing: on the first failure every link made so far is closed.
        var links: [Link] = []
        var iterators: [Link] = []
        func abandon(_ message: String, details: [String] = []) -> ExitCode {
            links.forEach { $0.close() }
            session.stopReaders()
            reportError(message, details: details)
            return ExitCode.failure
        }
        for step in plan.steps {
            guard let program = loaded.program(named: step.program) else {
                let failure = loaded.failures.first { $0.name == step.program }
                throw abandon("program \(step.program) did not load, so it cannot be attached to \(step.target): \(failure?.error.message ?? "not loaded")",
                              details: failure.map { VerifierLog.relevantTail($0.error.log ?? "") } ?? [])
            }
            do {
                let made = try program.attach(to: step.target)
                links += made
                if case .iter = step.target { iterators += made }
                let programID = try? program.kernelID()
                for link in made { session.attached(link, programID: programID) }
            } catch {
                throw abandon("attaching \(step.program) to \(step.target): \(error.message)", details: error.details)
            }
        }
        do { try session.readIterators(iterators) } catch {
            throw abandon("reading an iterator: \(error.message)", details: error.details)
        }
        if !json { reportError("running; press Ctrl-C to stop") }

        // Wait for a signal, the end of --duration, or the next --maps tick.
        let deadline = duration.map { monotonicSeconds() + $0 }
        var nextMaps = mapsInterval.map { monotonicSeconds() + $0 }
        var stoppedBy = "duration"
        while true {
            let now = monotonicSeconds()
            if let deadline, now >= deadline { break }
            let wake = [deadline, nextMaps].compactMap { $0 }.min() ?? now + 3600
            if let signal = signals.wait(seconds: wake - now) {
                stoppedBy = signal == SIGINT ? "SIGINT" : "SIGTERM"
                break
            }
            if let due = nextMaps, monotonicSeconds() >= due, let mapsInterval {
                session.printMaps(loaded)
                // A slow dump skips the ticks it overran rather than running back to back.
                nextMaps = max(due + mapsInterval, monotonicSeconds() + mapsInterval / 2)
            }
        }

        // Detach first, then drain what the programs sent until then, then the final maps and summary.
        for link in links { link.close() }
        let readerErrors = session.stopReaders()
        if mapsInterval != nil { session.printMaps(loaded) }
        for link in links { session.detached(link) }
        session.summary(seconds: monotonicSeconds() - started, stoppedBy: stoppedBy, links: links.count,
                        readerErrors: readerErrors)
        if !readerErrors.isEmpty { throw ExitCode.failure }
    }
}


/// Decodes buffer records through a BTF type of the object (`--event-type`), or shows them as hex.
struct EventDecoder: Sendable {
    let btf: TypeGraph?
    let typeID: UInt32
    let size: Int

    /// Finds `typeName` in the object's BTF; no name gives a decoder that prints hex.
    init(typeName: String?, btf: TypeGraph?, object: String) throws {
        guard let typeName else {
            (self.btf, typeID, size) = (nil, 0, 0)
            return
        }
        guard let btf else {
            reportError("--event-type \(typeName): \(object) has no BTF to decode records with")
            throw ExitCode.failure
        }
        guard let id = btf.typeID(named: typeName), let size = try? btf.resolvedSize(of: id), size > 0 else {
            reportError("--event-type \(typeName): \(object)'s BTF has no type of that name with a size (clang keeps only the types the program uses)")
            throw ExitCode.failure
        }
        (self.btf, typeID, self.size) = (btf, id, size)
    }

    /// Whether `--event-type` was given.
    var isActive: Bool { btf != nil }

    /// The record decoded (its first `size` bytes), or nil to print hex (no type, or a record too short).
    func decode(_ bytes: UnsafeRawBufferPointer) -> BTFValue? {
        guard let btf, bytes.count >= size else { return nil }
        return try? btf.decode(UnsafeRawBufferPointer(rebasing: bytes.prefix(size)), as: typeID, byteOrder: .host)
    }
}
