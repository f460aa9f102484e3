import BPFObject
import BTF
import Foundation
import Testing
import TestSupport
@testable import BPF

#if canImport(Glibc)
import Glibc
#endif

/// What loading one fixture (`Fixtures/*.o`, with `allowsPartialLoad`) must do on the project's test kernel
/// (KERNEL.md: 6.18, root, no kprobes, no BPF trampolines). Every fixture has an entry, so a new fixture
/// without a documented expectation fails the suite.
struct FixtureExpectation: Sendable {
    /// How one program must fail.
    struct Failure: Sendable {
        var code: BPFError.Code
        /// Every one of these must be in the error's message.
        var message: [String] = []
        /// At least one of each inner list must be in the verifier log (empty: no log required).
        var log: [[String]] = []
    }

    /// Why the whole object is refused before anything reaches the kernel (every string in the message).
    var refusedBecause: [String]?
    /// Why the object is not loaded here at all (covered elsewhere).
    var offlineOnly: String?
    /// Programs that must fail, and how; every other autoloaded program must load.
    var failures: [String: Failure] = [:]
    /// The object pins maps by name: load it with a temporary pin directory.
    var pinsMaps = false
    /// The fixture whose BTF CO-RE resolves against instead of the running kernel's.
    var coreTarget: String?
    /// Programs that are not loaded because their section starts with `?` (libbpf's autoload off).
    var notAutoloaded: [String] = []
    /// Whether the kernel is expected to refuse the object's BTF (a warning; the programs load without it).
    var btfRefused = false

    static let loads = FixtureExpectation()

    static let bigEndian = FixtureExpectation(refusedBecause: ["big-endian"])

    /// The verifier's rejection of an `err_*` program, with a verdict that must be in its log.
    static func rejected(_ program: String, verdict: [String]) -> FixtureExpectation {
        FixtureExpectation(failures: [program: Failure(code: .verifier, log: [verdict])])
    }

    /// A CO-RE relocation the loader refuses (as libbpf would), failing only its program.
    static func coreRefused(_ program: String, _ kind: String, _ reason: String) -> Failure {
        Failure(code: .invalidObject, message: ["program '\(program)'", "CO-RE relocation", "of '\(program)'", kind, "failed", reason])
    }

    /// A `fentry`/`fexit`/`lsm` program: the kernel has no BPF trampolines (EPERM).
    static let needsTrampolines = Failure(code: .unsupported, message: ["needs BPF trampolines"])

