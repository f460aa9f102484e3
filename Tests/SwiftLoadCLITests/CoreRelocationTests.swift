import Foundation
import Testing
import TestSupport

/// `swift-load reloc OBJ --btf TARGET --json`: CO-RE relocation checked three ways.
///
/// - Expected values: `Fixtures/core_reloc.o` against `Fixtures/core_reloc.target.o` (same-named types with
///   other layouts, `bpf-src/core_reloc.bpf.c`) must give exactly `coreRelocTable`, worked out by hand from
///   the C layouts (the values; the BTF type IDs in the specs are read from the objects); the table is also
///   checked against libbpf itself, so the table, the fixture and the oracle cannot drift apart.
///   `Fixtures/core_fail.o` against its target holds the relocations libbpf refuses (`coreFailTable`).
/// - Self-relocation: every fixture and cilium/ebpf test object relocated against its own BTF changes no
///   instruction, except where libbpf's own choice of a bitfield load differs from clang's, and except the
///   relocations that fail even against their own BTF (`expectedSelfFailures`).
/// - Differential: every CO-RE decision equals libbpf 1.1.2's (`Tests/Oracles/libbpf_core.c`) on the
///   fixture/target pairs, self pairs, fixtures against the running kernel's BTF, and cilium's
///   relocs_read/relocs_read_tgt pair.
@Suite("CO-RE relocation")
struct CoreRelocationTests {
    typealias Expected = ExpectedCoreDecision

    static let fixtures = TestPaths.fixtures
    static let kernelBTF = "/sys/kernel/btf/vmlinux"
    static let ciliumBTF = TestPaths.ciliumEBPF + "/btf/testdata"

    // MARK: - Hand-written expectations

