import Foundation
import Testing
import TestSupport

/// libbpf as an oracle for `swift-load inspect`: `Tests/Oracles/libbpf_inspect.c`, compiled once per test
/// run against the system's libbpf (Debian's `libbpf-dev`, 1.1.2), opens an object without loading it and
/// prints what libbpf sees in the JSON shape of `swift-load inspect --json`.
///
/// libbpf is never linked into the product; only this test-only helper program uses it.
enum LibbpfOracle {
    /// Where the oracle's C source lives.
    static var sourcePath: String { TestPaths.root + "/Tests/Oracles/libbpf_inspect.c" }

    /// The library files a `-lbpf` link can use, in Debian's multiarch and the usual directories.
    private static let libraryCandidates = [
        "/usr/lib/x86_64-linux-gnu/libbpf.so", "/usr/lib/aarch64-linux-gnu/libbpf.so",
        "/usr/lib64/libbpf.so", "/usr/lib/libbpf.so", "/usr/local/lib/libbpf.so",
        "/usr/local/lib64/libbpf.so",
    ]

    /// The compiled oracle, built on first use; Swift initializes a static `let` once, thread-safely, so
    /// parallel tests share one build.
    private static let build = CHarness(
        label: "libbpf oracle", source: "libbpf_inspect.c", linkFlags: ["-lbpf", "-lelf", "-lz"],
        requirements: [CHarness.libbpfHeaders,
                       .init(anyOf: libraryCandidates, "libbpf.so missing (install libbpf-dev)")])

    /// The path of the compiled oracle. Skips the calling test when `cc`, libbpf's headers or its library
    /// are missing (fails instead under `SWIFT_LOAD_REQUIRE_KERNEL=1`); fails it when the harness does not
    /// compile.
    static func executable(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try build.executable(sourceLocation: sourceLocation)
    }

    /// What the oracle says about one object.
    enum Verdict {
        /// libbpf opened the object; this is its view.
        case opened(LibbpfObjectView)
        /// libbpf refuses to open the object (legacy `maps` section, foreign byte order, static programs,
        /// unresolvable externs, ...); the text is libbpf's own last warning.
        case refused(String)
    }

    /// Runs the oracle on `object`.
    static func inspect(_ object: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Verdict {
        let oracle = try executable(sourceLocation: sourceLocation)
        let result = try Tool.run(oracle, [object])
        switch result.status {
        case 0:
            do {
                return .opened(try JSONDecoder().decode(LibbpfObjectView.self, from: Data(result.stdout.utf8)))
            } catch {
                Issue.record("libbpf oracle printed undecodable JSON for \(object): \(error)\n\(result.stdout)",
                             sourceLocation: sourceLocation)
                throw error
            }
        case 2:
            return .refused(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        default:
            let failure = CHarness.Unavailable(isMissingTool: false,
                                      reason: "oracle exited \(result.status) on \(object): \(result.stderr)")
            Issue.record("libbpf oracle: \(failure.reason)", sourceLocation: sourceLocation)
            throw failure
        }
    }
}

/// An object as libbpf 1.1.2 sees it after `bpf_object__open_file` (the oracle's JSON).
struct LibbpfObjectView: Decodable, Sendable {
    /// A program: libbpf lists entry programs only, never `.text` subprograms of multi-program objects.
    typealias Program = InspectedProgram

    /// A map, user-declared or internal (global data, `.kconfig`).
    struct Map: Decodable, Sendable {
        /// `bpf_map__name`: the declared name, or for internal maps libbpf's kernel-side name
        /// ("globals.rodata", or the section name itself for `.rodata.str1.1`).
        var name: String
        /// `libbpf_bpf_map_type_str`.
        var type: String
        /// `bpf_map__key_size`.
        var keySize: UInt32
        /// `bpf_map__value_size`.
        var valueSize: UInt32
        /// `bpf_map__max_entries` at open (0 stays 0 for perf event arrays).
        var maxEntries: UInt32
        /// `bpf_map__map_flags`.
        var flags: UInt32
        /// "by_name" when libbpf set a pin path at open (LIBBPF_PIN_BY_NAME), else "none".
        var pinning: String
        /// `bpf_map__is_internal`.
        var `internal`: Bool

        enum CodingKeys: String, CodingKey {
            case name, type, keySize = "key_size", valueSize = "value_size", maxEntries = "max_entries"
            case flags, pinning, `internal`
        }

        /// For an internal map, the ELF section it holds (".rodata"), recovered from libbpf's name:
        /// libbpf prefixes at most 8 characters of the object name, which holds no dot, unless the name
        /// already starts with the section's dot.
        var internalSectionName: String {
            if name.hasPrefix(".") { return name }
            guard let dot = name.firstIndex(of: ".") else { return name }
            return String(name[dot...])
        }
    }

    /// `bpf_object__name`.
    var object: String
    /// Entry programs in libbpf's order.
    var programs: [Program]
    /// Maps in libbpf's order.
    var maps: [Map]
}