    /// Every fixture by file name. The expectations follow bpf-src/README.md's "live" column.
    static let table: [String: FixtureExpectation] = [
        // 17 programs in one per attach family this kernel has; on_raw_tp_exit_optional is `?raw_tp/...`.
        "attach.o": FixtureExpectation(notAutoloaded: ["on_raw_tp_exit_optional"]),
        // kprobe, kretprobe and ksyscall programs load (they cannot attach here: no CONFIG_KPROBES).
        // on_ksyscall reads the wrapper's inner pt_regs with CO-RE (this kernel has syscall wrappers).
        // fentry/fexit/lsm need BPF trampolines, which this VM refuses with EPERM.
        "attach_kernel.o": FixtureExpectation(failures: [
            "on_fentry": needsTrampolines,
            "on_fexit": needsTrampolines,
            "on_lsm_bprm_check": needsTrampolines,
        ]),
        "core.o": .loads,
        "ringbuf_bench.o": .loads,
        "core.bpfeb.o": .bigEndian,
        // Relocated against its synthetic target: every fail_* program holds one relocation libbpf refuses
        // and fails alone (before BPF_PROG_LOAD), ok_after_failures loads.
        "core_fail.o": FixtureExpectation(failures: [
            "fail_offset_ambiguity": coreRefused("fail_offset_ambiguity", "byte_off", "field offset ambiguity"),
            "fail_value_ambiguity": coreRefused("fail_value_ambiguity", "byte_sz", "relocation decision ambiguity"),
            "fail_type_id_ambiguity": coreRefused("fail_type_id_ambiguity", "target_type_id", "relocation decision ambiguity"),
            "fail_bitfield": coreRefused("fail_bitfield", "byte_off", "bitfield"),
            "fail_offset_too_big": coreRefused("fail_offset_too_big", "byte_off", "40000"),
            "fail_too_deep": coreRefused("fail_too_deep", "byte_off", "64"),
            "fail_anonymous_root": coreRefused("fail_anonymous_root", "byte_off", "anonymous"),
        ], coreTarget: "core_fail.target.o"),
        // Its programs dereference pointers taken from their context (offline checks of relocated
        // instructions), which the verifier refuses, and several relocations are poisoned on purpose;
        // covered offline by Tests/SwiftLoadCLITests/CoreRelocationTests.swift.
        "core_reloc.o": FixtureExpectation(offlineOnly: "CO-RE against core_reloc.target.o only; its programs are not meant to verify"),
        // The targets are plain syscall programs. core_fail.target.o's 68 nested anonymous structs exceed
        // the kernel's BTF resolving depth (32): its BTF is refused with a warning and it loads without.
        "core_fail.target.o": FixtureExpectation(btfRefused: true),
        "core_reloc.target.o": .loads,
        // err_*: rejected by the verifier, with its verdict in the log.
        "err_oob.o": .rejected("err_oob_map_value", verdict: ["invalid access to map value", "outside of the allowed memory range"]),
        "err_nullderef.o": .rejected("err_null_deref", verdict: ["map_value_or_null"]),
        "err_license.o": .rejected("err_gpl_helper", verdict: ["GPL"]),
        // A reachable poisoned CO-RE read: the log and message are rewritten to name the relocation.
        "err_core.o": FixtureExpectation(failures: [
            "err_core_missing_field": Failure(code: .verifier,
                                              message: ["failed to resolve CO-RE relocation <byte_off>", "swift_load_no_such_field"],
                                              log: [["<invalid CO-RE relocation>"], ["swift_load_no_such_field"]]),
        ]),
        "events.o": .loads,
        "execcount.o": .loads,
        "execstats.o": .loads,
        "globals.o": .loads,
        "globals.bpfeb.o": .bigEndian,
        "hello.o": .loads,
        "hello.bpfeb.o": .bigEndian,
        "legacy_iproute2.o": .loads,
        "legacy_sockex.o": .loads,
        "maps.o": FixtureExpectation(pinsMaps: true),
        "maps.bpfeb.o": .bigEndian,
        "spinlock.o": .loads,
        "subprogs.o": .loads,
        "subprogs.bpfeb.o": .bigEndian,
        "xdpstats.o": .loads,
    ]
}

/// The loader on every fixture, the self-checks, global data and pinning, on the real kernel.
/// Serialized: the tests pin under /sys/fs/bpf and count kernel objects by name.
@Suite(.serialized) struct ObjectLoaderTests {
    typealias Support = LoaderTestSupport

    static var fixtureNames: [String] { TestPaths.fixtureObjects.map { ($0 as NSString).lastPathComponent } }

    /// Loads `name` with a partial load allowed, in a temporary pin directory when it pins maps.
    func loadPartially(_ name: String, _ edit: (inout ObjectSpec) -> Void = { _ in }) throws -> LoadedObject {
        var spec = try Support.spec(Support.fixture(name))
        edit(&spec)
        var options = LoadOptions(allowsPartialLoad: true)
        if let target = FixtureExpectation.table[name]?.coreTarget {
            let btf = try #require(try Support.spec(Support.fixture(target)).btf, "\(target) has BTF")
            options.coreTargets = CoreTargets(primary: CoreTargetBTF(btf, name: "vmlinux"))
        }
        var pinDirectory: String?
        if FixtureExpectation.table[name]?.pinsMaps == true {
            pinDirectory = try Support.temporaryPinDirectory(name)
            options.pinDirectory = pinDirectory
        }
        defer { if let pinDirectory { Support.removePinDirectory(pinDirectory) } }
        return try LoadedObject.load(spec, options: options)
    }

    @Test func everyFixtureHasAnExpectation() {
        let names = Self.fixtureNames
        #expect(!names.isEmpty, "no fixtures under \(TestPaths.fixtures)")
        for name in names where FixtureExpectation.table[name] == nil {
            Issue.record("Fixtures/\(name) has no entry in FixtureExpectation.table: document what loading it must do")
        }
    }

