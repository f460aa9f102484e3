import BTF
import ByteParsing
import Foundation
import Testing
import TestSupport
@testable import BPFObject

/// Subprogram linking: layouts on the subprogs fixture, structural invariants on every object we have,
/// libbpf's linked streams as an oracle, and hostile specs that must fail with a clear error.
@Suite struct LinkerTests {
    static func fixture(_ name: String) throws -> ObjectSpec {
        try ObjectSpec(contentsOf: TestPaths.fixtures + "/" + name)
    }

    // MARK: subprogs.bpf.c

    /// Layouts as libbpf builds them: depth-first in order of discovery (a newly appended function is
    /// scanned before the rest of its caller). A breadth-first linker would put `global_square` before
    /// `add_static` in `check_tc_subprogs` and `shared_helper` before `add_static` in
    /// `check_raw_tp_subprogs`.
    static let expectedLayouts: [String: [String]] = [
        "check_subprogs": ["check_subprogs", "add_static", "mul_add", "global_square", "shared_helper"],
        "check_loop": ["check_loop", "sum_callback", "stop_at_five"],
        "check_tc_subprogs": ["check_tc_subprogs", "global_ctx_len", "shared_helper", "add_static", "global_square"],
        "check_raw_tp_subprogs": ["check_raw_tp_subprogs", "mul_add", "add_static", "shared_helper"],
    ]

    @Test(arguments: ["subprogs.o", "subprogs.bpfeb.o"])
    func subprogramLayouts(file: String) throws {
        let spec = try Self.fixture(file)
        let linked = try spec.linkedPrograms()
        #expect(linked.map(\.name) == ["check_subprogs", "check_loop", "check_tc_subprogs", "check_raw_tp_subprogs"])
        for program in linked {
            #expect(program.functions.map(\.name) == Self.expectedLayouts[program.name], "\(file) \(program.name)")
            #expect(program.functions.first?.isEntry == true)
            #expect(program.functions.dropFirst().allSatisfy { !$0.isEntry && $0.sectionName == ".text" })
            // Contiguous, in order, from 0; every function's code copied whole.
            var next = 0
            for function in program.functions {
                #expect(function.startSlot == next)
                let source = try #require(spec.functions.first { $0.name == function.name })
                #expect(function.slotCount == source.instructions.count)
                #expect(function.sectionSlot == source.sectionSlot)
                next += function.slotCount
            }
            #expect(program.instructions.count == next)
        }
    }

    @Test(arguments: ["subprogs.o", "subprogs.bpfeb.o"])
    func callsPointAtFunctionStarts(file: String) throws {
        let spec = try Self.fixture(file)
        for program in try spec.linkedPrograms() {
            let starts = Dictionary(uniqueKeysWithValues: program.functions.map { ($0.startSlot, $0.name) })
            for call in program.calls {
                let instruction = program.instructions[call.slot]
                #expect(call.targetSlot == call.slot + 1 + Int(instruction.imm))
                #expect(starts[call.targetSlot] == call.callee)
                #expect(program.function(containing: call.slot)?.name == call.caller)
                switch call.kind {
                case .call:
                    #expect(instruction.isFunctionCall)
                case .callback:
                    #expect(instruction.isLoadImm64)
                    #expect(instruction.src == LoadImm64Source.bpfFunction.rawValue, "callback loads become BPF_PSEUDO_FUNC")
                    #expect(call.isRelocated)
                }
            }
        }
        let byName = Dictionary(uniqueKeysWithValues: try spec.linkedPrograms().map { ($0.name, $0) })
        // Static calls within .text carry no relocation: shared_helper → add_static, mul_add → add_static.
        let tc = try #require(byName["check_tc_subprogs"])
        #expect(tc.calls.map(\.callee) == ["global_ctx_len", "shared_helper", "global_square", "add_static"])
        #expect(tc.calls.map(\.isRelocated) == [true, true, true, false])
        let loop = try #require(byName["check_loop"])
        #expect(loop.calls.map(\.kind) == [.callback, .callback])
        #expect(loop.calls.map(\.callee) == ["sum_callback", "stop_at_five"])
        let direct = try #require(byName["check_subprogs"])
        #expect(direct.calls.filter { $0.callee == "add_static" }.count == 3, "from check_subprogs, mul_add and shared_helper")
    }

