import Foundation
import Testing
import TestSupport

/// The built `swift-load` executable, run as a user would in the differential tests.
enum SwiftLoadExecutable {
    /// Where it may be: SwiftPM puts the executable beside the test bundle in the build products directory
    /// (`<scratch>/debug/swift-load` next to `<scratch>/debug/swift-loadPackageTests.xctest`), whichever
    /// scratch path was used. `SWIFT_LOAD_EXECUTABLE` overrides the search.
    static var candidates: [String] {
        var directories: [URL] = []
        let argument0 = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        directories.append(argument0.deletingLastPathComponent())
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        directories.append(Bundle.main.bundleURL)
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        // On Darwin the test bundle is a directory: <products>/X.xctest/Contents/MacOS/X.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        var result: [String] = []
        if let override = ProcessInfo.processInfo.environment["SWIFT_LOAD_EXECUTABLE"] { result.append(override) }
        result += directories.map { $0.appendingPathComponent("swift-load").path }
        result.append(TestPaths.root + "/.build/debug/swift-load")
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    /// The path of the built `swift-load`; fails the calling test with the places searched if there is none.
    static func path(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let candidates = self.candidates
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        let message = "swift-load executable not built (build it with `swift build`, or set SWIFT_LOAD_EXECUTABLE); "
            + "looked in: " + candidates.joined(separator: ", ")
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        throw NotBuilt(message: message)
    }

    /// Thrown after recording that the executable is missing.
    struct NotBuilt: Error, CustomStringConvertible {
        /// Where it was looked for.
        var message: String
        /// The message.
        var description: String { message }
    }

    /// Runs `swift-load` with `arguments`.
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Tool.Output {
        try Tool.run(path(sourceLocation: sourceLocation), arguments)
    }
}

/// A program as both `inspect --json` and the libbpf oracle print it (the oracle's fields come from
/// `bpf_program__name`, `__section_name`, `__type`, `__expected_attach_type` (null when the section sets
/// none), `__insn_cnt` before load, and `__autoload`).
struct InspectedProgram: Decodable, Sendable {
    var name: String
    var section: String
    var type: String
    var attachType: String?
    var instructions: Int
    var autoload: Bool

    enum CodingKeys: String, CodingKey {
        case name, section, type, attachType = "attach_type", instructions, autoload
    }
}

/// The part of `swift-load inspect OBJ --json` the libbpf differential compares; other keys are ignored.
struct SwiftLoadInspectView: Decodable, Sendable {
    /// One program.
    typealias Program = InspectedProgram

    /// How a map is pinned; the contract leaves the spelling open, so a string ("by_name", "none"),
    /// a number (libbpf's LIBBPF_PIN_BY_NAME = 1) or a boolean are all understood.
    struct Pinning: Decodable, Sendable, Equatable {
        /// Whether the map is pinned by name.
        var byName: Bool

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                byName = false
            } else if let flag = try? container.decode(Bool.self) {
                byName = flag
            } else if let number = try? container.decode(Int.self) {
                byName = number == 1
            } else {
                let text = try container.decode(String.self).lowercased()
                byName = text.contains("name")
            }
        }
    }

    /// One map.
    struct Map: Decodable, Sendable {
        var name: String
        var kernelName: String?
        var type: String
        var keySize: UInt32
        var valueSize: UInt32
        var maxEntries: UInt32
        var flags: UInt32
        var pinning: Pinning?
        var `internal`: Bool

        enum CodingKeys: String, CodingKey {
            case name, kernelName = "kernel_name", type, keySize = "key_size", valueSize = "value_size"
            case maxEntries = "max_entries", flags, pinning, `internal`
        }
    }

    var programs: [Program]
    var maps: [Map]

    /// Runs `swift-load inspect object --json` and decodes it; records a failure (and throws) when the
    /// command fails or prints something that is not the contract's JSON.
    static func of(_ object: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> SwiftLoadInspectView {
        let result = try SwiftLoadExecutable.run(["inspect", object, "--json"], sourceLocation: sourceLocation)
        guard result.status == 0 else {
            let message = "swift-load inspect \(object) --json exited \(result.status): \(result.stderr)"
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            throw SwiftLoadExecutable.NotBuilt(message: message)
        }
        do {
            return try JSONDecoder().decode(SwiftLoadInspectView.self, from: Data(result.stdout.utf8))
        } catch {
            Issue.record("swift-load inspect \(object) --json: not the contract's JSON: \(error)\n\(result.stdout.prefix(2000))",
                         sourceLocation: sourceLocation)
            throw error
        }
    }
}

/// Text comparison for byte-for-byte differentials.
enum TextDifference {
    /// nil when `ours` equals `theirs` byte for byte, else a description of the first differing line
    /// (1-based), both versions of it, and the two line counts.
    static func first(ours: String, theirs: String, oursLabel: String = "swift-load",
                      theirsLabel: String = "oracle") -> String? {
        if ours == theirs { return nil }
        let a = ours.split(separator: "\n", omittingEmptySubsequences: false)
        let b = theirs.split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < a.count, index < b.count, a[index] == b[index] { index += 1 }
        let lineA = index < a.count ? "\(a[index])" : "<end of output>"
        let lineB = index < b.count ? "\(b[index])" : "<end of output>"
        return """
            first difference at line \(index + 1) (\(oursLabel) \(a.count) lines, \(theirsLabel) \(b.count) lines):
              \(oursLabel): \(lineA)
              \(theirsLabel): \(lineB)
            """
    }
}