    /// Requirement 1: every fixture loads as documented: all programs except the expected failures, each
    /// failure with its code, message and verifier verdict; every map created.
    @Test(arguments: fixtureNames)
    func fixtureLoadsAsDocumented(name: String) throws {
        try Support.requireRoot()
        let expectation = try #require(FixtureExpectation.table[name], "no expectation for \(name)")
        if let reason = expectation.offlineOnly {
            // Still parseable: the loader would get the spec it needs.
            let spec = try Support.spec(Support.fixture(name))
            #expect(!spec.programs.isEmpty)
            try Test.cancel(Comment(rawValue: "\(name) is offline only: \(reason)"))
        }
        if let refusal = expectation.refusedBecause {
            let error = Support.expectFailure("\(name) must be refused") { () throws(BPFError) in
                _ = try LoadedObject.load(contentsOf: Support.fixture(name), options: LoadOptions(allowsPartialLoad: true))
            }
            #expect(error?.code == .invalidObject)
            for fragment in refusal {
                #expect(error?.message.contains(fragment) == true, "\(name): '\(error?.message ?? "")' does not say \(fragment)")
            }
            return
        }

        let loaded = try loadPartially(name)
        let spec = loaded.spec
        let autoloaded = Set(spec.programs.filter(\.autoload).map(\.name))
        #expect(Set(expectation.notAutoloaded).isDisjoint(with: autoloaded), "\(name): ?-sections must not autoload")
        let loadedNames = loaded.programs.map(\.name)
        let failedNames = loaded.failures.map(\.name)
        #expect(Set(loadedNames).union(failedNames) == autoloaded, "\(name): every autoloaded program is either loaded or failed")
        #expect(Set(loadedNames).isDisjoint(with: failedNames))
        #expect(loaded.maps.count == spec.maps.count, "\(name): every map is created")

        for failure in loaded.failures {
            guard let expected = expectation.failures[failure.name] else {
                Issue.record("\(name): program \(failure.name) failed: \(failure.error.message)\n\(VerifierLog.relevantTail(failure.error.log ?? "").joined(separator: "\n"))")
                continue
            }
            check(failure, against: expected, in: name)
        }
        for (program, expected) in expectation.failures where !failedNames.contains(program) {
            Issue.record("\(name): program \(program) should have failed with \(expected.code)")
        }
        for program in loaded.programs {
            let info = try program.info()
            #expect(info.id != 0)
            #expect(info.name == KernelName.sanitized(program.name))
            #expect(info.type == program.type)
            #expect(info.verifiedInstructions > 0, "\(name): \(program.name) verified no instructions")
        }
        for map in loaded.maps {
            let info = try map.info()
            #expect(info.type == map.type, "\(name): map \(map.name)")
            #expect(info.valueSize == map.valueSize, "\(name): map \(map.name)")
        }
        let btfWarning = loaded.warnings.contains { $0.contains("refused the object's BTF") }
        #expect(btfWarning == expectation.btfRefused, "\(name): warnings \(loaded.warnings)")
        #expect((loaded.btf == nil) == expectation.btfRefused)
    }

