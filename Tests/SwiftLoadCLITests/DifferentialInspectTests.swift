import Foundation
import Testing
import TestSupport

/// `swift-load inspect OBJ --json` against libbpf 1.1.2 (`Tests/Oracles/libbpf_inspect.c`) on every fixture
/// and every installed cilium/ebpf little-endian test object.
///
/// Compared: programs (name, section, program type, expected attach type, own instruction count, autoload)
/// and maps (name, kernel name of internal maps, type, key/value size, max_entries, flags, pinning,
/// internal). Where libbpf 1.1.2 legitimately differs, the rule is written next to the comparison:
/// - it refuses whole objects (legacy `maps` sections, big-endian objects, static entry programs,
///   externs without BTF; `expectedRefusals` lists them): such objects are skipped, and a big-endian
///   fixture is compared with libbpf's view of its little-endian twin built from the same source
///   (`X.bpfeb.o` ↔ `X.o`), except for instruction counts and internal maps' kernel names;
/// - it knows no `tcx/*`, `socket/*` or `socket_filter/*` sections (program type "unspec"): only type and
///   attach type go uncompared for those;
/// - it hides `.text` subprograms when an object has other programs;
/// - it sets `BPF_F_MMAPABLE` on a global-data map (.data, .rodata, .bss and their `.name` variants) only
///   when its section holds a global (non-static) variable, a rule that changed across libbpf versions
///   (1.1 introduced it): those maps' flags are compared without that bit. `.kconfig` is compared exactly.
@Suite("libbpf differential: inspect")
struct DifferentialInspectTests {
    /// Every object the differential runs on.
    static let objects: [String] = TestPaths.fixtureObjects + TestPaths.ciliumObjects()

    /// Why libbpf 1.1.2 refuses whole objects, by the words of its warning.
    static let refusalReasons: [(warning: String, why: String)] = [
        ("legacy map definitions in 'maps' section", "libbpf ≥ 1.0 dropped legacy `struct bpf_map_def` maps"),
        ("endianness mismatch", "libbpf opens only host-endian objects"),
        ("is static and not supported", "libbpf ≥ 1.0 rejects static entry programs"),
        ("failed to find BTF for extern", "libbpf needs BTF for every extern"),
    ]

    /// The objects libbpf 1.1.2 refuses, with the start of its warning: the record of what the
    /// differential cannot cover (big-endian fixtures are still compared, through their twins).
    static let expectedRefusals: [String: String] = [
        "legacy_iproute2.o": "legacy map definitions", "legacy_sockex.o": "legacy map definitions",
        "core.bpfeb.o": "endianness mismatch", "globals.bpfeb.o": "endianness mismatch",
        "hello.bpfeb.o": "endianness mismatch", "maps.bpfeb.o": "endianness mismatch",
        "subprogs.bpfeb.o": "endianness mismatch",
        // cilium/ebpf testdata.
        "invalid_map-el.elf": "legacy map definitions", "invalid_map_static-el.elf": "legacy map definitions",
        "iproute2_map_compat-el.elf": "legacy map definitions", "loader-clang-7-el.elf": "legacy map definitions",
        "subprog_reloc-el.elf": "legacy map definitions",
        "loader-el.elf": "is static and not supported", "loader-clang-9-el.elf": "is static and not supported",
        "loader-clang-14-el.elf": "is static and not supported",
        "fwd_decl-el.elf": "failed to find BTF for extern",
    ]

    @Test("libbpf 1.1.2 refuses exactly the expected objects")
    func refusals() throws {
        var refused: [String: String] = [:]
        for object in Self.objects {
            if case .refused(let warning) = try LibbpfOracle.inspect(object) {
                refused[(object as NSString).lastPathComponent] = warning
            }
        }
        let present = Set(Self.objects.map { ($0 as NSString).lastPathComponent })
        for (name, start) in Self.expectedRefusals where present.contains(name) {
            if let warning = refused[name] {
                #expect(warning.contains(start), "\(name): libbpf refuses it, but not for '\(start)': \(warning)")
            } else {
                Issue.record("libbpf 1.1.2 now opens \(name): compare it (remove it from expectedRefusals)")
            }
        }
        for (name, warning) in refused where Self.expectedRefusals[name] == nil {
            Issue.record("libbpf 1.1.2 unexpectedly refuses \(name): \(warning)")
        }
    }