    /// `core_reloc.o` against `core_reloc.target.o`, in the contract's order (entry programs in object
    /// order, then .text subprograms; by instruction). Values and reasons: the comment at the top of
    /// bpf-src/core_reloc.bpf.c. Bitfield "old" values are clang's load choice (4-byte loads at offset 4);
    /// libbpf does not validate byte_off/byte_sz/lshift_u64 of bitfields against the instruction.
    static let coreRelocTable: [Expected] = ([
        [
            // reloc_fields (syscall)
            Expected("reloc_fields", 2, "byte_off", "[2] struct sl_basic.a (0:0 @ offset 0)", "[3] struct sl_basic.a (0:2 @ offset 16)", .patched(0, 16)),
            Expected("reloc_fields", 6, "byte_off", "[2] struct sl_basic.b (0:1 @ offset 4)", "[3] struct sl_basic.b (0:1 @ offset 8)", .patched(4, 8)),
            Expected("reloc_fields", 8, "byte_off", "[2] struct sl_basic.sgn (0:2 @ offset 8)", "[3] struct sl_basic.sgn (0:3 @ offset 24)", .poisoned(8)),
            Expected("reloc_fields", 12, "field_exists", "[2] struct sl_basic.gone (0:3 @ offset 16)", nil, .patched(1, 0)),
            Expected("reloc_fields", 14, "byte_off", "[2] struct sl_basic.gone (0:3 @ offset 16)", nil, .poisoned(16)),
            Expected("reloc_fields", 23, "byte_sz", "[2] struct sl_basic.name (0:4 @ offset 24)", "[3] struct sl_basic.name (0:5 @ offset 40)", .patched(16, 32)),
            Expected("reloc_fields", 25, "byte_off", "[2] struct sl_basic.arr[3] (0:5:3 @ offset 52)", "[3] struct sl_basic.arr[3] (0:6:3 @ offset 84)", .patched(52, 84)),
            Expected("reloc_fields", 27, "byte_sz", "[2] struct sl_basic.arr[3] (0:5:3 @ offset 52)", "[3] struct sl_basic.arr[3] (0:6:3 @ offset 84)", .patched(4, 4)),
            Expected("reloc_fields", 29, "field_exists", "[2] struct sl_basic.arr[5] (0:5:5 @ offset 60)", nil, .patched(1, 0)),
            Expected("reloc_fields", 31, "byte_sz", "[2] struct sl_basic.b (0:1 @ offset 4)", "[3] struct sl_basic.b (0:1 @ offset 8)", .patched(4, 8)),
            Expected("reloc_fields", 33, "field_exists", "[2] struct sl_basic.a (0:0 @ offset 0)", "[3] struct sl_basic.a (0:2 @ offset 16)", .patched(1, 1)),
            Expected("reloc_fields", 35, "signed", "[2] struct sl_basic.sgn (0:2 @ offset 8)", "[3] struct sl_basic.sgn (0:3 @ offset 24)", .patched(1, 1)),
            Expected("reloc_fields", 37, "signed", "[2] struct sl_basic.b (0:1 @ offset 4)", "[3] struct sl_basic.b (0:1 @ offset 8)", .patched(0, 0)),
            Expected("reloc_fields", 39, "lshift_u64", "[2] struct sl_basic.b (0:1 @ offset 4)", "[3] struct sl_basic.b (0:1 @ offset 8)", .patched(32, 0)),
            Expected("reloc_fields", 41, "rshift_u64", "[2] struct sl_basic.b (0:1 @ offset 4)", "[3] struct sl_basic.b (0:1 @ offset 8)", .patched(32, 0)),
            Expected("reloc_fields", 43, "byte_off", "[18] struct sl_flex.data[3] (0:2:3 @ offset 32)", "[37] struct sl_flex.data[3] (0:4:3 @ offset 48)", .patched(32, 48)),
            Expected("reloc_fields", 45, "byte_off", "[18] struct sl_flex.data[3] (0:2:3 @ offset 32)", "[37] struct sl_flex.data[3] (0:4:3 @ offset 48)", .patched(32, 48)),
            Expected("reloc_fields", 47, "byte_sz", "[18] struct sl_flex.len (0:0 @ offset 0)", "[37] struct sl_flex.len (0:0 @ offset 0)", .patched(4, 8)),
        ],
        // reloc_bitfields (syscall): each bitfield's relocations share its local and target spec
        field("reloc_bitfields", "[26] struct sl_bits.lo (0:1 @ offset 4)", "[11] struct sl_bits.lo (0:4 @ offset 14.7)", [
            (4, "byte_off", .patched(4, 14)),
            (9, "byte_sz", .patched(4, 2)),
            (12, "lshift_u64", .patched(61, 54)),
            (13, "signed", .patched(0, 0)),
            (15, "rshift_u64", .patched(61, 61)),
            (17, "rshift_u64", .patched(61, 61)),
        ]),
        field("reloc_bitfields", "[26] struct sl_bits.mid (0:2 @ offset 4.3)", "[11] struct sl_bits.mid (0:3 @ offset 14)", [
            (19, "byte_off", .patched(4, 14)),
            (22, "byte_sz", .patched(4, 2)),
            (37, "lshift_u64", .patched(56, 57)),
            (38, "signed", .patched(0, 0)),
            (40, "rshift_u64", .patched(59, 57)),
            (42, "rshift_u64", .patched(59, 57)),
        ]),
        field("reloc_bitfields", "[26] struct sl_bits.sval (0:3 @ offset 5)", "[11] struct sl_bits.sval (0:5 @ offset 15.2)", [
            (44, "byte_off", .patched(4, 12)),
            (47, "byte_sz", .patched(4, 4)),
            (62, "lshift_u64", .patched(50, 32)),
            (63, "signed", .patched(1, 1)),
            (65, "rshift_u64", .patched(58, 58)),
            (67, "rshift_u64", .patched(58, 58)),
        ]),
        field("reloc_bitfields", "[26] struct sl_bits.uflip (0:4 @ offset 5.6)", "[11] struct sl_bits.uflip (0:6 @ offset 16)", [
            (71, "byte_off", .patched(4, 16)),
            (75, "byte_sz", .patched(4, 4)),
            (79, "lshift_u64", .patched(46, 60)),
            (80, "signed", .patched(0, 1)),
            (82, "rshift_u64", .patched(60, 60)),
            (84, "rshift_u64", .patched(60, 60)),
        ]),
        [
            // reloc_enums (syscall)
            Expected("reloc_enums", 0, "enumval_exists", "[29] enum sl_color::SL_GREEN = 1", "[30] enum sl_color::SL_GREEN = 30", .patched(1, 1)),
            Expected("reloc_enums", 3, "enumval_value", "[29] enum sl_color::SL_GREEN = 1", "[30] enum sl_color::SL_GREEN = 30", .patched(1, 30)),
            Expected("reloc_enums", 6, "enumval_exists", "[29] enum sl_color::SL_GONE = 3", nil, .patched(1, 0)),
            Expected("reloc_enums", 9, "enumval_value", "[29] enum sl_color::SL_GONE = 3", nil, .poisoned(3)),
            Expected("reloc_enums", 12, "enumval_value", "[29] enum sl_color::SL_RED = 0", "[30] enum sl_color::SL_RED = 20", .patched(0, 20)),
            Expected("reloc_enums", 15, "enumval_value", "[30] enum64 sl_big::SL_BIG_HUGE = 4294967296", "[31] enum64 sl_big::SL_BIG_HUGE = 8589934592", .patched(4294967296, 8589934592)),
            Expected("reloc_enums", 18, "enumval_value", "[30] enum64 sl_big::SL_BIG_SMALL = 1", "[31] enum64 sl_big::SL_BIG_SMALL = 2", .patched(1, 2)),
            Expected("reloc_enums", 21, "enumval_exists", "[30] enum64 sl_big::SL_BIG_GONE = 12884901888", nil, .patched(1, 0)),
            Expected("reloc_enums", 24, "enumval_value", "[30] enum64 sl_big::SL_BIG_GONE = 12884901888", nil, .poisoned(12884901888)),
            Expected("reloc_enums", 27, "enumval_value", "[31] enum sl_signed::SL_NEG = -5", "[32] enum sl_signed::SL_NEG = -9", .patched(-5, -9)),
            Expected("reloc_enums", 30, "enumval_value", "[32] enum sl_color___old::SL_RED___old = 5", "[30] enum sl_color::SL_RED = 20", .patched(5, 20)),
            Expected("reloc_enums", 33, "enumval_exists", "[32] enum sl_color___old::SL_VIOLET___old = 6", nil, .patched(1, 0)),
            Expected("reloc_enums", 36, "enumval_value", "[33] enum sl_mixed::SL_MIXED_A = 1", "[33] enum64 sl_mixed::SL_MIXED_A = 4294967301", .patched(1, 4294967301)),
            // reloc_nesting (syscall)
            Expected("reloc_nesting", 1, "byte_off", "[36] struct sl_anon.x (0:0 @ offset 0)", "[15] struct sl_anon.x (0:1:0:1 @ offset 12)", .patched(0, 12)),
            Expected("reloc_nesting", 5, "byte_off", "[36] struct sl_anon.y (0:1 @ offset 4)", "[15] struct sl_anon.y (0:2 @ offset 16)", .patched(4, 16)),
            Expected("reloc_nesting", 7, "byte_off", "[37] struct sl_anon2.v (0:0:0 @ offset 0)", "[18] struct sl_anon2.v (0:1 @ offset 4)", .patched(0, 4)),
            Expected("reloc_nesting", 9, "byte_off", "[37] struct sl_anon2.w (0:1 @ offset 4)", "[18] struct sl_anon2.w (0:0 @ offset 0)", .patched(4, 0)),
            Expected("reloc_nesting", 11, "field_exists", "[37] struct sl_anon2.uv (0:0:1 @ offset 0)", nil, .patched(1, 0)),
            Expected("reloc_nesting", 13, "byte_off", "[39] typedef sl_anon_t.w (0:1 @ offset 4)", "[19] typedef sl_anon_t.w (0:1 @ offset 8)", .patched(4, 8)),
            // reloc_flavors (syscall)
            Expected("reloc_flavors", 0, "field_exists", "[43] struct sl_task___v1.pid (0:0 @ offset 0)", "[21] struct sl_task.pid (0:1 @ offset 8)", .patched(1, 1)),
            Expected("reloc_flavors", 2, "byte_off", "[43] struct sl_task___v1.pid (0:0 @ offset 0)", "[21] struct sl_task.pid (0:1 @ offset 8)", .patched(0, 8)),
            Expected("reloc_flavors", 4, "field_exists", "[44] struct sl_task___v2.tgid_v2 (0:0 @ offset 0)", nil, .patched(1, 0)),
            Expected("reloc_flavors", 6, "type_exists", "[44] struct sl_task___v2", "[21] struct sl_task", .patched(1, 1)),
            Expected("reloc_flavors", 8, "type_matches", "[44] struct sl_task___v2", nil, .patched(1, 0)),
            Expected("reloc_flavors", 10, "type_matches", "[43] struct sl_task___v1", "[21] struct sl_task", .patched(1, 1)),
            Expected("reloc_flavors", 12, "byte_off", "[45] struct sl_dup.b (0:0 @ offset 0)", "[22] struct sl_dup.b (0:1 @ offset 4)", .patched(0, 4)),
            Expected("reloc_flavors", 14, "type_size", "[45] struct sl_dup", "[22] struct sl_dup", .patched(4, 8)),
            Expected("reloc_flavors", 16, "byte_off", "[46] struct sl_only.extra (0:1 @ offset 4)", "[25] struct sl_only___new.extra (0:1 @ offset 4)", .patched(4, 4)),
            Expected("reloc_flavors", 18, "type_size", "[46] struct sl_only", "[25] struct sl_only___new", .patched(8, 8)),
            Expected("reloc_flavors", 20, "byte_off", "[46] struct sl_only.a (0:0 @ offset 0)", "[25] struct sl_only___new.a (0:0 @ offset 0)", .patched(0, 0)),
            Expected("reloc_flavors", 22, "target_type_id", "[43] struct sl_task___v1", "[21] struct sl_task", .patched(43, 21)),
            // reloc_types (syscall)
            Expected("reloc_types", 0, "type_exists", "[2] struct sl_basic", "[3] struct sl_basic", .patched(1, 1)),
            Expected("reloc_types", 2, "type_exists", "[49] struct sl_absent", nil, .patched(1, 0)),
            Expected("reloc_types", 4, "type_size", "[2] struct sl_basic", "[3] struct sl_basic", .patched(72, 88)),
            Expected("reloc_types", 6, "type_size", "[49] struct sl_absent", nil, .patched(4, 0)),
            Expected("reloc_types", 8, "type_matches", "[50] struct sl_match", "[26] struct sl_match", .patched(1, 1)),
            Expected("reloc_types", 10, "type_matches", "[51] struct sl_nomatch", nil, .patched(1, 0)),
            Expected("reloc_types", 12, "type_exists", "[52] typedef sl_handle_t", "[29] typedef sl_handle_t", .patched(1, 1)),
            Expected("reloc_types", 14, "type_size", "[52] typedef sl_handle_t", "[29] typedef sl_handle_t", .patched(4, 8)),
            Expected("reloc_types", 16, "type_matches", "[52] typedef sl_handle_t", nil, .patched(1, 0)),
            Expected("reloc_types", 18, "local_type_id", "[2] struct sl_basic", nil, .patched(2, 2)),
            Expected("reloc_types", 21, "target_type_id", "[2] struct sl_basic", "[3] struct sl_basic", .patched(2, 3)),
            Expected("reloc_types", 24, "target_type_id", "[49] struct sl_absent", nil, .patched(49, 0)),
            Expected("reloc_types", 27, "type_exists", "[29] enum sl_color", "[30] enum sl_color", .patched(1, 1)),
            Expected("reloc_types", 29, "type_size", "[30] enum64 sl_big", "[31] enum64 sl_big", .patched(8, 8)),
            Expected("reloc_types", 31, "type_matches", "[29] enum sl_color", nil, .patched(1, 0)),
            Expected("reloc_types", 33, "type_matches", "[31] enum sl_signed", "[32] enum sl_signed", .patched(1, 1)),
            Expected("reloc_types", 35, "type_exists", "[53] union sl_union", "[28] union sl_union", .patched(1, 1)),
            Expected("reloc_types", 37, "type_size", "[53] union sl_union", "[28] union sl_union", .patched(8, 8)),
            Expected("reloc_types", 39, "type_matches", "[53] union sl_union", nil, .patched(1, 0)),
            // sl_global_read (.text)
            Expected("sl_global_read", 1, "byte_off", "[2] struct sl_basic.b (0:1 @ offset 4)", "[3] struct sl_basic.b (0:1 @ offset 8)", .patched(4, 8)),
            Expected("sl_global_read", 3, "field_exists", "[2] struct sl_basic.gone (0:3 @ offset 16)", nil, .patched(1, 0)),
            // sl_read_a (.text)
            Expected("sl_read_a", 0, "byte_off", "[2] struct sl_basic.a (0:0 @ offset 0)", "[3] struct sl_basic.a (0:2 @ offset 16)", .patched(0, 16)),
            Expected("sl_read_a", 1, "byte_sz", "[2] struct sl_basic.name (0:4 @ offset 24)", "[3] struct sl_basic.name (0:5 @ offset 40)", .patched(16, 32)),
        ],
    ] as [[Expected]]).flatMap { $0 }