    /// The exact streams libbpf 1.1.2 produced for subprogs.o (`call` imms at their final slots).
    @Test func subprogsCallImmediatesMatchLibbpf() throws {
        let byName = Dictionary(uniqueKeysWithValues: try Self.fixture("subprogs.o").linkedPrograms().map { ($0.name, $0) })
        func calls(_ name: String) -> [[Int]] {
            guard let program = byName[name] else { return [] }
            return program.calls.filter { $0.kind == .call }.map { [$0.slot, Int(program.instructions[$0.slot].imm)] }
        }
        #expect(byName["check_subprogs"]?.instructions.count == 39)
        #expect(calls("check_subprogs") == [[2, 22], [9, 18], [14, 18], [19, 16], [31, -7], [37, -13]])
        #expect(byName["check_tc_subprogs"]?.instructions.count == 31)
        #expect(calls("check_tc_subprogs") == [[1, 16], [7, 14], [12, 15], [23, 1]])
        #expect(byName["check_raw_tp_subprogs"]?.instructions.count == 25)
        #expect(calls("check_raw_tp_subprogs") == [[3, 10], [8, 13], [17, 1], [23, -5]])
        #expect(byName["check_loop"]?.instructions.count == 62)
    }

    @Test(arguments: ["subprogs.o", "subprogs.bpfeb.o"])
    func btfExtRecordsAreRebased(file: String) throws {
        let spec = try Self.fixture(file)
        let btf = try #require(spec.btf)
        for program in try spec.linkedPrograms() {
            // One func_info per function, at its start, naming its BTF FUNC: what the kernel requires.
            #expect(program.functionInfo.map(\.slot) == program.functions.map(\.startSlot))
            #expect(try program.functionInfo.map { try btf.name(of: $0.typeID) } == program.functions.map(\.name))
            #expect(program.lineInfo.map(\.slot) == program.lineInfo.map(\.slot).sorted())
            #expect(!program.lineInfo.isEmpty)
            for function in program.functions {
                let source = try #require(spec.functions.first { $0.name == function.name })
                let moved = program.lineInfo.filter { function.slots.contains($0.slot) }
                #expect(moved.map { $0.slot - function.startSlot } == source.lineInfo.map(\.slot).sorted())
                #expect(moved.map(\.line) == source.lineInfo.sorted { $0.slot < $1.slot }.map(\.line))
            }
            #expect(program.notes.isEmpty)
        }
    }

    @Test func relocationsMoveWithTheirFunction() throws {
        let spec = try Self.fixture("subprogs.o")
        let loop = try #require(try spec.linkedPrograms().first { $0.name == "check_loop" })
        let callback = try #require(loop.functions.first { $0.name == "sum_callback" })
        let source = try #require(spec.subprograms.first { $0.name == "sum_callback" })
        let moved = loop.relocations.filter { $0.function == "sum_callback" }
        #expect(moved.map(\.slot) == source.relocations.map { $0.slot + callback.startSlot })
        #expect(moved.map(\.relocation) == source.relocations)
        #expect(moved.allSatisfy { $0.targetSlot == nil }, "data relocations have no call target")
        let callbacks = loop.relocations.filter { $0.relocation.kindName == "callback" }
        #expect(callbacks.map(\.targetSlot) == loop.functions.dropFirst().map(\.startSlot))
        #expect(loop.relocations.map(\.slot) == loop.relocations.map(\.slot).sorted())
    }

    @Test func coreRecordsCarryTheirFinalSlot() throws {
        let spec = try Self.fixture("core.o")
        for program in try spec.linkedPrograms() {
            var expected: [LinkedCoreRelocation] = []
            for function in program.functions {
                let source = try #require(spec.functions.first { $0.name == function.name })
                expected += source.coreRelocations.sorted { $0.slot < $1.slot }.map {
                    LinkedCoreRelocation(record: $0, function: function.name, slot: function.startSlot + $0.slot)
                }
            }
            #expect(program.coreRelocations == expected)
        }
        #expect(try spec.linkedPrograms().contains { !$0.coreRelocations.isEmpty })
    }

    @Test func linkingLeavesTheSpecAlone() throws {
        let spec = try Self.fixture("subprogs.o")
        let before = spec.functions.map(\.instructions)
        _ = try spec.linkedPrograms()
        #expect(spec.functions.map(\.instructions) == before)
        // The callback loads stay as in the file in the spec (src 0); only the linked copy is marked.
        let program = try #require(spec.program(named: "check_loop"))
        let loads = program.function.relocations.filter { $0.kindName == "callback" }.map { program.instructions[$0.slot] }
        #expect(loads.allSatisfy { $0.src == 0 })
    }

    @Test func autoloadDecidesWhatIsLinkedByDefault() throws {
        var spec = try Self.fixture("subprogs.o")
        spec.programs[1].autoload = false
        #expect(try spec.linkedPrograms().map(\.name) == ["check_subprogs", "check_tc_subprogs", "check_raw_tp_subprogs"])
        #expect(try spec.linkedPrograms(includingDisabled: true).count == 4)
    }

