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

/// Differentials against bpftool: the same input given to `swift-load` and to `bpftool`, whose standard
/// outputs must be equal byte for byte.
enum BpftoolDifferential {
    /// Runs `swift-load ourArguments` and `bpftool bpftoolArguments` and records an issue at the first
    /// differing line. When bpftool fails (for example a file without `.BTF`), swift-load must fail too.
    /// Skips (or, in CI, fails) the test when bpftool is not installed.
    static func compare(ourArguments: [String], bpftoolArguments: [String],
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bpftool = Tool.path("bpftool")
        try require(bpftool != nil, "bpftool not installed (Debian: bpftool)", sourceLocation: sourceLocation)
        let theirs = try Tool.run(bpftool!, bpftoolArguments)
        let ours = try SwiftLoadExecutable.run(ourArguments, sourceLocation: sourceLocation)
        let command = "swift-load " + ourArguments.joined(separator: " ")
        let theirCommand = "bpftool " + bpftoolArguments.joined(separator: " ")
        guard theirs.status == 0 else {
            #expect(ours.status != 0,
                    "\(theirCommand) fails (\(theirs.stderr.trimmingCharacters(in: .whitespacesAndNewlines))) but \(command) succeeded",
                    sourceLocation: sourceLocation)
            return
        }
        guard ours.status == 0 else {
            Issue.record("\(command) exited \(ours.status): \(ours.stderr.prefix(2000))", sourceLocation: sourceLocation)
            return
        }
        if ours.stdoutData != theirs.stdoutData {
            let difference = TextDifference.first(ours: ours.stdout, theirs: theirs.stdout, theirsLabel: "bpftool")
                ?? "same text, different bytes"
            Issue.record(Comment(rawValue: "\(command) differs from \(theirCommand): \(difference)"),
                         sourceLocation: sourceLocation)
        }
    }

    /// `swift-load btf dump FILE [--format F] [--base BASE]` against
    /// `bpftool [-B BASE] btf dump file FILE [format F]`, compared as `compare` does.
    static func compareBTFDump(of file: String, base: String? = nil, format: String? = nil,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        var ourArguments = ["btf", "dump", file]
        // bpftool 7.1 takes the base of split BTF as the global option `-B` (`--base-btf`), not as a
        // `base PATH` word after the file (that word makes it fail).
        var theirArguments = ["btf", "dump", "file", file]
        if let format {
            ourArguments += ["--format", format]
            theirArguments += ["format", format]
        }
        if let base {
            ourArguments += ["--base", base]
            theirArguments = ["-B", base] + theirArguments
        }
        try compare(ourArguments: ourArguments, bpftoolArguments: theirArguments, sourceLocation: sourceLocation)
    }
}

/// cilium/ebpf's split BTF test data as Debian's golang-github-cilium-ebpf-dev installs it:
/// `btf/testdata/btf_testmod.btf` continues the (gzipped) `btf/testdata/vmlinux.btf.gz` of an older kernel.
enum CiliumSplitBTF {
    /// Unpacks `vmlinux.btf.gz` into a fresh temporary directory and calls `body` with the unpacked base
    /// BTF and the split BTF; the directory is removed afterwards. Skips (or, in CI, fails) the test when
    /// the test data or gzip is missing.
    static func withFiles(sourceLocation: SourceLocation = #_sourceLocation,
                          _ body: (_ base: String, _ split: String) throws -> Void) throws {
        let testdata = TestPaths.ciliumEBPF + "/btf/testdata"
        let compressed = testdata + "/vmlinux.btf.gz", split = testdata + "/btf_testmod.btf"
        try require(FileManager.default.fileExists(atPath: compressed) && FileManager.default.fileExists(atPath: split),
                    "cilium/ebpf btf testdata not installed (golang-github-cilium-ebpf-dev)", sourceLocation: sourceLocation)
        let gzip = Tool.path("gzip")
        try require(gzip != nil, "gzip not installed", sourceLocation: sourceLocation)
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-load-btf-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("vmlinux.btf.gz").path
        try FileManager.default.copyItem(atPath: compressed, toPath: copy)
        let unpacked = try Tool.run(gzip!, ["-d", copy])
        #expect(unpacked.status == 0, "gzip -d \(copy): \(unpacked.stderr)", sourceLocation: sourceLocation)
        try body(directory.appendingPathComponent("vmlinux.btf").path, split)
    }
}