    /// One field's relocations in `program`, which share the local spec and the chosen target spec:
    /// (instruction, kind, outcome) each, in instruction order.
    static func field(_ program: String, _ local: String?, _ target: String?,
                      _ relocations: [(instruction: Int, kind: String, outcome: Expected.Outcome)]) -> [Expected] {
        relocations.map { Expected(program, $0.instruction, $0.kind, local, target, $0.outcome) }
    }

    /// `core_fail.o` against `core_fail.target.o`: one refused relocation per fail_* program (libbpf would
    /// stop at the first), then one that still resolves. Failed records are compared by outcome, original
    /// value and, for ambiguities, an error that says so.
    static let coreFailTable: [Expected] = [
        // fail_offset_ambiguity (syscall)
        Expected("fail_offset_ambiguity", 0, "byte_off", nil, nil, .failed(0, mentioning: "ambigu")),
        // fail_value_ambiguity (syscall)
        Expected("fail_value_ambiguity", 0, "byte_sz", nil, nil, .failed(4, mentioning: "ambigu")),
        // fail_type_id_ambiguity (syscall)
        Expected("fail_type_id_ambiguity", 0, "target_type_id", nil, nil, .failed(14, mentioning: "ambigu")),
        // fail_bitfield (syscall)
        Expected("fail_bitfield", 0, "byte_off", nil, nil, .failed(4, mentioning: nil)),
        // fail_offset_too_big (syscall)
        Expected("fail_offset_too_big", 1, "byte_off", nil, nil, .failed(0, mentioning: nil)),
        // fail_too_deep (syscall)
        Expected("fail_too_deep", 0, "byte_off", nil, nil, .failed(0, mentioning: nil)),
        // fail_anonymous_root (syscall)
        Expected("fail_anonymous_root", 0, "byte_off", nil, nil, .failed(4, mentioning: nil)),
        // ok_after_failures (syscall)
        Expected("ok_after_failures", 0, "byte_off", "[30] struct sl_fine.y (0:0 @ offset 0)", "[86] struct sl_fine.y (0:1 @ offset 8)", .patched(0, 8)),
    ]