    @Test("inspect --json agrees with libbpf 1.1.2", arguments: objects)
    func agreesWithLibbpf(object: String) throws {
        let name = (object as NSString).lastPathComponent
        let libbpf: LibbpfObjectView
        var isTwin = false
        switch try LibbpfOracle.inspect(object) {
        case .opened(let view):
            libbpf = view
        case .refused(let warning):
            guard let known = Self.refusalReasons.first(where: { warning.contains($0.warning) }) else {
                Issue.record("libbpf 1.1.2 refuses \(name) for an unexpected reason: \(warning)")
                return
            }
            if known.warning == "endianness mismatch", let twin = Self.littleEndianTwin(of: object),
               case .opened(let view) = try LibbpfOracle.inspect(twin) {
                libbpf = view
                isTwin = true
            } else {
                try Test.cancel(Comment(rawValue: "libbpf 1.1.2 refuses \(name) (\(known.why)): \(warning)"))
            }
        }
        let ours = try SwiftLoadInspectView.of(object)
        for mismatch in InspectComparison.mismatches(ours: ours, libbpf: libbpf, againstTwin: isTwin) {
            Issue.record(Comment(rawValue: "\(name)\(isTwin ? " (vs libbpf on its little-endian twin)" : ""): \(mismatch)"))
        }
    }

    /// The little-endian object built from the same source as a big-endian fixture, if it exists.
    static func littleEndianTwin(of object: String) -> String? {
        let candidates = [
            object.replacingOccurrences(of: ".bpfeb.o", with: ".o"),
            object.replacingOccurrences(of: "-eb.elf", with: "-el.elf"),
        ].filter { $0 != object }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The comparison rules hold on hand-made views, so a rule cannot rot unseen while the CLI is missing.
    @Test("comparison rules: exceptions apply, real differences are reported")
    func comparisonRules() throws {
        let libbpf = try JSONDecoder().decode(LibbpfObjectView.self, from: Data("""
            {"object":"globals","license":null,"programs":[
              {"name":"a","section":"xdp","type":"xdp","attach_type":"xdp","instructions":5,"autoload":true},
              {"name":"t","section":"tcx/ingress","type":"unspec","attach_type":null,"instructions":3,"autoload":false}],
             "maps":[
              {"name":"m","type":"hash","key_size":4,"value_size":8,"max_entries":0,"flags":1,"pinning":"by_name","internal":false},
              {"name":"globals.rodata","type":"array","key_size":4,"value_size":9,"max_entries":1,"flags":128,"pinning":"none","internal":true}]}
            """.utf8))
        let ours = try JSONDecoder().decode(SwiftLoadInspectView.self, from: Data("""
            {"object":"globals","programs":[
              {"name":"a","section":"xdp","type":"xdp","attach_type":"xdp","instructions":5,"autoload":true},
              {"name":"t","section":"tcx/ingress","type":"sched_cls","attach_type":"tcx_ingress","instructions":3,"autoload":false},
              {"name":"helper","section":".text","type":"unspec","attach_type":null,"instructions":2,"autoload":true}],
             "maps":[
              {"name":"m","kernel_name":"m","type":"hash","key_size":4,"value_size":8,"max_entries":0,"flags":1,"pinning":"by_name","internal":false},
              {"name":".rodata","kernel_name":"globals.rodata","type":"array","key_size":4,"value_size":9,"max_entries":1,"flags":1152,"pinning":"none","internal":true}]}
            """.utf8))
        #expect(InspectComparison.mismatches(ours: ours, libbpf: libbpf, againstTwin: false) == [])

        var wrong = ours
        wrong.programs[0].instructions = 6
        wrong.maps[0].maxEntries = 1
        wrong.maps[1].kernelName = "global.rodata"
        let found = InspectComparison.mismatches(ours: wrong, libbpf: libbpf, againstTwin: false)
        // A wrong kernel name shows as one map only in swift-load and one missing from it.
        #expect(found.count == 4, "\(found)")
        #expect(found.contains { $0.contains("instructions 6, libbpf 5") })
        #expect(found.contains { $0.contains("max_entries 1, libbpf 0") })
        #expect(found.contains { $0.contains("global.rodata") && $0.contains("only in swift-load") })
        #expect(found.contains { $0.contains("globals.rodata") && $0.contains("missing from swift-load") })
    }
}

/// The rules by which `inspect --json` and libbpf's view are compared; each returned string names one
/// difference.
enum InspectComparison {
    /// `BPF_F_MMAPABLE`: whether libbpf sets it on an internal map depends on its version (see the suite).
    static let mmapableFlag: UInt32 = 1 << 10

    /// `againstTwin`: `libbpf` describes the other-endian build of the same source, not `ours`' object.
    static func mismatches(ours: SwiftLoadInspectView, libbpf: LibbpfObjectView,
                           againstTwin: Bool) -> [String] {
        programMismatches(ours: ours.programs, libbpf: libbpf.programs, comparingInstructions: !againstTwin)
            + mapMismatches(ours: ours.maps, libbpf: libbpf.maps, comparingKernelNames: !againstTwin)
    }