    /// Patched instructions in the spec (what the CO-RE step does to a copy) are what gets linked.
    @Test func linksTheInstructionsStoredInTheSpec() throws {
        var spec = try Self.fixture("subprogs.o")
        let index = try #require(spec.subprograms.firstIndex { $0.name == "add_static" })
        spec.subprograms[index].instructions[0] = .move(dst: 0, imm: 1234)
        let linked = try spec.link(try #require(spec.program(named: "check_subprogs")))
        let add = try #require(linked.functions.first { $0.name == "add_static" })
        #expect(linked.instructions[add.startSlot] == .move(dst: 0, imm: 1234))
    }

    // MARK: Every object we have

    static var allObjects: [String] { TestPaths.fixtureObjects + TestPaths.ciliumObjects() }

    /// Every program of every object links, and the result holds together. Objects our parser refuses
    /// (as libbpf refuses them: static entry programs, NOTYPE functions of clang 7) are skipped.
    @Test(arguments: allObjects)
    func everyProgramLinksWithSoundStructure(path: String) throws {
        guard let spec = try? ObjectSpec(contentsOf: path) else { return }
        let linked = try spec.linkedPrograms(includingDisabled: true)
        #expect(linked.count == spec.programs.count)
        for program in linked {
            try Self.checkInvariants(program, spec: spec, path: path)
        }
    }

    static func checkInvariants(_ program: LinkedProgram, spec: ObjectSpec, path: String) throws {
        let label = "\(path) \(program.name)"
        let sources = try program.functions.map { function in
            try #require(function.isEntry ? spec.program(named: function.name)?.function
                                          : spec.subprograms.first { $0.name == function.name && $0.sectionSlot == function.sectionSlot },
                         "\(label): \(function.name) comes from the spec")
        }
        // Layout: contiguous from 0, the entry first, each function once.
        #expect(program.functions.first?.name == program.name, "\(label)")
        #expect(program.functions.filter(\.isEntry).count == 1)
        #expect(Set(program.functions.map { [$0.sectionIndex, $0.sectionSlot] }).count == program.functions.count, "\(label): appended once")
        var next = 0
        for (function, source) in zip(program.functions, sources) {
            #expect(function.startSlot == next, "\(label)")
            #expect(function.slotCount == source.instructions.count)
            next += function.slotCount
        }
        #expect(program.instructions.count == next, "\(label): instruction count is the sum of the functions'")
        #expect(program.instructions.count <= LinkedProgram.maximumInstructionCount)

        // Calls: every BPF_PSEUDO_CALL (other than kfunc calls) and BPF_PSEUDO_FUNC lands on a function start.
        let starts = Dictionary(uniqueKeysWithValues: program.functions.map { ($0.startSlot, $0.name) })
        let kfuncSlots = Set(program.relocations.filter { $0.relocation.kindName == "kfunc" }.map(\.slot))
        var callSlots = Set<Int>()
        var slot = 0
        while slot < program.instructions.count {
            let instruction = program.instructions[slot]
            if (instruction.isFunctionCall && !kfuncSlots.contains(slot)) || instruction.isFunctionReference {
                let target = slot + 1 + Int(instruction.imm)
                #expect(starts[target] != nil, "\(label): instruction \(slot) targets \(target), not a function start")
                callSlots.insert(slot)
            }
            slot += instruction.isLoadImm64 ? 2 : 1
        }
        #expect(Set(program.calls.map(\.slot)) == callSlots, "\(label): every call is reported")
        // Every appended function is reached by some call or callback of the stream.
        let reached = Set(program.calls.map(\.targetSlot))
        for function in program.functions.dropFirst() {
            #expect(reached.contains(function.startSlot), "\(label): \(function.name) is appended but never called")
        }
        // Code is copied unchanged except the call and callback immediates (and the callback source).
        for (function, source) in zip(program.functions, sources) {
            for (offset, original) in source.instructions.enumerated() {
                var copied = program.instructions[function.startSlot + offset]
                if callSlots.contains(function.startSlot + offset) {
                    copied.imm = original.imm
                    copied.src = original.src
                }
                #expect(copied == original, "\(label): \(function.name) slot \(offset)")
            }
        }

        // func_info: one per function (objects with BTF), sorted, the entry's at 0.
        if !program.functionInfo.isEmpty {
            #expect(program.functionInfo.count == program.functions.count, "\(label): func_info count = function count")
            #expect(program.functionInfo.first?.slot == 0)
            #expect(program.functionInfo.map(\.slot) == program.functions.map(\.startSlot))
        }
        #expect(program.lineInfo.map(\.slot) == program.lineInfo.map(\.slot).sorted(), "\(label): line_info sorted")
        #expect(program.lineInfo.allSatisfy { $0.slot >= 0 && $0.slot < program.instructions.count })
        if !program.lineInfo.isEmpty {
            #expect(program.lineInfo.count == sources.map(\.lineInfo.count).reduce(0, +))
        }

        // Relocations and CO-RE records: all of them, each inside its function, in slot order.
        #expect(program.relocations.count == sources.map(\.relocations.count).reduce(0, +))
        #expect(program.coreRelocations.count == sources.map(\.coreRelocations.count).reduce(0, +))
        for relocation in program.relocations {
            #expect(program.function(containing: relocation.slot)?.name == relocation.function)
            switch relocation.relocation.target {
            case .call, .callback:
                #expect(relocation.targetSlot.flatMap { starts[$0] } != nil, "\(label): relocated call has its final target")
            default:
                #expect(relocation.targetSlot == nil)
            }
        }
        #expect(program.relocations.map(\.slot) == program.relocations.map(\.slot).sorted())
        for record in program.coreRelocations {
            #expect(program.function(containing: record.slot)?.name == record.function)
        }
    }