    /// Relocations that fail even against the object's own BTF: (object file name) -> (program, instruction
    /// or nil for all of the program's CO-RE relocations, a word the error must contain).
    static let expectedSelfFailures: [String: [(program: String, instruction: Int?, mentioning: String?)]] = [
        // The root type is an anonymous struct: libbpf searches no candidates for it.
        "core_fail.o": [("fail_anonymous_root", 0, nil)],
        // enum sl_color___old's own BTF also holds enum sl_color; both have SL_RED (essential name) with
        // the values 5 and 0: a real ambiguity when the object is its own target.
        "core_reloc.o": [("reloc_enums", 30, "ambigu")],
        // cilium/ebpf's deliberately ambiguous programs (two identical types, two IDs).
        "relocs-el.elf": [("err_ambiguous", nil, "ambigu"), ("err_ambiguous_flavour", nil, "ambigu")],
    ]

    /// Objects `reloc` may refuse as a whole, as libbpf refuses to open them, with a phrase of the error.
    /// None now: cilium's loader objects, whose static functions outside `.text` libbpf refuses, are
    /// accepted as cilium accepts them.
    static let expectedObjectRefusals: [String: String] = [:]

    /// Kinds whose value libbpf recomputes without validating it for a bitfield, so clang's choice of load
    /// width (old) may differ from libbpf's (new) even against the object's own BTF.
    static let bitfieldLoadKinds: Set<String> = ["byte_off", "byte_sz", "lshift_u64"]

