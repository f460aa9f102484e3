import Foundation
import Testing

/// A test-only C program (a libbpf oracle) compiled once per test run with the system C compiler.
/// Missing tools skip the tests that use it (fail under `SWIFT_LOAD_REQUIRE_KERNEL=1`); a harness that does
/// not compile although everything is installed always fails them.
public struct CHarness: Sendable {
    /// Why the harness cannot be used.
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        /// Whether something the machine lacks is the cause (as opposed to a broken harness).
        public var isMissingTool: Bool
        /// What went wrong.
        public var reason: String
        /// An explanation.
        public init(isMissingTool: Bool, reason: String) {
            self.isMissingTool = isMissingTool
            self.reason = reason
        }
        /// The reason.
        public var description: String { reason }
    }

    /// A file the build needs: present at one of `paths`, else `reason` (a missing tool).
    public struct Requirement: Sendable {
        /// Candidate locations.
        public var paths: [String]
        /// What to install.
        public var reason: String
        /// A requirement.
        public init(anyOf paths: [String], _ reason: String) {
            self.paths = paths
            self.reason = reason
        }
    }

    /// libbpf's headers.
    public static let libbpfHeaders = Requirement(anyOf: ["/usr/include/bpf/libbpf.h"],
                                                  "libbpf headers missing (/usr/include/bpf/libbpf.h; install libbpf-dev)")

    /// The build's outcome: the executable's path or why there is none.
    public let result: Result<String, Unavailable>
    /// How failures are labelled.
    public let label: String

    /// Compiles `Tests/Oracles/<source>` with `cc -O1 -Wall … <linkFlags>` into a temporary directory.
    public init(label: String, source: String, linkFlags: [String], requirements: [Requirement]) {
        self.label = label
        self.result = Self.compile(label: label, source: TestPaths.root + "/Tests/Oracles/" + source,
                                   linkFlags: linkFlags, requirements: requirements)
    }

    /// The executable's path, or the skip / failure described above.
    public func executable(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        switch result {
        case .success(let path):
            return path
        case .failure(let failure) where failure.isMissingTool:
            try require(false, failure.reason, sourceLocation: sourceLocation)
            throw failure
        case .failure(let failure):
            Issue.record("\(label): \(failure.reason)", sourceLocation: sourceLocation)
            throw failure
        }
    }

    static func compile(label: String, source: String, linkFlags: [String],
                        requirements: [Requirement]) -> Result<String, Unavailable> {
        guard let cc = Tool.path("cc") ?? Tool.path("gcc") ?? Tool.path("clang") else {
            return .failure(Unavailable(isMissingTool: true, reason: "no C compiler (cc) to build the \(label)"))
        }
        for requirement in requirements
        where !requirement.paths.contains(where: { FileManager.default.fileExists(atPath: $0) }) {
            return .failure(Unavailable(isMissingTool: true, reason: requirement.reason))
        }
        guard FileManager.default.fileExists(atPath: source) else {
            return .failure(Unavailable(isMissingTool: false, reason: "source missing at \(source)"))
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-load-oracle-\(getpid())-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(Unavailable(isMissingTool: false, reason: "cannot create \(directory.path): \(error)"))
        }
        let output = directory.appendingPathComponent(URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent).path
        let result: Tool.Output
        do {
            result = try Tool.run(cc, ["-O1", "-Wall", "-o", output, source] + linkFlags)
        } catch {
            return .failure(Unavailable(isMissingTool: false, reason: "cannot run \(cc): \(error)"))
        }
        guard result.status == 0 else {
            // A missing development library is a missing tool; anything else is our bug.
            let missing = result.stderr.contains("cannot find -l")
            return .failure(Unavailable(isMissingTool: missing,
                                        reason: "compiling \(source) failed (\(result.status)):\n\(result.stderr)"))
        }
        return .success(output)
    }
}
