import Foundation
import Testing
import TestSupport

/// Per-program comparison with libbpf on the running kernel: every program libbpf 1.1.2 (Debian's
/// `libbpf-dev`) loads, `swift-load load OBJ --program NAME` loads too. Objects: every little-endian
/// fixture and every cilium/ebpf test object installed (libbpf refuses several of them outright; they
/// still count for the programs swift-load loads and libbpf does not).
///
/// The two directions are held to tables, so that a new difference fails until someone explains it:
/// - ``swiftLoadOnly``: programs swift-load loads and libbpf 1.1 does not (tcx sections, which libbpf
///   learnt in 1.3; legacy `maps`-section maps, which libbpf dropped in 1.0).
/// - ``libbpfOnly``: programs libbpf loads and swift-load does not, each with the text swift-load's
///   failure must contain.
@Suite struct LibbpfLoadComparisonTests {
    /// Programs swift-load loads although libbpf 1.1.2 does not, per object file name. A program that
    /// loads in both is not an error here (other tests hold swift-load to loading these).
    static let swiftLoadOnly: [String: (programs: Set<String>, reason: String)] = [
        "attach.o": (["on_tcx_ingress", "on_tcx_egress"],
                     "libbpf 1.1 knows no tcx/ingress or tcx/egress section (added in libbpf 1.3): 'missing BPF prog type'"),
        "legacy_iproute2.o": (["cls_main"], "legacy 'maps' section (struct bpf_elf_map): libbpf 1.x refuses to open the object"),
        "legacy_sockex.o": (["count_proto_bytes"], "legacy 'maps' section (struct bpf_map_def): libbpf 1.x refuses to open the object"),
        "invalid_map_static-el.elf": (["xdp_prog"], "legacy 'maps' section: libbpf 1.x refuses to open the object"),
        "subprog_reloc-el.elf": (["fp_relocation"], "legacy 'maps' section: libbpf 1.x refuses to open the object"),
    ]

    /// Programs libbpf loads and swift-load does not, per object file name, with a text swift-load's error
    /// must contain (so that the exception covers this reason only).
    static let libbpfOnly: [String: [String: String]] = [:]

    /// Every little-endian fixture and cilium/ebpf test object.
    static var objects: [String] {
        TestPaths.fixtureObjects.filter { !$0.hasSuffix(".bpfeb.o") } + TestPaths.ciliumObjects(suffix: "-el.elf")
    }

    @Test(arguments: objects)
    func everyProgramLibbpfLoadsSwiftLoadLoads(object: String) throws {
        try require(geteuid() == 0, "loading programs needs root (bpf())")
        try require(BPFFS.ready, "bpffs is not mounted at /sys/fs/bpf and could not be mounted (pinned maps need it)")
        let file = URL(fileURLWithPath: object).lastPathComponent
        let swiftLoad = try SwiftLoadExecutable.path()

        // libbpf: per program, and the whole object (some programs load only with the others: see the
        // oracle's header comment about PROG_ARRAY slots).
        let libbpfPins = BPFFS.freshDirectory("libbpf")
        defer { try? FileManager.default.removeItem(atPath: libbpfPins) }
        let verdict = try LibbpfLoadOracle.load(object, pinRoot: libbpfPins)
        let names: [String]
        var libbpfLoaded = Set<String>()
        var libbpfErrors: [String: String] = [:]
        switch verdict {
        case .loaded(let report):
            names = report.programs.map(\.name)
            for program in report.programs {
                if program.loaded || (report.objectLoad?.loaded == true && program.autoload) {
                    libbpfLoaded.insert(program.name)
                } else {
                    libbpfErrors[program.name] = program.error ?? "errno \(program.errno)"
                }
            }
        case .refused(let reason):
            // Which programs swift-load sees, to list what it loads where libbpf loads nothing.
            let inspect = try Tool.run(swiftLoad, ["inspect", object, "--json"])
            let programs = (try? JSONDecoder().decode(InspectedNames.self, from: inspect.stdoutData))?.programs ?? []
            names = programs.map(\.name)
            for name in names { libbpfErrors[name] = reason }
        }

        // swift-load: one process per program, as the oracle loads them one by one.
        var swiftLoaded = Set<String>()
        var swiftErrors: [String: String] = [:]
        for name in names {
            let pins = BPFFS.freshDirectory("swift")
            defer { try? FileManager.default.removeItem(atPath: pins) }
            let output = try Tool.run(swiftLoad, ["load", object, "--program", name, "--json", "--pin", pins])
            let report = try? JSONDecoder().decode(LoadReport.self, from: output.stdoutData)
            let program = report?.programs.first { $0.name == name }
            if output.status == 0, program?.loaded == true {
                swiftLoaded.insert(name)
            } else {
                swiftErrors[name] = program?.error ?? output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }

        let exceptions = Self.libbpfOnly[file] ?? [:]
        for name in libbpfLoaded.subtracting(swiftLoaded).sorted() {
            let error = swiftErrors[name] ?? ""
            if let expected = exceptions[name] {
                #expect(error.contains(expected), "\(file): \(name): swift-load fails differently from the known difference (expected '\(expected)'): \(error)")
            } else {
                Issue.record("\(file): libbpf loads '\(name)' but swift-load does not: \(error)")
            }
        }
        let allowed = Self.swiftLoadOnly[file]?.programs ?? []
        for name in swiftLoaded.subtracting(libbpfLoaded).sorted() where !allowed.contains(name) {
            Issue.record("\(file): swift-load loads '\(name)' and libbpf 1.1 does not (\(libbpfErrors[name] ?? "?")); explain it in LibbpfLoadComparisonTests.swiftLoadOnly")
        }
    }

    /// The tables name only objects and programs that exist, so that they cannot silently go stale.
    @Test func tablesNameExistingObjects() throws {
        let files = Set(Self.objects.map { URL(fileURLWithPath: $0).lastPathComponent })
        for file in Self.swiftLoadOnly.keys.sorted() + Self.libbpfOnly.keys.sorted() where !files.contains(file) {
            // cilium's objects come from a package that may be missing; the fixtures are always there.
            if file.hasSuffix(".o") { Issue.record("\(file) is in a table but not among the fixtures") }
        }
    }
}

/// `Tests/Oracles/libbpf_load.c`, compiled once per test run and linked statically against Debian's
/// `libbpf.a` (1.1.2): loads an object with libbpf program by program and as a whole, and prints the
/// outcome of each as JSON.
enum LibbpfLoadOracle {
    /// The static libbpf archives a `-l:libbpf.a` link can use.
    private static let archiveCandidates = [
        "/usr/lib/x86_64-linux-gnu/libbpf.a", "/usr/lib/aarch64-linux-gnu/libbpf.a",
        "/usr/lib64/libbpf.a", "/usr/lib/libbpf.a", "/usr/local/lib/libbpf.a", "/usr/local/lib64/libbpf.a",
    ]