    // MARK: libbpf as an oracle

    /// libbpf 1.1 links every autoloaded program in its light-skeleton mode (no kernel involved, CO-RE
    /// recorded, not applied): the streams must match slot for slot, except the fields of instructions
    /// that carry data relocations (maps, globals, externs, kfuncs), which libbpf fills in its own way.
    @Test(arguments: allObjects.filter { !$0.contains("bpfeb") && !$0.hasSuffix("-eb.elf") })
    func streamsMatchLibbpf(path: String) throws {
        let oracle = try LinkOracle.executable()
        let result = try Tool.run(oracle, [path])
        guard result.status == 0 else {
            // 2: libbpf refuses the object at open (legacy maps, static entry programs, unknown externs);
            // nothing to compare.
            #expect(result.status == 2, "\(path): libbpf oracle: \(result.stderr)")
            return
        }
        try Self.compare(try ObjectSpec(contentsOf: path), with: try LinkOracle.parse(result.stdout), path: path)
    }

    /// Our linked streams against libbpf's, slot for slot.
    static func compare(_ spec: ObjectSpec, with expected: [LinkOracle.Program], path: String,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let linked = try spec.linkedPrograms()
        #expect(linked.map(\.name) == expected.map(\.name), "\(path)", sourceLocation: sourceLocation)
        for (ours, theirs) in zip(linked, expected) {
            let label = "\(path) \(ours.name)"
            #expect(ours.instructions.count == theirs.instructions.count, "\(label): instruction count",
                    sourceLocation: sourceLocation)
            guard ours.instructions.count == theirs.instructions.count else { continue }
            var dataSlots = Set<Int>()
            for relocation in ours.relocations {
                switch relocation.relocation.target {
                case .call, .callback: continue
                default:
                    dataSlots.insert(relocation.slot)
                    if ours.instructions[relocation.slot].isLoadImm64 { dataSlots.insert(relocation.slot + 1) }
                }
            }
            var mismatches: [String] = []
            for (slot, (mine, libbpf)) in zip(ours.instructions, theirs.instructions).enumerated() {
                let same = dataSlots.contains(slot) ? mine.opcode == libbpf.opcode && mine.dst == libbpf.dst : mine == libbpf
                if !same { mismatches.append("slot \(slot): ours \(mine), libbpf \(libbpf)") }
            }
            #expect(mismatches.isEmpty, "\(label): \(mismatches.count) slots differ, first: \(mismatches.prefix(3))",
                    sourceLocation: sourceLocation)
        }
    }

    /// Random call graphs compiled with clang, linked by us and by libbpf: static and global functions,
    /// shared callees, self-recursion, `bpf_loop` callbacks in entry programs and subprograms, several
    /// entry programs per section and a `?` section. Deterministic: each seed gives the same C source.
    @Test(arguments: 0..<16)
    func randomCallGraphsMatchLibbpf(seed: Int) throws {
        let clang = ProcessInfo.processInfo.environment["CLANG"] ?? "/opt/swift/usr/bin/clang"
        try require(FileManager.default.isExecutableFile(atPath: clang), "clang for the BPF target (\(clang)); set CLANG")
        let oracle = try LinkOracle.executable()
        let directory = NSTemporaryDirectory() + "/swift-load-linker-\(getpid())-\(seed)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = directory + "/graph.bpf.c", object = directory + "/graph.o"
        let text = CallGraphSource.make(seed: UInt64(seed))
        try text.write(toFile: source, atomically: true, encoding: .utf8)
        let compiled = try Tool.run(clang, ["-g", "-O2", "-target", "bpfel", "-mcpu=v3", "-c", source, "-o", object,
                                            "-I/usr/include/x86_64-linux-gnu", "-I/usr/include/aarch64-linux-gnu"])
        try #require(compiled.status == 0, "clang: \(compiled.stderr)\n\(text)")
        let result = try Tool.run(oracle, [object])
        try #require(result.status == 0, "libbpf oracle: \(result.stderr)")
        let spec = try ObjectSpec(contentsOf: object)
        #expect(spec.subprograms.count > 2, "the graph has subprograms")
        try Self.compare(spec, with: try LinkOracle.parse(result.stdout), path: "seed \(seed)")
        for program in try spec.linkedPrograms(includingDisabled: true) {
            try Self.checkInvariants(program, spec: spec, path: "seed \(seed)")
        }
    }

    // MARK: Hostile specs

    static func subprogs() throws -> ObjectSpec { try fixture("subprogs.o") }

    static func expectLinkError(_ spec: ObjectSpec, program: String, containing parts: [String],
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let entry = try #require(spec.program(named: program), sourceLocation: sourceLocation)
        do {
            _ = try spec.link(entry)
            Issue.record("linking \(program) succeeded", sourceLocation: sourceLocation)
        } catch {
            for part in parts {
                #expect(error.description.contains(part), "\(error)", sourceLocation: sourceLocation)
            }
        }
    }

    /// The slot of mul_add's pc-relative call of add_static.
    static func mulAddCall(_ spec: ObjectSpec) throws -> (function: Int, slot: Int) {
        let index = try #require(spec.subprograms.firstIndex { $0.name == "mul_add" })
        let slot = try #require(spec.subprograms[index].instructions.firstIndex { $0.isFunctionCall })
        return (index, slot)
    }

    @Test func callIntoTheMiddleOfAFunction() throws {
        var spec = try Self.subprogs()
        let (index, slot) = try Self.mulAddCall(spec)
        spec.subprograms[index].instructions[slot].imm += 1
        try Self.expectLinkError(spec, program: "check_raw_tp_subprogs",
                                 containing: ["check_raw_tp_subprogs", "mul_add", "1 slot into function 'add_static'", "imm -6"])
    }

    @Test func callOutsideEveryFunction() throws {
        var spec = try Self.subprogs()
        let (index, slot) = try Self.mulAddCall(spec)
        spec.subprograms[index].instructions[slot].imm = 100_000
        try Self.expectLinkError(spec, program: "check_subprogs", containing: ["outside every function", "mul_add"])
        spec.subprograms[index].instructions[slot].imm = Int32.min
        try Self.expectLinkError(spec, program: "check_subprogs", containing: ["outside every function"])
    }

    @Test func callOfAnEntryProgram() throws {
        var spec = try Self.subprogs()
        let tc = try #require(spec.programs.firstIndex { $0.name == "check_tc_subprogs" })
        spec.programs[tc].function.relocations[0].target = .call(section: "xdp", slot: 0, function: "check_subprogs")
        try Self.expectLinkError(spec, program: "check_tc_subprogs",
                                 containing: ["entry program 'check_subprogs'", "section 'xdp'"])
    }

    @Test func pseudoFunctionWithoutRelocation() throws {
        var spec = try Self.subprogs()
        let index = try #require(spec.subprograms.firstIndex { $0.name == "sum_callback" })
        let load = try #require(spec.subprograms[index].instructions.firstIndex { $0.isLoadImm64 })
        spec.subprograms[index].relocations.removeAll { $0.slot == load }
        spec.subprograms[index].instructions[load].src = LoadImm64Source.bpfFunction.rawValue
        try Self.expectLinkError(spec, program: "check_loop", containing: ["BPF_PSEUDO_FUNC without a relocation", "sum_callback"])
    }

    @Test func subprogramWithoutFunctionInfo() throws {
        var spec = try Self.subprogs()
        let index = try #require(spec.subprograms.firstIndex { $0.name == "add_static" })
        spec.subprograms[index].functionInfo = []
        try Self.expectLinkError(spec, program: "check_subprogs", containing: ["'add_static' has no .BTF.ext func_info"])
        // Programs that do not reach add_static are unaffected.
        #expect(throws: Never.self) { try spec.link(try #require(spec.program(named: "check_loop"))) }
    }

    @Test func entryWithoutFunctionInfoDropsAll() throws {
        var spec = try Self.subprogs()
        spec.programs[0].function.functionInfo = []
        spec.programs[0].function.lineInfo = []
        let linked = try spec.link(spec.programs[0])
        #expect(linked.functionInfo.isEmpty && linked.lineInfo.isEmpty)
        #expect(linked.notes.count == 2)
        #expect(linked.notes.allSatisfy { $0.contains("dropped") })
    }

    @Test func recursiveSubprogramIsAppendedOnce() throws {
        var spec = try Self.subprogs()
        let (index, slot) = try Self.mulAddCall(spec)
        // mul_add calls itself instead of add_static.
        spec.subprograms[index].instructions[slot].imm = Int32(-(slot + 1))
        let linked = try spec.link(try #require(spec.program(named: "check_raw_tp_subprogs")))
        #expect(linked.functions.map(\.name) == ["check_raw_tp_subprogs", "mul_add", "shared_helper", "add_static"])
        let mulAdd = try #require(linked.functions.first { $0.name == "mul_add" })
        #expect(linked.instructions[mulAdd.startSlot + slot].imm == Int32(-(slot + 1)))
    }

    /// Random calls and function loads planted in the fixture's code, with random targets: linking either
    /// succeeds with every call on a function start or fails with an error; it never traps.
    @Test func corruptedCallsFailCleanly() throws {
        let original = try Self.subprogs()
        var random = CallGraphSource.Generator(state: 42)
        var failures = 0
        for _ in 0..<300 {
            var spec = original
            for _ in 0..<(1 + random.below(3)) {
                let inText = random.chance(50)
                let count = inText ? spec.subprograms.count : spec.programs.count
                let function = random.below(count)
                let size = inText ? spec.subprograms[function].instructions.count : spec.programs[function].instructions.count
                let slot = random.below(size)
                let imm = random.chance(50) ? Int32(truncatingIfNeeded: random.next()) : Int32(random.below(80)) - 40
                let planted = random.chance(70) ? Self.pseudoCall(imm)
                    : Instruction(opcode: .loadImm64, src: LoadImm64Source.bpfFunction.rawValue, imm: imm)
                if inText { spec.subprograms[function].instructions[slot] = planted } else { spec.programs[function].function.instructions[slot] = planted }
            }
            for program in spec.programs {
                guard let linked = try? spec.link(program) else {
                    failures += 1
                    continue
                }
                let starts = Set(linked.functions.map(\.startSlot))
                #expect(linked.calls.allSatisfy { starts.contains($0.targetSlot) })
            }
        }
        #expect(failures > 0, "some corruptions are refused")
    }

    /// A synthetic object: `entry` in section `xdp` and `.text` functions given as instruction arrays.
    static func synthetic(entry: [Instruction], text: [(name: String, code: [Instruction], global: Bool)],
                          btf: TypeGraph? = nil) -> ObjectSpec {
        let function = FunctionSpec(name: "entry", sectionName: "xdp", sectionIndex: 3, sectionSlot: 0,
                                    instructions: entry, isGlobal: true, relocations: [], coreRelocations: [],
                                    functionInfo: [], lineInfo: [])
        let program = ProgramSpec(function: function, sectionName: "xdp", type: .xdp, expectedAttachType: nil,
                                  isSleepable: false, autoload: true, attachTarget: nil, section: nil)
        var subprograms: [FunctionSpec] = []
        var slot = 0
        for item in text {
            subprograms.append(FunctionSpec(name: item.name, sectionName: ".text", sectionIndex: 2, sectionSlot: slot,
                                            instructions: item.code, isGlobal: item.global, relocations: [],
                                            coreRelocations: [], functionInfo: [], lineInfo: []))
            slot += item.code.count
        }
        return ObjectSpec(name: "synthetic", byteOrder: .little, license: "GPL", kernelVersion: 0,
                          programs: [program], subprograms: subprograms, maps: [], variables: [], externs: [],
                          btf: btf, notes: [])
    }

    static func pseudoCall(_ imm: Int32) -> Instruction {
        Instruction(opcode: .call, src: CallKind.bpfFunction.rawValue, imm: imm)
    }

    /// 20,000 functions each calling the next: linked without recursion, in chain order.
    @Test func longCallChainsDoNotRecurse() throws {
        let count = 20_000
        var text: [(name: String, code: [Instruction], global: Bool)] = []
        for index in 0..<count {
            // [call next, exit]: the next function starts 2 slots on, so imm = +1; the last only exits.
            let code: [Instruction] = index + 1 < count ? [Self.pseudoCall(1), .exit] : [.exit]
            text.append(("f\(index)", code, false))
        }
        var spec = Self.synthetic(entry: [.exit], text: text)
        // The entry calls f0 through a relocation, as clang emits cross-section calls.
        spec.programs[0].function.instructions = [Self.pseudoCall(-1), .exit]
        spec.programs[0].function.relocations = [RelocationSpec(slot: 0, elfType: 10, symbol: ".text",
                                                                target: .call(section: ".text", slot: 0, function: "f0"))]
        let linked = try spec.link(spec.programs[0])
        #expect(linked.functions.count == count + 1)
        #expect(linked.functions.last?.name == "f\(count - 1)")
        #expect(linked.calls.count == count)
    }

    @Test func instructionLimit() throws {
        let big = [Instruction](repeating: .move(dst: 0, imm: 0), count: 600_000)
        var spec = Self.synthetic(entry: [Self.pseudoCall(-1), Self.pseudoCall(-1), .exit],
                                  text: [("a", big + [.exit], true), ("b", big + [.exit], true)])
        spec.programs[0].function.relocations = [
            RelocationSpec(slot: 0, elfType: 10, symbol: "a", target: .call(section: ".text", slot: 0, function: "a")),
            RelocationSpec(slot: 1, elfType: 10, symbol: "b", target: .call(section: ".text", slot: 600_001, function: "b")),
        ]
        try Self.expectLinkError(spec, program: "entry", containing: ["'b'", "1000000"])
        // One of them alone fits.
        spec.programs[0].function.relocations.removeLast()
        spec.programs[0].function.instructions[1] = .move(dst: 0, imm: 0)
        #expect(try spec.link(spec.programs[0]).instructions.count == 600_004)

        let huge = Self.synthetic(entry: [Instruction](repeating: .exit, count: 1_000_001), text: [])
        try Self.expectLinkError(huge, program: "entry", containing: ["1000001 instructions"])
    }

    // MARK: Exception callbacks

    /// BTF with FUNCs `entry` and `handler` (global) and a `exception_callback:<callback>` tag on `entry`.
    static func exceptionBTF(callback: String, tagCount: Int = 1) throws -> TypeGraph {
        var strings: [UInt8] = [0]
        func add(_ text: String) -> UInt32 {
            let offset = UInt32(strings.count)
            strings += Array(text.utf8) + [0]
            return offset
        }
        var types: [UInt32] = []
        func type(_ name: UInt32, kind: UInt32, vlen: UInt32, _ sizeOrType: UInt32, _ tail: [UInt32] = []) {
            types += [name, kind << 24 | vlen, sizeOrType] + tail
        }
        type(add("int"), kind: 1, vlen: 0, 4, [32])                // [1] int
        type(0, kind: 13, vlen: 0, 1)                               // [2] int (void)
        type(add("entry"), kind: 12, vlen: 1, 2)                    // [3] global FUNC entry
        type(add("handler"), kind: 12, vlen: 1, 2)                  // [4] global FUNC handler
        for _ in 0..<tagCount {
            type(add("exception_callback:" + callback), kind: 17, vlen: 0, 3, [UInt32(bitPattern: -1)])
        }
        var bytes: [UInt8] = []
        func u32(_ value: UInt32) { bytes += [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: value >> $0) } }
        bytes += [0x9f, 0xeb, 1, 0]
        u32(24)
        u32(0)
        u32(UInt32(types.count * 4))
        u32(UInt32(types.count * 4))
        u32(UInt32(strings.count))
        for word in types { u32(word) }
        bytes += strings
        return try TypeGraph(data: ByteStorage(bytes).view(order: .little))
    }

    @Test func exceptionCallbackIsAppendedLast() throws {
        let text: [(name: String, code: [Instruction], global: Bool)] = [("helper", [.exit], false), ("handler", [.exit], true)]
        var spec = Self.synthetic(entry: [Self.pseudoCall(-1), .exit], text: text, btf: try Self.exceptionBTF(callback: "handler"))
        spec.programs[0].function.relocations = [RelocationSpec(
            slot: 0, elfType: 10, symbol: ".text", target: .call(section: ".text", slot: 0, function: "helper"))]
        let linked = try spec.link(spec.programs[0])
        #expect(linked.functions.map(\.name) == ["entry", "helper", "handler"])

        // Called directly: not appended a second time.
        spec.programs[0].function.relocations[0].target = .call(section: ".text", slot: 1, function: "handler")
        #expect(try spec.link(spec.programs[0]).functions.map(\.name) == ["entry", "handler"])

        // Two tags on one program: libbpf appends nothing (the verifier refuses).
        spec.btf = try Self.exceptionBTF(callback: "handler", tagCount: 2)
        spec.programs[0].function.relocations = []
        spec.programs[0].function.instructions = [.exit]
        #expect(try spec.link(spec.programs[0]).functions.map(\.name) == ["entry"])

        spec.btf = try Self.exceptionBTF(callback: "missing")
        try Self.expectLinkError(spec, program: "entry", containing: ["exception callback 'missing'"])
        spec.btf = try Self.exceptionBTF(callback: "helper")
        try Self.expectLinkError(spec, program: "entry", containing: ["must be a global"])
    }
}

