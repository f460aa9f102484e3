import Foundation
import Testing

/// Where the test inputs live, found from this file's path so tests run from any directory.
public enum TestPaths {
    /// The repository root.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `Fixtures/`: our compiled BPF objects.
    public static var fixtures: String { root + "/Fixtures" }

    /// Every committed fixture object (`Fixtures/*.o`), sorted by name.
    public static var fixtureObjects: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []
        return names.filter { $0.hasSuffix(".o") }.sorted().map { fixtures + "/" + $0 }
    }

    /// cilium/ebpf's test objects as Debian's golang-github-cilium-ebpf-dev installs them.
    public static let ciliumEBPF = "/usr/share/gocode/src/github.com/cilium/ebpf"

    /// cilium/ebpf's `testdata/*<suffix>` and `btf/testdata/*<suffix>` objects that are installed.
    public static func ciliumObjects(suffix: String = "-el.elf") -> [String] {
        var result: [String] = []
        for directory in [ciliumEBPF + "/testdata", ciliumEBPF + "/btf/testdata"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            result += names.filter { $0.hasSuffix(suffix) }.sorted().map { directory + "/" + $0 }
        }
        return result
    }
}

/// Whether the environment demands that every capability be present (CI sets `SWIFT_LOAD_REQUIRE_KERNEL=1`).
public var capabilitiesRequired: Bool {
    ProcessInfo.processInfo.environment["SWIFT_LOAD_REQUIRE_KERNEL"] == "1"
}

/// Skips the current test with `reason` when `available` is false, or fails it when the environment
/// requires every capability (CI), so that a missing tool or kernel feature cannot pass silently.
public func require(_ available: Bool, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    guard !available else { return }
    if capabilitiesRequired {
        Issue.record("required but missing (SWIFT_LOAD_REQUIRE_KERNEL=1): \(reason)", sourceLocation: sourceLocation)
        throw MissingCapability(reason: reason)
    }
    try Test.cancel(Comment(rawValue: reason), sourceLocation: sourceLocation)
}

/// Thrown after recording the failure of a required capability.
public struct MissingCapability: Error, CustomStringConvertible {
    /// What was missing.
    public var reason: String
    /// The reason.
    public var description: String { reason }
}

/// External tools used as oracles in differential tests.
public enum Tool {
    /// The first executable called `name` on `PATH` (plus /usr/sbin, where Debian puts bpftool), if any.
    public static func path(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Output of a finished process.
    public struct Output: Sendable {
        /// Exit status.
        public var status: Int32
        /// Standard output, raw (binary tools such as `gzip -dc`).
        public var stdoutData: Data
        /// Standard output as UTF-8.
        public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
        /// Standard error as UTF-8.
        public var stderr: String
    }

    /// Runs `executable` with `arguments`, capturing both output streams.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes concurrently so a large stderr cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdoutData: outData,
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