    // MARK: - The table against libbpf (needs no swift-load)

    @Test("the hand-written tables are libbpf's decisions")
    func tablesAreLibbpfs() throws {
        for (object, table) in [("core_reloc", Self.coreRelocTable), ("core_fail", Self.coreFailTable)] {
            let path = Self.fixtures + "/\(object).o", target = Self.fixtures + "/\(object).target.o"
            guard case .decided(let decisions) = try LibbpfCoreOracle.decisions(object: path, target: target) else {
                Issue.record("libbpf refuses \(object).o")
                continue
            }
            Self.compare(decisions, with: table, label: "libbpf, \(object).o")
        }
    }

    @Test("the oracle prints the spec and candidate lines bpftool gen min_core_btf prints")
    func oracleAgreesWithBpftool() throws {
        let bpftool = Tool.path("bpftool")
        try require(bpftool != nil, "bpftool not installed")
        var pairs = [(Self.fixtures + "/core_reloc.o", Self.fixtures + "/core_reloc.target.o")]
        if FileManager.default.fileExists(atPath: Self.kernelBTF) {
            pairs.append((Self.fixtures + "/core.o", Self.kernelBTF))
        }
        for (object, target) in pairs {
            let output = NSTemporaryDirectory() + "/swift-load-min-core-\(getpid())-\(UUID().uuidString).btf"
            defer { try? FileManager.default.removeItem(atPath: output) }
            let result = try Tool.run(bpftool!, ["-d", "gen", "min_core_btf", target, output, object])
            #expect(result.status == 0, "bpftool gen min_core_btf \(object): \(result.stderr.suffix(500))")
            let theirs = CoreSpecLines.extract(from: result.stderr).sorted()
            let ours = try LibbpfCoreOracle.specLines(object: object, target: target).sorted()
            #expect(!ours.isEmpty)
            if let difference = TextDifference.first(ours: ours.joined(separator: "\n"), theirs: theirs.joined(separator: "\n"),
                                                     oursLabel: "libbpf_core", theirsLabel: "bpftool") {
                Issue.record("\(object) vs \(target): \(difference)")
            }
        }
    }

