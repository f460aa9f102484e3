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

    /// Why the oracle cannot be used: a missing tool (skip, or fail under `SWIFT_LOAD_REQUIRE_KERNEL=1`)
    /// or a harness that does not compile although everything is installed (always a failure).
    struct Unavailable: Error, Sendable, CustomStringConvertible {
        /// Whether something the machine lacks is the cause (as opposed to a broken harness).
        var isMissingTool: Bool
        /// What went wrong.
        var reason: String
        /// The reason.
        var description: String { reason }
    }

    /// The compiled oracle, built on first use; Swift initializes a static `let` once, thread-safely, so
    /// parallel tests share one build.
    private static let build: Result<String, Unavailable> = compile()

    /// The path of the compiled oracle. Skips the calling test when `cc`, libbpf's headers or its library
    /// are missing (fails instead under `SWIFT_LOAD_REQUIRE_KERNEL=1`); fails it when the harness does not
    /// compile.
    static func executable(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        switch build {
        case .success(let path):
            return path
        case .failure(let failure) where failure.isMissingTool:
            try require(false, failure.reason, sourceLocation: sourceLocation)
            throw failure
        case .failure(let failure):
            Issue.record("libbpf oracle: \(failure.reason)", sourceLocation: sourceLocation)
            throw failure
        }
    }

    /// The library files a `-lbpf` link can use, in Debian's multiarch and the usual directories.
    private static let libraryCandidates = [
        "/usr/lib/x86_64-linux-gnu/libbpf.so", "/usr/lib/aarch64-linux-gnu/libbpf.so",
        "/usr/lib64/libbpf.so", "/usr/lib/libbpf.so", "/usr/local/lib/libbpf.so",
        "/usr/local/lib64/libbpf.so",
    ]

    private static func compile() -> Result<String, Unavailable> {
        guard let cc = Tool.path("cc") ?? Tool.path("gcc") ?? Tool.path("clang") else {
            return .failure(Unavailable(isMissingTool: true, reason: "no C compiler (cc) to build the libbpf oracle"))
        }
        guard FileManager.default.fileExists(atPath: "/usr/include/bpf/libbpf.h") else {
            return .failure(Unavailable(isMissingTool: true,
                                        reason: "libbpf headers missing (/usr/include/bpf/libbpf.h; install libbpf-dev)"))
        }
        guard libraryCandidates.contains(where: { FileManager.default.fileExists(atPath: $0) }) else {
            return .failure(Unavailable(isMissingTool: true, reason: "libbpf.so missing (install libbpf-dev)"))
        }
        guard FileManager.default.fileExists(atPath: sourcePath) else {
            return .failure(Unavailable(isMissingTool: false, reason: "oracle source missing at \(sourcePath)"))
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-load-libbpf-oracle-\(getpid())-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(Unavailable(isMissingTool: false, reason: "cannot create \(directory.path): \(error)"))
        }
        let output = directory.appendingPathComponent("libbpf_inspect").path
        let result: Tool.Output
        do {
            result = try Tool.run(cc, ["-O1", "-Wall", "-o", output, sourcePath, "-lbpf", "-lelf", "-lz"])
        } catch {
            return .failure(Unavailable(isMissingTool: false, reason: "cannot run \(cc): \(error)"))
        }
        guard result.status == 0 else {
            // A missing libelf/zlib development link is a missing tool; anything else is our bug.
            let missing = result.stderr.contains("cannot find -l")
            return .failure(Unavailable(isMissingTool: missing,
                                        reason: "compiling \(sourcePath) failed (\(result.status)):\n\(result.stderr)"))
        }
        return .success(output)
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
            let failure = Unavailable(isMissingTool: false,
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