/// `Tests/Oracles/libbpf_linked.c`, compiled once against the system libbpf.
enum LinkOracle {
    private static let build = CHarness(label: "libbpf link oracle", source: "libbpf_linked.c",
                                        linkFlags: ["-lbpf", "-lelf", "-lz"], requirements: [CHarness.libbpfHeaders])

    /// The compiled oracle; skips the test when a compiler or libbpf is missing (fails under
    /// `SWIFT_LOAD_REQUIRE_KERNEL=1`), fails it when the harness does not compile.
    static func executable(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try build.executable(sourceLocation: sourceLocation)
    }

    struct Program {
        var name: String
        var instructions: [Instruction]
    }

    /// `program NAME COUNT` headers, each followed by `code dst src off imm` lines.
    static func parse(_ text: String) throws -> [Program] {
        var programs: [Program] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.first == "program", fields.count == 3 {
                programs.append(Program(name: String(fields[1]), instructions: []))
                continue
            }
            guard fields.count == 5, !programs.isEmpty,
                  let code = UInt8(fields[0]), let dst = UInt8(fields[1]), let src = UInt8(fields[2]),
                  let offset = Int16(fields[3]), let imm = Int32(fields[4]) else {
                throw CHarness.Unavailable(isMissingTool: false, reason: "unexpected oracle line: \(line)")
            }
            programs[programs.count - 1].instructions.append(
                Instruction(opcode: Opcode(code), dst: dst, src: src, offset: offset, imm: imm))
        }
        return programs
    }
}