    func check(_ failure: ProgramLoadFailure, against expected: FixtureExpectation.Failure, in name: String,
               sourceLocation: SourceLocation = #_sourceLocation) {
        let error = failure.error
        let at = "\(name): \(failure.name)"
        #expect(error.code == expected.code, "\(at): code \(error.code): \(error.message)", sourceLocation: sourceLocation)
        for fragment in expected.message {
            #expect(error.message.contains(fragment), "\(at): message '\(error.message)' lacks '\(fragment)'", sourceLocation: sourceLocation)
        }
        if !expected.log.isEmpty {
            let log = error.log ?? ""
            #expect(!log.isEmpty, "\(at): no verifier log", sourceLocation: sourceLocation)
            for alternatives in expected.log {
                #expect(alternatives.contains { log.contains($0) }, "\(at): the log has none of \(alternatives):\n\(log)",
                        sourceLocation: sourceLocation)
            }
        }
        if expected.code == .verifier {
            #expect(error.command == .programLoad, sourceLocation: sourceLocation)
            #expect(error.errno != nil, sourceLocation: sourceLocation)
        }
    }

    /// Without `allowsPartialLoad` the first failure throws, the others are in its details, and nothing of
    /// the object stays in the kernel: the programs that did load and the maps (`attach_k.bss`,
    /// `attach_k.kconfig`) that appeared during the load are freed.
    @Test func aFailureThrowsAndLeavesNothing() throws {
        try Support.requireRoot()
        let mapsBefore = Set(SystemCall.allIDs(of: .map))
        let programsBefore = Set(SystemCall.allIDs(of: .program))
        let error = Support.expectFailure { () throws(BPFError) in
            _ = try LoadedObject.load(contentsOf: Support.fixture("attach_kernel.o"))
        }
        // Only objects that appeared during this load, with this object's names (other processes may load
        // the same fixture at the same time).
        let ours: Set<String> = ["on_kprobe", "on_kretprobe", "on_kretsyscall", "on_ksyscall", "attach_k.bss", "attach_k.kconfig"]
        let newMaps = Set(SystemCall.allIDs(of: .map)).subtracting(mapsBefore)
            .filter { Support.kernelName(.map, id: $0).map(ours.contains) == true }
        let newPrograms = Set(SystemCall.allIDs(of: .program)).subtracting(programsBefore)
            .filter { Support.kernelName(.program, id: $0).map(ours.contains) == true }
        #expect(error != nil)
        let alsoFailed = error?.details.filter { $0.hasPrefix("also failed:") } ?? []
        #expect(alsoFailed.count >= 2, "details: \(error?.details ?? [])")
        #expect(alsoFailed.contains { $0.contains("on_fexit") } || error?.message.contains("on_fexit") == true)
        let gone = Support.eventually {
            newMaps.allSatisfy { !Support.kernelHas(.map, id: $0) } && newPrograms.allSatisfy { !Support.kernelHas(.program, id: $0) }
        }
        #expect(gone, "programs or maps of the failed load are still in the kernel: maps \(newMaps), programs \(newPrograms)")
    }

    @Test func unknownProgramNameIsRefused() throws {
        try Support.requireRoot()
        let error = Support.expectFailure { () throws(BPFError) in
            _ = try LoadedObject.load(contentsOf: Support.fixture("hello.o"), options: LoadOptions(programNames: ["nosuch"]))
        }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("nosuch") == true)
    }

    @Test func programNamesSelectWhatLoads() throws {
        try Support.requireRoot()
        let loaded = try LoadedObject.load(contentsOf: Support.fixture("subprogs.o"),
                                           options: LoadOptions(programNames: ["check_loop", "check_raw_tp_subprogs"]))
        #expect(Set(loaded.programs.map(\.name)) == ["check_loop", "check_raw_tp_subprogs"])
        #expect(loaded.failures.isEmpty)
        #expect(loaded.map(named: ".bss") != nil, "maps are always created")
    }

    // MARK: - Self-checks (requirement 2)

    /// Every `check_*` program of every fixture returns 0 (else the failing CHECK's line is printed).
    @Test(arguments: ["globals.o", "maps.o", "spinlock.o", "subprogs.o", "core.o"])
    func checkProgramsReturnZero(name: String) throws {
        try Support.requireRoot()
        let loaded = try loadPartially(name)
        #expect(loaded.failures.isEmpty, "\(name): \(loaded.failures.map { "\($0.name): \($0.error.message)" })")
        let checks = loaded.programs.filter { $0.name.hasPrefix("check_") }
        #expect(!checks.isEmpty)
        let source = name.replacingOccurrences(of: ".o", with: ".bpf.c")
        for program in checks {
            try Support.expectCheckPasses(program, source: source)
        }
    }

    @Test func checkGlobalsIsStableUnderRepeat() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("globals.o")
        let check = try #require(loaded.program(named: "check_globals"))
        try Support.expectCheckPasses(check, source: "globals.bpf.c")
        try Support.expectCheckPasses(check, source: "globals.bpf.c", repeat: 1000)
        try Support.expectCheckPasses(check, source: "globals.bpf.c")
        // 1 + 1000 + 1 runs advanced both counters together.
        let data = try #require(loaded.map(named: ".data")?.memory)
        let bss = try #require(loaded.map(named: ".bss")?.memory)
        let spec = loaded.spec
        let dataCounter = read(UInt32.self, spec, "data_counter", data)
        let bssCounter = read(UInt32.self, spec, "bss_counter", bss)
        #expect(dataCounter == 1102)
        #expect(bssCounter == 1002)
    }

    @Test func tailCallReachesSlotZero() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("maps.o")
        let check = try #require(loaded.program(named: "check_tail_call"))
        // tail_slot0 returns 0; falling through would return the line of `return __LINE__`.
        try Support.expectCheckPasses(check, source: "maps.bpf.c")
        let bss = try #require(loaded.map(named: ".bss")?.memory)
        #expect(read(UInt32.self, loaded.spec, "tail_hits", bss) == 1, "tail_slot0 ran (tail_hits |= 1), tail_slot2 did not")
        try Support.expectCheckPasses(try #require(loaded.program(named: "check_tail_call_empty")), source: "maps.bpf.c")
        #expect(read(UInt32.self, loaded.spec, "tail_hits", bss) == 1)
        // The slots hold the programs the object named.
        let jump = try #require(loaded.map(named: "jump_table"))
        let slot0 = try jump.lookup(UInt32(0), as: UInt32.self)
        let slot2 = try jump.lookup(UInt32(2), as: UInt32.self)
        #expect(slot0 == (try loaded.program(named: "tail_slot0")?.info().id))
        #expect(slot2 == (try loaded.program(named: "tail_slot2")?.info().id))
        #expect(try jump.lookup(UInt32(1), as: UInt32.self) == nil)
    }

    @Test func checkMapsLeavesItsWritesInTheMaps() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("maps.o")
        try Support.expectCheckPasses(try #require(loaded.program(named: "check_maps")), source: "maps.bpf.c")
        // outer_array[0] = inner_b, [2] = inner_a: the program wrote 0xb and 0xa through them.
        #expect(try loaded.map(named: "inner_b")?.lookup(UInt32(0), as: UInt32.self) == 0xb)
        #expect(try loaded.map(named: "inner_a")?.lookup(UInt32(0), as: UInt32.self) == 0xa)
        #expect(try loaded.map(named: "pinned_counts")?.lookup(UInt32(3), as: UInt64.self) == 1234)
        #expect(try loaded.map(named: "numa_array")?.lookup(UInt32(0), as: UInt64.self) == 1234)
        let outer = try #require(loaded.map(named: "outer_array"))
        #expect(try outer.lookup(UInt32(0), as: UInt32.self) == (try loaded.map(named: "inner_b")?.info().id))
        #expect(try outer.lookup(UInt32(2), as: UInt32.self) == (try loaded.map(named: "inner_a")?.info().id))
    }

    @Test func spinLockCheckUpdatesTheLockedValue() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("spinlock.o")
        let check = try #require(loaded.program(named: "check_spin_lock"))
        try Support.expectCheckPasses(check, source: "spinlock.bpf.c")
        try Support.expectCheckPasses(check, source: "spinlock.bpf.c")
        // struct locked_counter { bpf_spin_lock lock; u64 value; u64 updates; }: two runs, +5 each.
        let value = try #require(try loaded.map(named: "locked")?.lookup(key: [0, 0, 0, 0]))
        #expect(value.count == 24)
        #expect(le64(value, 8) == 10)
        #expect(le64(value, 16) == 2)
    }

    /// ok_after_failures, relocated against core_fail.target.o, stores `bpf_core_field_offset(p->y)` (8 in
    /// the target, 0 in the object) into `out[1]` of its context; a syscall program's test run copies the
    /// context back (into `ctx_in`: the kernel refuses `ctx_out` for syscall and raw_tp programs).
    @Test func coreRelocatedAgainstATargetReachesTheKernel() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("core_fail.o")
        let program = try #require(loaded.program(named: "ok_after_failures"))
        let result = try program.testRun(context: [UInt8](repeating: 0, count: 16), repeat: 0)
        #expect(result.returnValue == 0)
        let context = try #require(result.context)
        #expect(context.count == 16)
        #expect(le64(context, 8) == 8, "out[1] = offset of sl_fine.y in the target: \(context)")
    }

    // MARK: - Global data (requirement 4)

    /// A `const volatile` knob set before load reaches the program: check_globals, which checks the
    /// compiled-in values, now fails at exactly that knob's CHECK, and the frozen `.rodata` holds the value.
    @Test(arguments: [
        ("knob_u32", VariableValue.integer(8), "CHECK(knob_u32 == 7)"),
        ("knob_u64", VariableValue.integer(0x1122334455667789), "CHECK(knob_u64 == 0x1122334455667788ULL)"),
        ("knob_name", VariableValue.string("swiftly"), "CHECK(knob_name[0] == 's'"),
        ("knob_zero", VariableValue.integer(1), "CHECK(knob_zero == 0)"),
    ])
    func knobSetBeforeLoadReachesTheProgram(knob: String, value: VariableValue, failingCheck: String) throws {
        try Support.requireRoot()
        let loaded = try loadPartially("globals.o") { spec in
            #expect(throws: Never.self) { try spec.setVariable(knob, to: value) }
        }
        let check = try #require(loaded.program(named: "check_globals"))
        let line = try #require(sourceLineNumber(of: failingCheck, in: "globals.bpf.c"))
        #expect(try Support.run(check) == UInt32(line), "check_globals should fail at \(failingCheck) (line \(line))")

        let rodata = try #require(loaded.map(named: ".rodata"))
        #expect(rodata.flags & MapFlag.readOnlyForPrograms != 0)
        let variable = try #require(loaded.spec.variable(named: knob))
        let expected = try #require(loaded.spec.maps.first { $0.name == ".rodata" }?.initialValue)
        let kernel = try #require(try rodata.lookup(key: [0, 0, 0, 0]))
        let range = Int(variable.offset)..<Int(variable.offset + variable.size)
        #expect(Array(kernel[range]) == Array(expected[range]), "the kernel's .rodata holds the edited knob")
        if case .integer(let number) = value {
            #expect(kernel[range].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } == UInt64(number))
        }
        if let memory = rodata.memory {
            #expect(memory.isReadOnly)
            #expect(Array(memory.bytes[range]) == Array(kernel[range]))
        }
        // The frozen map refuses writes from user space too.
        #expect(throws: BPFError.self) { try rodata.update(key: [0, 0, 0, 0], value: kernel) }
    }

    /// `.data` and `.bss` edited in the spec before load: the program sees the new starting values.
    @Test func dataAndBSSSetBeforeLoadReachTheProgram() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("globals.o") { spec in
            #expect(throws: Never.self) {
                try spec.setVariable("data_counter", to: .integer(150))
                try spec.setVariable("bss_counter", to: .integer(50))
            }
        }
        try Support.expectCheckPasses(try #require(loaded.program(named: "check_globals")), source: "globals.bpf.c")
        let data = try #require(loaded.map(named: ".data")?.memory)
        let bss = try #require(loaded.map(named: ".bss")?.memory)
        #expect(read(UInt32.self, loaded.spec, "data_counter", data) == 151)
        #expect(read(UInt32.self, loaded.spec, "bss_counter", bss) == 51)
    }

    /// `.data` and `.bss` written through the mapped memory after load: the program reads the new values
    /// (its CHECKs fail or pass by them), and what it writes is seen through the same memory.
    @Test func dataAndBSSWrittenThroughMemoryReachTheProgram() throws {
        try Support.requireRoot()
        let loaded = try loadPartially("globals.o")
        let spec = loaded.spec
        let check = try #require(loaded.program(named: "check_globals"))
        let dataMap = try #require(loaded.map(named: ".data"))
        let data = try #require(dataMap.memory, ".data is mmapable and mapped")
        let bss = try #require(loaded.map(named: ".bss")?.memory, ".bss is mmapable and mapped")
        #expect(!data.isReadOnly && !bss.isReadOnly)
        #expect(read(UInt32.self, spec, "data_counter", data) == 100)
        #expect(read(UInt64.self, spec, "data_array", data) == 1)

        // data_counter 200 with bss_counter still 0: `bss_counter == data_counter - 100` fails.
        write(UInt32(200), spec, "data_counter", data)
        let pairLine = try #require(sourceLineNumber(of: "CHECK(bss_counter == data_counter - 100)", in: "globals.bpf.c"))
        #expect(try Support.run(check) == UInt32(pairLine))
        // The kernel's copy (read through the syscall, not the mapping) has the value written.
        let kernelData = try #require(try dataMap.lookup(key: [0, 0, 0, 0]))
        #expect(le32(kernelData, Int(try #require(spec.variable(named: "data_counter")).offset)) == 200)

        // bss_counter 100 makes the pair agree: the check passes and advances both.
        write(UInt32(100), spec, "bss_counter", bss)
        try Support.expectCheckPasses(check, source: "globals.bpf.c")
        #expect(read(UInt32.self, spec, "data_counter", data) == 201)
        #expect(read(UInt32.self, spec, "bss_counter", bss) == 101)
        // What the program stored: bss_array[7] and the first six bytes of the literal in message.
        let bssArray = try #require(spec.variable(named: "bss_array"))
        #expect(bss.bytes.load(fromByteOffset: Int(bssArray.offset) + 7 * 8, as: UInt64.self) == 0xabcdef)
        let message = try #require(spec.variable(named: "message"))
        #expect(Array(bss.bytes[Int(message.offset)..<Int(message.offset) + 6]) == Array("string".utf8))

        // data_array[0] changed: its CHECK fails.
        write(UInt64(5), spec, "data_array", data)
        let arrayLine = try #require(sourceLineNumber(of: "CHECK(data_array[0] == 1", in: "globals.bpf.c"))
        #expect(try Support.run(check) == UInt32(arrayLine))
        write(UInt64(1), spec, "data_array", data)
        try Support.expectCheckPasses(check, source: "globals.bpf.c")
    }

    // MARK: - Pinning (requirement 5)

    /// maps.o twice with the same pin directory: the second load reuses pinned_counts (same kernel map,
    /// same contents), also after the first load is released.
    @Test func secondLoadReusesThePinnedMap() throws {
        let directory = try Support.temporaryPinDirectory("reuse")
        defer { Support.removePinDirectory(directory) }
        let options = LoadOptions(pinDirectory: directory)
        let pinPath = directory + "/pinned_counts"

        var first: LoadedObject? = try LoadedObject.load(contentsOf: Support.fixture("maps.o"), options: options)
        let firstMap = try #require(first?.map(named: "pinned_counts"))
        #expect(firstMap.pinnedPath == pinPath)
        #expect(Support.pins(in: directory) == ["pinned_counts"], "only the map marked LIBBPF_PIN_BY_NAME is pinned")
        let id = try firstMap.info().id
        try firstMap.update(UInt32(9), UInt64(99))
        #expect(first?.maps.filter { $0.pinnedPath != nil }.count == 1)

        let second = try LoadedObject.load(contentsOf: Support.fixture("maps.o"), options: options)
        let secondMap = try #require(second.map(named: "pinned_counts"))
        #expect(try secondMap.info().id == id, "the second load opened the pinned map instead of creating one")
        #expect(secondMap.pinnedPath == pinPath)
        #expect(try secondMap.lookup(UInt32(9), as: UInt64.self) == 99)
        // The other maps are the second load's own.
        #expect(try second.map(named: "numa_array")?.info().id != first?.map(named: "numa_array")?.info().id)
        // check_maps of the second load writes key 3 into the shared map: the first load sees it.
        try Support.expectCheckPasses(try #require(second.program(named: "check_maps")), source: "maps.bpf.c")
        #expect(try firstMap.lookup(UInt32(3), as: UInt64.self) == 1234)

        first = nil
        let third = try LoadedObject.load(contentsOf: Support.fixture("maps.o"), options: options)
        #expect(try third.map(named: "pinned_counts")?.info().id == id, "the pin keeps the map after its creator is gone")
        #expect(Support.pins(in: directory) == ["pinned_counts"])
    }

    /// A map pinned at DIR/pinned_counts with another value size is refused, naming value_size; the load
    /// leaves no pin of its own behind and the foreign pin untouched.
    @Test func incompatiblePinIsRefused() throws {
        let directory = try Support.temporaryPinDirectory("incompatible")
        defer { Support.removePinDirectory(directory) }
        let foreign = try Map.create(type: .hash, keySize: 4, valueSize: 16, maxEntries: 16, name: "pinned_counts")
        try foreign.pin(at: directory + "/pinned_counts")
        let foreignID = try foreign.info().id

        let error = Support.expectFailure { () throws(BPFError) in
            _ = try LoadedObject.load(contentsOf: Support.fixture("maps.o"), options: LoadOptions(pinDirectory: directory))
        }
        #expect(error?.code == .pinning)
        #expect(error?.message.contains("value_size") == true, "message: \(error?.message ?? "")")
        #expect(error?.message.contains("pinned_counts") == true)
        #expect(error?.details.contains { $0.contains("value_size 16") && $0.contains("8") } == true, "details: \(error?.details ?? [])")
        #expect(error?.details.count == 1, "only value_size differs: \(error?.details ?? [])")
        #expect(Support.pins(in: directory) == ["pinned_counts"])
        #expect(try Map.open(pinnedAt: directory + "/pinned_counts").info().id == foreignID)
    }

    /// A load that pinned a new map and then failed (a map after it cannot be created; a program the
    /// verifier rejects) removes that pin again.
    @Test func failedLoadLeavesNoNewPin() throws {
        let directory = try Support.temporaryPinDirectory("failed")
        defer { Support.removePinDirectory(directory) }
        let options = LoadOptions(pinDirectory: directory)
        var spec = try Support.spec(Support.fixture("maps.o"))
        let order = spec.maps.map(\.name)
        let pinned = try #require(order.firstIndex(of: "pinned_counts"))

        // A map created after pinned_counts with max_entries 0: BPF_MAP_CREATE fails (EINVAL).
        var badMap = spec
        let later = try #require(badMap.maps.indices.first { $0 > pinned && badMap.maps[$0].type == .array && badMap.maps[$0].origin == .btf },
                                 "maps.o has an array map after pinned_counts (order: \(order))")
        badMap.maps[later].maxEntries = 0
        let mapError = Support.expectFailure { () throws(BPFError) in _ = try LoadedObject.load(badMap, options: options) }
        #expect(mapError?.command == .mapCreate, "\(mapError?.message ?? "")")
        #expect(Support.pins(in: directory).isEmpty, "pins after a failed map creation: \(Support.pins(in: directory))")

        // tail_slot0 without its `r0 = 0`: the verifier rejects it ("R0 !read_ok").
        let index = try #require(spec.programs.firstIndex { $0.name == "tail_slot0" })
        let instructions = spec.programs[index].function.instructions
        let setsR0 = try #require(instructions.lastIndex { $0.dst == 0 && [.alu, .alu64].contains($0.instructionClass) })
        spec.programs[index].function.instructions[setsR0].dst = 3
        let programError = Support.expectFailure { () throws(BPFError) in _ = try LoadedObject.load(spec, options: options) }
        #expect(programError?.code == .verifier, "\(programError?.message ?? "")")
        #expect(programError?.log?.contains("R0 !read_ok") == true)
        #expect(Support.pins(in: directory).isEmpty, "pins after a rejected program: \(Support.pins(in: directory))")

        // With a partial load allowed, the same object loads and keeps its pin.
        let partial = try LoadedObject.load(spec, options: LoadOptions(pinDirectory: directory, allowsPartialLoad: true))
        #expect(partial.failures.map(\.name) == ["tail_slot0"])
        #expect(Support.pins(in: directory) == ["pinned_counts"])
    }

    // MARK: - Helpers

    /// The 1-based line of the first line of bpf-src/`source` containing `text`.
    func sourceLineNumber(of text: String, in source: String) -> Int? {
        guard let contents = try? String(contentsOfFile: TestPaths.root + "/bpf-src/" + source, encoding: .utf8) else { return nil }
        let lines = contents.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.firstIndex { $0.contains(text) }.map { $0 + 1 }
    }

    func read<T: FixedWidthInteger>(_: T.Type, _ spec: ObjectSpec, _ variable: String, _ memory: MappedMapMemory) -> T? {
        guard let offset = spec.variable(named: variable)?.offset else { return nil }
        return memory.bytes.loadUnaligned(fromByteOffset: Int(offset), as: T.self)
    }

    func write<T: FixedWidthInteger>(_ value: T, _ spec: ObjectSpec, _ variable: String, _ memory: MappedMapMemory) {
        guard let offset = spec.variable(named: variable)?.offset else {
            Issue.record("no variable \(variable)")
            return
        }
        memory.bytes.storeBytes(of: value, toByteOffset: Int(offset), as: T.self)
    }

    func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    func le64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}