    /// The compiled oracle, built on first use (a static `let` is initialized once, thread-safely).
    private static let build = CHarness(
        label: "libbpf load oracle", source: "libbpf_load.c", linkFlags: ["-l:libbpf.a", "-lelf", "-lz"],
        requirements: [
            CHarness.libbpfHeaders,
            .init(anyOf: archiveCandidates, "static libbpf.a missing (install libbpf-dev)"),
        ])

    /// What libbpf did with one object.
    enum Verdict {
        /// libbpf opened the object; the outcome of every load.
        case loaded(Report)
        /// libbpf refuses to open the object (legacy `maps` section, static programs, ...): its warning.
        case refused(String)
    }

    /// The oracle's JSON.
    struct Report: Decodable {
        /// One program loaded on its own.
        struct Program: Decodable {
            var name: String
            var section: String
            /// libbpf's default (false for `SEC("?...")`).
            var autoload: Bool
            var loaded: Bool
            var errno: Int32
            /// libbpf's first warning during the load.
            var error: String?
        }
        /// The whole object's load.
        struct ObjectLoad: Decodable {
            var loaded: Bool
            var errno: Int32
            var error: String?
        }
        var object: String
        var programs: [Program]
        var objectLoad: ObjectLoad?

        enum CodingKeys: String, CodingKey {
            case object, programs, objectLoad = "object_load"
        }
    }

    /// Runs the oracle on `object`, pinning under `pinRoot` (a bpffs directory the oracle leaves empty).
    static func load(_ object: String, pinRoot: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> Verdict {
        let oracle = try build.executable(sourceLocation: sourceLocation)
        let result = try Tool.run(oracle, ["--pin-root", pinRoot, object])
        switch result.status {
        case 0:
            do {
                return .loaded(try JSONDecoder().decode(Report.self, from: result.stdoutData))
            } catch {
                Issue.record("libbpf load oracle printed undecodable JSON for \(object): \(error)\n\(result.stdout)",
                             sourceLocation: sourceLocation)
                throw error
            }
        case 2:
            return .refused(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        default:
            let failure = CHarness.Unavailable(isMissingTool: false,
                                               reason: "oracle exited \(result.status) on \(object): \(result.stderr)")
            Issue.record("libbpf load oracle: \(failure.reason)", sourceLocation: sourceLocation)
            throw failure
        }
    }
}

/// `swift-load load --json`, the fields this comparison reads.
private struct LoadReport: Decodable {
    struct Program: Decodable {
        var name: String
        var loaded: Bool
        var error: String?
    }
    var programs: [Program]
}

/// `swift-load inspect --json`, the program names.
private struct InspectedNames: Decodable {
    struct Program: Decodable { var name: String }
    var programs: [Program]
}

/// bpffs at /sys/fs/bpf, where both loaders pin maps with `pinning = LIBBPF_PIN_BY_NAME`.
private enum BPFFS {
    /// Whether a bpf filesystem is mounted at `path` (per /proc/mounts: mount point, then type).
    static func isMounted(_ path: String) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        return mounts.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 2 && fields[1] == path && fields[2] == "bpf"
        }
    }

    /// Mounted (by this process when it was missing; once, so a second mount cannot hide the first's pins).
    static let ready: Bool = {
        if isMounted("/sys/fs/bpf") { return true }
        guard let mount = Tool.path("mount"),
              let result = try? Tool.run(mount, ["-t", "bpf", "bpf", "/sys/fs/bpf"]) else { return false }
        return result.status == 0 && isMounted("/sys/fs/bpf")
    }()

    /// A directory name under /sys/fs/bpf no one else uses (the loaders create it).
    static func freshDirectory(_ label: String) -> String {
        "/sys/fs/bpf/swift-load-libbpf-compare-\(getpid())-\(label)-\(UInt64.random(in: 0...UInt64.max))"
    }
}