/// C source of a random BPF call graph for the linker's differential test.
enum CallGraphSource {
    /// SplitMix64: a small deterministic generator, so a failing seed can be reproduced.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    static func make(seed: UInt64) -> String {
        var random = Generator(state: seed &* 7919 &+ 1)
        let functionCount = 4 + random.below(9)
        let callbackCount = random.below(4)
        let isGlobal = (0..<functionCount).map { _ in random.chance(50) }
        var text = """
            #include <linux/types.h>
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>

            """
        for index in 0..<functionCount {
            text += (isGlobal[index] ? "" : "static ") + "__noinline int f\(index)(int x);\n"
        }
        for index in 0..<callbackCount { text += "static long cb\(index)(__u32 index, void *ctx);\n" }
        func calls(from lower: Int, count: Int) -> String {
            var body = ""
            for _ in 0..<count where lower < functionCount {
                let callee = lower + random.below(functionCount - lower)
                body += "\tr ^= f\(callee)(r + \(random.below(100)));\n"
            }
            if callbackCount > 0, random.chance(30) {
                body += "\tr += bpf_loop(3, cb\(random.below(callbackCount)), 0, 0);\n"
            }
            return body
        }
        for index in 0..<functionCount {
            text += (isGlobal[index] ? "" : "static ") + "__noinline int f\(index)(int x)\n{\n\tint r = x * \(index + 3);\n"
            text += calls(from: index + 1, count: random.below(4))
            if random.chance(15) { text += "\tif (x > 100000)\n\t\tr += f\(index)(x - 1);\n" }
            text += "\treturn r;\n}\n"
        }
        for index in 0..<callbackCount {
            text += "static long cb\(index)(__u32 index, void *ctx)\n{\n\treturn f\(random.below(functionCount))(index) & 1;\n}\n"
        }
        let sections = ["xdp", "tc", "raw_tp/sys_enter", "?xdp", "socket"]
        for index in 0..<(2 + random.below(5)) {
            text += "SEC(\"\(sections[random.below(sections.count)])\")\nint entry\(index)(void *ctx)\n{\n\tint r = (int)(long)ctx;\n"
            text += calls(from: 0, count: 1 + random.below(3))
            text += "\treturn r;\n}\n"
        }
        text += "char LICENSE[] SEC(\"license\") = \"GPL\";\n"
        return text
    }
}
