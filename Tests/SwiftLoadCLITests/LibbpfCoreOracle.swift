import Foundation
import Testing
import TestSupport

/// libbpf as an oracle for CO-RE relocation: `Tests/Oracles/libbpf_core.c`, compiled once per test run and
/// linked statically against Debian's `libbpf.a` (1.1.2), whose exported internals
/// (`bpf_core_add_cands`, `bpf_core_calc_relo_insn`, `bpf_core_patch_insn`) it drives the way libbpf's
/// `bpf_object__relocate_core` does. It prints libbpf's decision for every CO-RE relocation of an object
/// against a target BTF, one JSON line each, in the shape of `swift-load reloc --json`'s records.
///
/// libbpf is never linked into the product; only this test-only helper program uses it.
enum LibbpfCoreOracle {
    /// Where the oracle's C source lives.
    static var sourcePath: String { TestPaths.root + "/Tests/Oracles/libbpf_core.c" }

    /// The static libbpf archives a `-l:libbpf.a` link can use.
    private static let archiveCandidates = [
        "/usr/lib/x86_64-linux-gnu/libbpf.a", "/usr/lib/aarch64-linux-gnu/libbpf.a",
        "/usr/lib64/libbpf.a", "/usr/lib/libbpf.a", "/usr/local/lib/libbpf.a", "/usr/local/lib64/libbpf.a",
    ]

    /// The compiled oracle, built on first use; Swift initializes a static `let` once, thread-safely.
    private static let build = CHarness(
        label: "libbpf CO-RE oracle", source: "libbpf_core.c", linkFlags: ["-l:libbpf.a", "-lelf", "-lz"],
        requirements: [
            CHarness.libbpfHeaders,
            .init(anyOf: ["/usr/include/gelf.h"], "libelf headers missing (/usr/include/gelf.h; install libelf-dev)"),
            .init(anyOf: archiveCandidates, "static libbpf.a missing (install libbpf-dev): the CO-RE oracle needs its internal symbols"),
        ])

    /// The path of the compiled oracle. Skips the calling test when `cc`, libbpf's headers or static
    /// library, or libelf's headers are missing (fails instead under `SWIFT_LOAD_REQUIRE_KERNEL=1`); fails
    /// it when the harness does not compile.
    static func executable(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try build.executable(sourceLocation: sourceLocation)
    }

    /// What the oracle says about one object and target.
    enum Verdict: Sendable {
        /// libbpf's decision for every CO-RE relocation (failed ones included: the harness goes on where
        /// libbpf itself would stop loading).
        case decided([CoreDecision])
        /// libbpf cannot process the object at all (no BTF, foreign byte order); the text says why.
        case refused(String)
    }