    // MARK: - swift-load reloc

    @Test("reloc against the target object gives the hand-written values")
    func relocAgainstTargetMatchesTable() throws {
        let object = Self.fixtures + "/core_reloc.o", target = Self.fixtures + "/core_reloc.target.o"
        let (status, report) = try SwiftLoadRelocReport.of(object, target: target)
        #expect(status == 0, "no relocation of core_reloc.o fails against its target")
        #expect(report.object == object)
        #expect(report.targetBTF == target)
        Self.compare(report.coreRelocations, with: Self.coreRelocTable, label: "swift-load, core_reloc.o")
    }

    @Test("reloc reports the relocations libbpf refuses, and exits 1")
    func relocReportsFailures() throws {
        let object = Self.fixtures + "/core_fail.o", target = Self.fixtures + "/core_fail.target.o"
        let (status, report) = try SwiftLoadRelocReport.of(object, target: target)
        #expect(status == 1, "a failed relocation makes reloc exit 1")
        Self.compare(report.coreRelocations, with: Self.coreFailTable, label: "swift-load, core_fail.o")
    }

    /// Every fixture and installed cilium/ebpf little-endian object that has BTF.
    static var selfObjects: [String] {
        (TestPaths.fixtureObjects + TestPaths.ciliumObjects()).filter(hasBTF)
    }

    /// Whether the file names a `.BTF` section (cilium's clang-7 object has none).
    static func hasBTF(_ path: String) -> Bool {
        guard let bytes = FileManager.default.contents(atPath: path) else { return false }
        return bytes.range(of: Data(".BTF".utf8)) != nil
    }