    /// Instruction counts are not compared against a twin: clang may emit different code per byte order
    /// (core.bpfeb.o's bitfield reads take 4 more instructions than core.o's).
    static func programMismatches(ours: [SwiftLoadInspectView.Program], libbpf: [LibbpfObjectView.Program],
                                  comparingInstructions: Bool = true) -> [String] {
        var result: [String] = []
        let theirs = Dictionary(libbpf.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let mine = Dictionary(ours.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        if mine.count != ours.count { result.append("swift-load lists a program name twice") }
        for program in ours where theirs[program.name] == nil {
            // libbpf does not list `.text` subprograms of objects with entry programs.
            if program.section == ".text" { continue }
            result.append("program \(program.name) (\(program.section)) only in swift-load")
        }
        for expected in libbpf {
            guard let program = mine[expected.name] else {
                result.append("program \(expected.name) (\(expected.section)) missing from swift-load")
                continue
            }
            let label = "program \(expected.name)"
            if program.section != expected.section {
                result.append("\(label): section \(program.section), libbpf \(expected.section)")
            }
            // "unspec": libbpf 1.1.2 does not know the section (tcx/*, socket/*, socket_filter/*), so it
            // has no opinion on the type or attach type.
            if expected.type != "unspec" {
                if program.type != expected.type {
                    result.append("\(label): type \(program.type), libbpf \(expected.type)")
                }
                if program.attachType != expected.attachType {
                    result.append("\(label): attach_type \(program.attachType ?? "null"), libbpf \(expected.attachType ?? "null")")
                }
            }
            if comparingInstructions, program.instructions != expected.instructions {
                result.append("\(label): instructions \(program.instructions), libbpf \(expected.instructions)")
            }
            if program.autoload != expected.autoload {
                result.append("\(label): autoload \(program.autoload), libbpf \(expected.autoload)")
            }
        }
        return result
    }

    /// User maps are matched by name. Internal maps are matched by kernel name (libbpf's `bpf_map__name`)
    /// and their `name` must be the section name; against a twin object (another object name, so another
    /// kernel-name prefix) they are matched by section name only.
    static func mapMismatches(ours: [SwiftLoadInspectView.Map], libbpf: [LibbpfObjectView.Map],
                              comparingKernelNames: Bool) -> [String] {
        var result: [String] = []
        func ourKey(_ map: SwiftLoadInspectView.Map) -> String {
            guard map.internal else { return map.name }
            return comparingKernelNames ? "internal " + (map.kernelName ?? "<no kernel_name>") : "internal " + map.name
        }
        func theirKey(_ map: LibbpfObjectView.Map) -> String {
            guard map.internal else { return map.name }
            return "internal " + (comparingKernelNames ? map.name : map.internalSectionName)
        }
        let mine = Dictionary(ours.map { (ourKey($0), $0) }, uniquingKeysWith: { first, _ in first })
        let theirs = Dictionary(libbpf.map { (theirKey($0), $0) }, uniquingKeysWith: { first, _ in first })
        if mine.count != ours.count { result.append("swift-load lists a map twice") }
        for map in ours where theirs[ourKey(map)] == nil {
            result.append("map \(map.name) (kernel name \(map.kernelName ?? "null"), internal \(map.internal)) only in swift-load")
        }
        for expected in libbpf {
            guard let map = mine[theirKey(expected)] else {
                result.append("map \(expected.name) (internal \(expected.internal)) missing from swift-load")
                continue
            }
            let label = "map \(expected.name)"
            if expected.internal, comparingKernelNames, map.name != expected.internalSectionName {
                result.append("\(label): name \(map.name), expected section name \(expected.internalSectionName)")
            }
            if map.type != expected.type { result.append("\(label): type \(map.type), libbpf \(expected.type)") }
            if map.keySize != expected.keySize {
                result.append("\(label): key_size \(map.keySize), libbpf \(expected.keySize)")
            }
            if map.valueSize != expected.valueSize {
                result.append("\(label): value_size \(map.valueSize), libbpf \(expected.valueSize)")
            }
            if map.maxEntries != expected.maxEntries {
                result.append("\(label): max_entries \(map.maxEntries), libbpf \(expected.maxEntries)")
            }
            // Global-data maps: libbpf's BPF_F_MMAPABLE rule is version-dependent, so the bit is not compared.
            // `.kconfig` is always RDONLY_PROG | MMAPABLE in libbpf (it fills the map through mmap).
            let isGlobalData = expected.internal && expected.internalSectionName != ".kconfig"
            let mask: UInt32 = isGlobalData ? ~mmapableFlag : ~0
            if map.flags & mask != expected.flags & mask {
                result.append("\(label): flags 0x\(String(map.flags, radix: 16)), libbpf 0x\(String(expected.flags, radix: 16))"
                              + (isGlobalData ? " (BPF_F_MMAPABLE ignored)" : ""))
            }
            let pinned = map.pinning?.byName ?? false
            if pinned != (expected.pinning == "by_name") {
                result.append("\(label): pinned by name \(pinned), libbpf \(expected.pinning)")
            }
        }
        return result
    }
}