    /// Runs the oracle on `object` relocated against `target` (raw BTF or an ELF object with `.BTF`).
    static func decisions(object: String, target: String,
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> Verdict {
        let oracle = try executable(sourceLocation: sourceLocation)
        let result = try Tool.run(oracle, [object, target])
        switch result.status {
        case 0:
            var decisions: [CoreDecision] = []
            for line in result.stdout.split(separator: "\n") where !line.isEmpty {
                do {
                    decisions.append(try JSONDecoder().decode(CoreDecision.self, from: Data(line.utf8)))
                } catch {
                    Issue.record("libbpf CO-RE oracle printed an undecodable line for \(object): \(error)\n\(line)",
                                 sourceLocation: sourceLocation)
                    throw error
                }
            }
            return .decided(decisions)
        case 2:
            return .refused(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        default:
            let failure = CHarness.Unavailable(
                isMissingTool: false, reason: "oracle exited \(result.status) on \(object) / \(target): \(result.stderr)")
            Issue.record("libbpf CO-RE oracle: \(failure.reason)", sourceLocation: sourceLocation)
            throw failure
        }
    }

    /// Runs the oracle with `--log` and returns libbpf's own debug lines about CO-RE specs and candidates
    /// ("relo #N: <kind> ..." and "relo #N: [non-]matching candidate #K ..."), program names removed:
    /// the lines `bpftool -d gen min_core_btf` prints for the same object and target.
    static func specLines(object: String, target: String,
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let oracle = try executable(sourceLocation: sourceLocation)
        let result = try Tool.run(oracle, ["--log", object, target])
        return CoreSpecLines.extract(from: result.stderr)
    }
}

/// libbpf's debug lines that state a CO-RE relocation's local spec and its candidates.
enum CoreSpecLines {
    /// The lines of `log` that are "prog 'P': relo #N: <kind> ..." or "... [non-]matching candidate #K ...",
    /// with the "libbpf: prog 'P': " prefix removed (libbpf names the program, bpftool the section).
    static func extract(from log: String) -> [String] {
        log.split(separator: "\n").compactMap { line -> String? in
            guard let relo = line.range(of: "relo #") else { return nil }
            let message = line[relo.lowerBound...]
            guard let colon = message.range(of: ": ") else { return nil }
            let body = message[colon.upperBound...]
            guard body.hasPrefix("<") || body.hasPrefix("matching candidate #")
                    || body.hasPrefix("non-matching candidate #") else { return nil }
            return String(message)
        }
    }
}

/// The relocatable field's value before or after patching, as a 64-bit pattern: a JSON integer that is
/// either signed (the oracle prints ALU imm as s32, LDX off as s16, LD_IMM64 as s64) or unsigned.
struct FieldValue: Decodable, Sendable, Equatable, CustomStringConvertible {
    /// The value as a 64-bit pattern (negative numbers sign-extended).
    var bits: UInt64

    init(_ value: Int64) { bits = UInt64(bitPattern: value) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let signed = try? container.decode(Int64.self) {
            bits = UInt64(bitPattern: signed)
        } else {
            bits = try container.decode(UInt64.self)
        }
    }

    /// Whether `bits` is a 32-bit quantity, zero- or sign-extended.
    private var fits32: Bool {
        bits >> 32 == 0 || (Int64(bitPattern: bits) < 0 && Int64(bitPattern: bits) >= Int64(Int32.min))
    }

    /// Whether two printed values denote the same field contents: equal 64-bit patterns, or the same
    /// 32-bit immediate printed once signed and once unsigned (-5 and 4294967291).
    func sameField(as other: FieldValue) -> Bool {
        if bits == other.bits { return true }
        return fits32 && other.fits32 && UInt32(truncatingIfNeeded: bits) == UInt32(truncatingIfNeeded: other.bits)
    }

    var description: String { "\(Int64(bitPattern: bits))" }
}

/// One relocation decision, as the oracle prints it and as `swift-load reloc --json` lists it.
struct CoreDecision: Decodable, Sendable, CustomStringConvertible {
    /// The function (entry program or `.text` subprogram) holding the instruction.
    var program: String
    /// Its ELF section.
    var section: String
    /// Instruction index (8-byte slots) from the start of the function.
    var instruction: Int
    /// Relocation kind: one of the 13 CO-RE names, or map/global/call/... for other relocations.
    var kind: String
    /// libbpf's local spec text, after "<kind> ".
    var local: String?
    /// The chosen target spec, or nil when no candidate matched.
    var target: String?
    /// "patched", "poisoned" or "failed" (nil only for non-CO-RE records that omit it).
    var outcome: String?
    /// The field before patching.
    var old: FieldValue?
    /// The field after patching; nil when poisoned or failed.
    var new: FieldValue?
    /// Why a relocation failed or was poisoned.
    var error: String?

    /// The 13 CO-RE relocation kinds' names.
    static let coreKinds: Set<String> = [
        "byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64", "local_type_id",
        "target_type_id", "type_exists", "type_size", "enumval_exists", "enumval_value", "type_matches",
    ]

    /// Whether this is a CO-RE relocation.
    var isCore: Bool { Self.coreKinds.contains(kind) }

    /// What identifies a relocation in both outputs.
    var key: String { "\(section)/\(program)#\(instruction) \(kind)" }

    /// The same without the section (function names are unique within an object).
    var programKey: String { "\(program)#\(instruction) \(kind)" }

    var description: String {
        "\(program)#\(instruction) \(kind) \(local ?? "-") => \(target ?? "null") \(outcome ?? "?") "
            + "\(old.map(\.description) ?? "null") -> \(new.map(\.description) ?? "null")"
            + (error.map { " (\($0))" } ?? "")
    }
}

/// `swift-load reloc OBJ [--btf TARGET] --json`.
struct SwiftLoadRelocReport: Decodable, Sendable {
    /// The object path.
    var object: String
    /// The target BTF path, or "running kernel".
    var targetBTF: String
    /// Every relocation, ordered by function then instruction.
    var relocations: [CoreDecision]

    enum CodingKeys: String, CodingKey {
        case object, targetBTF = "target_btf", relocations
    }

    /// The CO-RE relocations only.
    var coreRelocations: [CoreDecision] { relocations.filter(\.isCore) }

    /// What `swift-load reloc --json` did with an object.
    enum Run: Sendable {
        /// It printed the contract's JSON and exited with `status`.
        case reported(status: Int32, report: SwiftLoadRelocReport)
        /// It printed no JSON (the object as a whole was refused, or the command is missing): the exit
        /// status, standard error, and why the output did not decode.
        case noReport(status: Int32, stderr: String, why: String)
    }

    /// Runs `swift-load reloc object [--btf target] --json` and decodes what it printed.
    static func run(_ object: String, target: String?,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        var arguments = ["reloc", object]
        if let target { arguments += ["--btf", target] }
        arguments.append("--json")
        let result = try SwiftLoadExecutable.run(arguments, sourceLocation: sourceLocation)
        do {
            let report = try JSONDecoder().decode(SwiftLoadRelocReport.self, from: Data(result.stdout.utf8))
            return .reported(status: result.status, report: report)
        } catch {
            return .noReport(status: result.status, stderr: result.stderr,
                             why: "\(error); stdout: \(result.stdout.prefix(1000))")
        }
    }

    /// Runs `swift-load reloc object --btf target --json`; returns the exit status and the decoded report.
    /// Records a failure (and throws) when the output is not the contract's JSON.
    static func of(_ object: String, target: String?,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, report: SwiftLoadRelocReport) {
        switch try run(object, target: target, sourceLocation: sourceLocation) {
        case .reported(let status, let report):
            return (status, report)
        case .noReport(let status, let stderr, let why):
            let message = "swift-load reloc \(object) --btf \(target ?? "-") --json exited \(status) without the contract's "
                + "JSON (\(why)); stderr: \(stderr.prefix(1000))"
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            throw SwiftLoadExecutable.NotBuilt(message: message)
        }
    }
}