    @Test("relocating an object against its own BTF changes nothing", arguments: selfObjects)
    func selfRelocation(object: String) throws {
        let name = (object as NSString).lastPathComponent
        let status: Int32, report: SwiftLoadRelocReport
        switch try SwiftLoadRelocReport.run(object, target: object) {
        case .reported(let reportedStatus, let reported):
            (status, report) = (reportedStatus, reported)
        case .noReport(let refusedStatus, let stderr, let why):
            if let phrase = Self.expectedObjectRefusals[name] {
                #expect(refusedStatus == 1 && stderr.contains(phrase), "\(name): refused with \(refusedStatus): \(stderr)")
            } else {
                Issue.record("\(name): swift-load reloc printed no report (\(refusedStatus)): \(stderr.prefix(1000)) \(why)")
            }
            return
        }
        let anyFailed = report.relocations.contains { $0.outcome == "failed" }
        #expect(status == (anyFailed ? 1 : 0), "\(name): exit status \(status) with\(anyFailed ? "" : " no") failed relocation")
        let failures = Self.expectedSelfFailures[name] ?? []
        for decision in report.coreRelocations {
            let expectedFailure = failures.first {
                $0.program == decision.program && ($0.instruction == nil || $0.instruction == decision.instruction)
            }
            if let expectedFailure {
                #expect(decision.outcome == "failed", "\(name): \(decision) should fail")
                if let word = expectedFailure.mentioning {
                    #expect(decision.error?.lowercased().contains(word) == true, "\(name): \(decision): error should mention \(word)")
                }
                continue
            }
            #expect(decision.outcome == "patched", "\(name): \(decision)")
            guard let old = decision.old, let new = decision.new else {
                Issue.record("\(name): \(decision): old and new are needed")
                continue
            }
            #expect(old.sameField(as: new) || Self.bitfieldLoadKinds.contains(decision.kind),
                    "\(name): \(decision) changes the instruction against its own BTF")
        }
        for failure in failures {
            #expect(report.coreRelocations.contains { $0.program == failure.program },
                    "\(name): no CO-RE relocation in \(failure.program)")
        }
    }

    // MARK: - Differential against libbpf

    /// The cross-target pairs; self pairs and fixtures against the kernel's BTF are added in the test.
    static let crossPairs: [(object: String, target: String)] = [
        (fixtures + "/core_reloc.o", fixtures + "/core_reloc.target.o"),
        (fixtures + "/core_fail.o", fixtures + "/core_fail.target.o"),
        (ciliumBTF + "/relocs_read-el.elf", ciliumBTF + "/relocs_read_tgt-el.elf"),
    ]

    @Test("every CO-RE decision equals libbpf's")
    func differential() throws {
        try require(FileManager.default.fileExists(atPath: Self.kernelBTF), "no kernel BTF at \(Self.kernelBTF)")
        var pairs = Self.crossPairs.filter { FileManager.default.fileExists(atPath: $0.object) }
        var objectsWithCore: [String] = []
        for object in Self.selfObjects {
            guard case .decided(let decisions) = try LibbpfCoreOracle.decisions(object: object, target: object),
                  !decisions.isEmpty else { continue }
            objectsWithCore.append(object)
            pairs.append((object, object))
        }
        // The fixtures against the running kernel (the cilium objects' types are made up).
        for object in objectsWithCore where object.hasPrefix(Self.fixtures) {
            pairs.append((object, Self.kernelBTF))
        }
        var compared = 0, commandFailures = 0
        for (object, target) in pairs {
            guard case .decided(let theirs) = try LibbpfCoreOracle.decisions(object: object, target: target) else {
                continue // libbpf refuses the object (foreign byte order, no BTF): nothing to compare
            }
            let label = "\((object as NSString).lastPathComponent) vs \((target as NSString).lastPathComponent)"
            let ours: [CoreDecision]
            do {
                ours = try SwiftLoadRelocReport.of(object, target: target).report.coreRelocations
            } catch {
                // Recorded by SwiftLoadRelocReport.of; a command that cannot run at all fails once, not per pair.
                commandFailures += 1
                if commandFailures == 3 { break }
                continue
            }
            let count = Self.compare(ours, withOracle: theirs, label: label)
            print("CO-RE differential: \(label): \(count) decisions compared")
            compared += count
        }
        print("CO-RE differential: \(compared) CO-RE decisions compared with libbpf 1.1.2 over \(pairs.count) object/target pairs")
        #expect(compared > 0)
    }

    // MARK: - Comparison

    /// Records an issue for every difference between `decisions` (CO-RE only) and `table`: a missing or
    /// extra relocation, a differing decision, or a different order.
    static func compare(_ decisions: [CoreDecision], with table: [Expected], label: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        let decisions = decisions.filter(\.isCore)
        let byKey = Dictionary(decisions.map { ($0.programKey, $0) }, uniquingKeysWith: { first, _ in first })
        let expectedKeys = Set(table.map(\.key))
        for expected in table {
            guard let decision = byKey[expected.key] else {
                Issue.record("\(label): missing relocation \(expected)", sourceLocation: sourceLocation)
                continue
            }
            if let mismatch = expected.mismatch(decision) {
                Issue.record("\(label): \(mismatch)", sourceLocation: sourceLocation)
            }
        }
        for decision in decisions where !expectedKeys.contains(decision.programKey) {
            Issue.record("\(label): unexpected relocation \(decision)", sourceLocation: sourceLocation)
        }
        let order = decisions.map(\.programKey).filter(expectedKeys.contains)
        let expectedOrder = table.map(\.key).filter { byKey[$0] != nil }
        #expect(order == expectedOrder, "\(label): relocations not in the contract's order (function, then instruction)",
                sourceLocation: sourceLocation)
    }

    /// Compares swift-load's CO-RE decisions with libbpf's for one object/target pair; returns how many
    /// decisions were compared. A relocation libbpf fails must fail in swift-load too; otherwise target
    /// spec, local spec, outcome and the field before and after must be equal.
    static func compare(_ ours: [CoreDecision], withOracle theirs: [CoreDecision], label: String,
                        sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        let oursByKey = Dictionary(ours.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let theirKeys = Set(theirs.map(\.key))
        var compared = 0
        for their in theirs {
            guard let our = oursByKey[their.key] else {
                Issue.record("\(label): swift-load lacks libbpf's relocation \(their)", sourceLocation: sourceLocation)
                continue
            }
            compared += 1
            if their.outcome == "failed" {
                #expect(our.outcome == "failed", "\(label): libbpf fails \(their); swift-load: \(our)",
                        sourceLocation: sourceLocation)
                continue
            }
            let same = our.outcome == their.outcome && our.target == their.target && our.local == their.local
                && sameValue(our.old, their.old) && sameValue(our.new, their.new)
            #expect(same, "\(label):\n  swift-load: \(our)\n  libbpf:     \(their)", sourceLocation: sourceLocation)
        }
        for our in ours where !theirKeys.contains(our.key) {
            Issue.record("\(label): swift-load has a relocation libbpf does not: \(our)", sourceLocation: sourceLocation)
        }
        return compared
    }

    /// Two optional field values denote the same contents (both absent, or `sameField`).
    static func sameValue(_ a: FieldValue?, _ b: FieldValue?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (let a?, let b?): return a.sameField(as: b)
        default: return false
        }
    }
}

