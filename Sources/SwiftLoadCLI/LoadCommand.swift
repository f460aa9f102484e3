import ArgumentParser
import BPF
import BPFObject

/// `swift-load load OBJ [--program NAME]... [--btf PATH] [--set NAME=VALUE]... [--pin DIR] [--json]`:
/// load an object and report, per program, whether the verifier accepted it.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load an object into the kernel and report every program and map (then unload, unless pinned).",
        discussion: """
            Every requested program is attempted; a rejection prints the verifier's verdict and the tail of \
            its log. Exits 0 only if every requested program loaded. Maps with pinning = LIBBPF_PIN_BY_NAME \
            are pinned under --pin (default /sys/fs/bpf) and reused on the next load when compatible; \
            everything else is released when the command exits. See Docs/commands/load.md.
            """)

    @Argument(help: "The BPF ELF object.")
    var object: String

    @OptionGroup var loading: LoadingOptions

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Verifier log level for every program (1, 2); by default a log is taken only when a program fails.", valueName: "N"))
    var logLevel: UInt32 = 0

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        var (spec, options) = try loading.choices.prepare(object)
        options.logLevel = logLevel
        let loaded = try loadObject(spec, options: options, path: object)
        var out = StandardOutput()
        if json {
            out.line(jsonReport(loaded).serialized)
        } else {
            printReport(loaded, to: &out)
        }
        if !loaded.failures.isEmpty { throw ExitCode.failure }
    }

    /// The programs in object order: loaded ones and failures.
    func results(_ loaded: LoadedObject) -> [(name: String, program: Program?, failure: BPFError?)] {
        loaded.spec.programs.compactMap { spec in
            if let program = loaded.program(named: spec.name) { return (spec.name, program, nil) }
            if let failure = loaded.failures.first(where: { $0.name == spec.name }) { return (spec.name, nil, failure.error) }
            return nil
        }
    }

    func printReport(_ loaded: LoadedObject, to out: inout StandardOutput) {
        for warning in loaded.warnings { reportError("warning: \(warning)") }
        for (name, program, failure) in results(loaded) {
            if let program {
                let info = try? program.info()
                let id = info.map { "id \($0.id)" } ?? "id ?"
                let verified = info.map { ", \($0.verifiedInstructions) instructions verified" } ?? ""
                out.line("program \(name): loaded (\(program.type), \(id)\(verified))")
                if let log = program.verifierLog, logLevel > 0 { out.line(log) }
            } else if let failure {
                out.line("program \(name): FAILED: \(failure.message)")
                for detail in failure.details { out.line("  \(detail)") }
                if let log = failure.log {
                    let tail = VerifierLog.relevantTail(log)
                    if !tail.isEmpty {
                        out.line("  verifier log (last \(tail.count) lines):")
                        for line in tail { out.line("    " + line) }
                    }
                }
            }
        }
        for map in loaded.maps {
            let id = (try? map.info()).map { "id \($0.id)" } ?? "id ?"
            let pinned = map.pinnedPath.map { ", pinned at \($0)" } ?? ""
            out.line("map \(map.name): \(map.type) (\(id), key \(map.keySize), value \(map.valueSize), max_entries \(map.maxEntries)\(pinned))")
        }
    }

    func jsonReport(_ loaded: LoadedObject) -> JSON {
        let programs: [JSON] = results(loaded).map { name, program, failure in
            let info = try? program?.info()
            return .object([
                ("name", .string(name)),
                ("loaded", .bool(program != nil)),
                ("id", info.map { .uint(UInt64($0.id)) } ?? .null),
                ("type", .string("\(loaded.spec.program(named: name)?.type ?? .unspecified)")),
                ("verified_instructions", info.map { .uint(UInt64($0.verifiedInstructions)) } ?? .null),
                ("error", .optional(failure?.message)),
                ("log", .optional(failure?.log ?? program?.verifierLog)),
            ])
        }
        let maps: [JSON] = loaded.maps.map { map in
            .object([
                ("name", .string(map.name)),
                ("id", (try? map.info()).map { .uint(UInt64($0.id)) } ?? .null),
                ("type", .string("\(map.type)")),
                ("pinned", .optional(map.pinnedPath)),
            ])
        }
        return .object([("programs", .array(programs)), ("maps", .array(maps)),
                        ("warnings", .array(loaded.warnings.map { .string($0) }))])
    }
}