/// One expected CO-RE decision of the hand-written tables.
struct ExpectedCoreDecision: Sendable, CustomStringConvertible {
    /// What the relocation must come to.
    enum Outcome: Sendable {
        /// Patched from `old` to `new` (existence kinds resolving to 0 included).
        case patched(Int64, Int64)
        /// Poisoned; the field held `old`.
        case poisoned(Int64)
        /// Refused; the field held `old` (compared when the record gives it); the error contains
        /// `mentioning` (case-insensitive) when given.
        case failed(Int64, mentioning: String?)
    }

    var program: String
    var instruction: Int
    var kind: String
    /// The local spec; nil for failed records, whose specs are not compared.
    var local: String?
    /// The chosen target spec; nil when no candidate matched (or for failed records).
    var target: String?
    var outcome: Outcome

    init(_ program: String, _ instruction: Int, _ kind: String, _ local: String?, _ target: String?, _ outcome: Outcome) {
        self.program = program
        self.instruction = instruction
        self.kind = kind
        self.local = local
        self.target = target
        self.outcome = outcome
    }

    /// The `CoreDecision.programKey` of the same relocation (the section is not part of the table: every
    /// function of these fixtures has a unique name).
    var key: String { "\(program)#\(instruction) \(kind)" }

    var description: String { "\(program)#\(instruction) \(kind) \(local ?? "-") => \(target ?? "null") \(outcome)" }

    /// nil when `decision` is this expectation, else what differs.
    func mismatch(_ decision: CoreDecision) -> String? {
        var problems: [String] = []
        func check(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { problems.append(what()) } }
        switch outcome {
        case .patched(let old, let new):
            check(decision.outcome == "patched", "outcome \(decision.outcome ?? "nil"), expected patched")
            check(ExpectedCoreDecision.same(decision.old, old), "old \(decision.old?.description ?? "null"), expected \(old)")
            check(ExpectedCoreDecision.same(decision.new, new), "new \(decision.new?.description ?? "null"), expected \(new)")
            check(decision.local == local, "local \(decision.local ?? "null"), expected \(local ?? "null")")
            check(decision.target == target, "target \(decision.target ?? "null"), expected \(target ?? "null")")
        case .poisoned(let old):
            check(decision.outcome == "poisoned", "outcome \(decision.outcome ?? "nil"), expected poisoned")
            check(ExpectedCoreDecision.same(decision.old, old), "old \(decision.old?.description ?? "null"), expected \(old)")
            check(decision.new == nil, "new \(decision.new?.description ?? "null"), expected null")
            check(decision.local == local, "local \(decision.local ?? "null"), expected \(local ?? "null")")
            check(decision.target == target, "target \(decision.target ?? "null"), expected \(target ?? "null")")
            check(!(decision.error ?? "").isEmpty, "no error text for a poisoned relocation")
        case .failed(let old, let word):
            check(decision.outcome == "failed", "outcome \(decision.outcome ?? "nil"), expected failed")
            // The contract leaves `old` of a refused relocation open: compared when given.
            check(decision.old == nil || ExpectedCoreDecision.same(decision.old, old),
                  "old \(decision.old?.description ?? "null"), expected \(old)")
            check(!(decision.error ?? "").isEmpty, "no error text for a failed relocation")
            if let word {
                check(decision.error?.lowercased().contains(word) == true, "error \(decision.error ?? "null") does not mention \(word)")
            }
        }
        return problems.isEmpty ? nil : "\(key): " + problems.joined(separator: "; ") + "\n  got: \(decision)"
    }

    private static func same(_ value: FieldValue?, _ expected: Int64) -> Bool {
        value.map { $0.sameField(as: FieldValue(expected)) } ?? false
    }
}
