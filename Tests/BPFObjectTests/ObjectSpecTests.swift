import BTF
import ByteParsing
import Testing
import TestSupport
@testable import BPFObject

/// The object model on our fixtures (see bpf-src/README.md for what each one declares).
@Suite struct ObjectSpecTests {
    static func fixture(_ name: String) throws -> ObjectSpec {
        try ObjectSpec(contentsOf: TestPaths.fixtures + "/" + name)
    }

    @Test(arguments: TestPaths.fixtureObjects)
    func everyFixtureParses(path: String) throws {
        let spec = try ObjectSpec(contentsOf: path)
        #expect(!spec.programs.isEmpty, "\(path) has programs")
        for program in spec.programs {
            #expect(!program.instructions.isEmpty)
            #expect(program.type.name != nil, "\(program.name): known program type")
        }
        for function in spec.functions {
            for relocation in function.relocations {
                #expect(relocation.slot >= 0 && relocation.slot < function.instructions.count)
            }
        }
    }

    @Test func objectNameFromPath() {
        #expect(ObjectSpec.objectName(fromPath: "/a/b.d/hello.bpf.o") == "hello")
        #expect(ObjectSpec.objectName(fromPath: "hello.o") == "hello")
        #expect(ObjectSpec.objectName(fromPath: "dir.x/prog") == "prog")
        #expect(ObjectSpec.objectName(fromPath: "é/ñame.o") == "ñame")
        #expect(ObjectSpec.objectName(fromPath: "") == "")
    }

    @Test func hello() throws {
        let spec = try Self.fixture("hello.o")
        #expect(spec.name == "hello")
        #expect(spec.license == "GPL")
        let program = try #require(spec.program(named: "hello"))
        #expect(program.type == .tracepoint)
        #expect(program.autoload)
        #expect(program.attachTarget == .tracepoint(category: "syscalls", name: "sys_enter_execve"))
        #expect(spec.maps.map(\.name).contains(".rodata"))
        #expect(spec.map(named: ".rodata")?.kernelName == "hello.rodata")
    }

    @Test func execCounter() throws {
        let map = try #require(try Self.fixture("execcount.o").map(named: "exec_counts"))
        #expect(map.type == .hash)
        #expect((map.keySize, map.valueSize, map.maxEntries) == (64, 8, 128))
        #expect(map.keyTypeID != 0 && map.valueTypeID != 0)
        #expect(map.origin == .btf)
    }

    @Test func legacyMaps() throws {
        let spec = try Self.fixture("legacy_sockex.o")
        let bytes = try #require(spec.map(named: "proto_bytes"))
        #expect(bytes.type == .array)
        #expect((bytes.keySize, bytes.valueSize, bytes.maxEntries) == (4, 8, 256))
        #expect(bytes.origin == .legacy(extraFields: []))
        #expect(spec.kernelVersion != 0)
        let program = try #require(spec.program(named: "count_proto_bytes"))
        #expect(program.type == .socketFilter)
        #expect(program.function.relocations.contains { $0.target == .map(name: "proto_bytes") })

        let iproute = try Self.fixture("legacy_iproute2.o")
        let marks = try #require(iproute.map(named: "cls_marks"))
        #expect(marks.flags == MapFlag.noPrealloc)
        #expect(marks.origin == .legacy(extraFields: [2, 0, 0, 0]))
        #expect(iproute.map(named: "cls_counter")?.origin == .legacy(extraFields: [1, 0, 0, 0]))
    }

    @Test func ringAndPerfBuffers() throws {
        let spec = try Self.fixture("events.o")
        let ring = try #require(spec.map(named: "rb"))
        #expect(ring.type == .ringbuf)
        #expect(ring.maxEntries == 256 * 1024)
        let perf = try #require(spec.map(named: "perf_events"))
        #expect(perf.type == .perfEventArray)
        #expect(perf.maxEntries == 0)
        #expect((perf.keySize, perf.valueSize) == (4, 4))
        let strings = try #require(spec.map(named: ".rodata.str1.1"))
        #expect(strings.kernelName == ".rodata.str1.1")
        #expect(strings.isReadOnlyForPrograms)
    }

    @Test func coreAndKconfig() throws {
        let spec = try Self.fixture("core.o")
        let kinds = Set(spec.functions.flatMap { $0.coreRelocations.map(\.kind) })
        #expect(kinds == Set(0...12), "all 13 CO-RE kinds")
        let externs = Dictionary(uniqueKeysWithValues: spec.externs.map { ($0.name, $0) })
        #expect(externs["LINUX_KERNEL_VERSION"]?.kind.description == "kconfig")
        #expect(externs["CONFIG_HZ"] != nil)
        #expect(externs["CONFIG_SWIFT_LOAD_NOT_A_CONFIG"]?.isWeak == true)
        let kconfig = try #require(spec.map(named: ".kconfig"))
        #expect(kconfig.origin == .kconfig)
        #expect(kconfig.isReadOnlyForPrograms)
        // Every kconfig extern lies inside the map, none overlap.
        var ranges: [Range<UInt32>] = []
        for extern in spec.externs {
            guard case .kconfig(let offset, let size, _) = extern.kind else { continue }
            #expect(offset + size <= kconfig.valueSize)
            #expect(!ranges.contains { $0.overlaps(offset..<(offset + size)) })
            ranges.append(offset..<(offset + size))
        }
        let relocated = spec.functions.flatMap(\.relocations).filter { $0.kindName == "extern" }
        #expect(!relocated.isEmpty)
    }

    @Test func globals() throws {
        var spec = try Self.fixture("globals.o")
        #expect(Set(spec.maps.filter(\.isInternal).map(\.name)) == [".rodata", ".data", ".bss", ".rodata.str1.1"])
        #expect(spec.map(named: ".rodata")?.kernelName == "globals.rodata")
        #expect(spec.map(named: ".bss")?.kernelName == "globals.bss")
        let rodata = try #require(spec.map(named: ".rodata"))
        #expect(rodata.flags & MapFlag.readOnlyForPrograms != 0)
        #expect(rodata.flags & MapFlag.mmapable != 0)
        let knob = try #require(spec.variable(named: "knob_u32"))
        #expect(knob.isReadOnly && knob.size == 4)

        try spec.setVariable("knob_u32", to: .integer(0xdead_beef))
        let image = try #require(spec.map(named: ".rodata")?.initialValue)
        #expect(Array(image[Int(knob.offset)..<Int(knob.offset) + 4]) == [0xef, 0xbe, 0xad, 0xde])
        #expect(throws: ObjectError.self) { try spec.setVariable("knob_u32", to: .integer(1 << 32)) }
        #expect(throws: ObjectError.self) { try spec.setVariable("knob_u32", to: .integer(-1)) }
        #expect(throws: ObjectError.self) { try spec.setVariable("no_such_knob", to: .integer(1)) }
        try spec.setVariable("knob_name", to: .string("swift"))
        #expect(throws: ObjectError.self) { try spec.setVariable("knob_name", to: .string("far too long")) }

        let program = try #require(spec.program(named: "check_globals"))
        let globals = program.function.relocations.filter { $0.kindName == "global" }
        #expect(globals.contains { if case .globalData(".rodata", 8, "knob_u64") = $0.target { true } else { false } })
    }

    @Test func btfMaps() throws {
        let spec = try Self.fixture("maps.o")
        #expect(spec.map(named: "pinned_counts")?.pinning == .byName)
        let jump = try #require(spec.map(named: "jump_table"))
        #expect(jump.type == .progArray)
        #expect(jump.initialSlots == [MapSlotSpec(index: 0, symbol: "tail_slot0"), MapSlotSpec(index: 2, symbol: "tail_slot2")])
        let outer = try #require(spec.map(named: "outer_array"))
        #expect(outer.type == .arrayOfMaps)
        #expect(outer.innerMap?.spec.type == .array)
        #expect(Set(outer.initialSlots) == [MapSlotSpec(index: 0, symbol: "inner_b"), MapSlotSpec(index: 2, symbol: "inner_a")])
        let hashOfMaps = try #require(spec.map(named: "outer_hash"))
        #expect(hashOfMaps.innerMap?.spec.type == .hash)
        #expect(hashOfMaps.innerMap.map { ($0.spec.keySize, $0.spec.valueSize, $0.spec.maxEntries) } ?? (0, 0, 0) == (4, 8, 8))
        #expect(spec.map(named: "bloom")?.mapExtra == 3)
        #expect(((spec.map(named: "numa_array")?.flags ?? 0) & MapFlag.numaNode) != 0)
        #expect(spec.programs.count == 5)
    }

    @Test func subprograms() throws {
        let spec = try Self.fixture("subprogs.o")
        let names = Set(spec.subprograms.map(\.name))
        #expect(names.isSuperset(of: ["add_static", "mul_add", "global_square", "global_ctx_len", "shared_helper"]))
        #expect(spec.subprograms.first { $0.name == "global_square" }?.isGlobal == true)
        #expect(spec.subprograms.first { $0.name == "add_static" }?.isGlobal == false)
        let calls = spec.functions.flatMap(\.relocations).compactMap { relocation -> String? in
            if case .call(_, _, let function) = relocation.target { return function }
            return nil
        }
        #expect(Set(calls).isSuperset(of: ["shared_helper", "global_square"]))
        let callbacks = spec.functions.flatMap(\.relocations).filter { $0.kindName == "callback" }
        #expect(!callbacks.isEmpty)
        for callback in callbacks {
            guard case .callback(_, _, let function) = callback.target else { continue }
            #expect(function != nil, "callback targets a named function")
        }
    }

    @Test func sectionsAndAutoload() throws {
        let spec = try Self.fixture("attach.o")
        #expect(spec.program(named: "on_raw_tp_exit_optional")?.autoload == false)
        #expect(spec.program(named: "on_uprobe_sleepable")?.isSleepable == true)
        #expect(spec.program(named: "on_tcx_ingress")?.expectedAttachType == .tcxIngress)
        #expect(spec.program(named: "on_tp_btf")?.type == .tracing)
        #expect(spec.program(named: "on_iter_task")?.expectedAttachType == .traceIter)
    }

    @Test(arguments: ["hello", "globals", "subprogs", "maps", "core"])
    func bigEndianTwinsMatch(name: String) throws {
        let little = try Self.fixture(name + ".o")
        let big = try Self.fixture(name + ".bpfeb.o")
        #expect(little.byteOrder == .little && big.byteOrder == .big)
        #expect(big.programs.map(\.name) == little.programs.map(\.name))
        #expect(big.maps.map(\.name) == little.maps.map(\.name))
        #expect(big.maps.map(\.valueSize) == little.maps.map(\.valueSize))
        // clang emits different code for bitfields in the two byte orders, so slots may differ;
        // what is relocated must not.
        #expect(big.functions.map { $0.relocations.map(\.target) } == little.functions.map { $0.relocations.map(\.target) })
        #expect(Set(big.functions.flatMap { $0.coreRelocations.map(\.kind) }) == Set(little.functions.flatMap { $0.coreRelocations.map(\.kind) }))
        if name != "core" {
            #expect(big.programs.map(\.instructions.count) == little.programs.map(\.instructions.count))
            #expect(big.functions.map(\.relocations) == little.functions.map(\.relocations))
        }
    }

    /// cilium/ebpf's objects parse, or (the invalid_* ones) fail with a clear error, never a crash.
    @Test func ciliumObjects() throws {
        let objects = TestPaths.ciliumObjects() + TestPaths.ciliumObjects(suffix: "-eb.elf")
        try require(!objects.isEmpty, "golang-github-cilium-ebpf-dev is not installed")
        var parsed = 0
        for path in objects {
            do {
                let spec = try ObjectSpec(contentsOf: path)
                #expect(!spec.programs.isEmpty || !spec.maps.isEmpty, "\(path)")
                parsed += 1
            } catch {
                // cilium/ebpf's invalid_* objects are broken on purpose; clang 7 marked functions NOTYPE,
                // not FUNC. (The loader* objects' static functions outside .text are accepted, as cilium
                // accepts them, though libbpf refuses them.)
                let isClang7 = path.contains("clang-7") && error.description.contains("no function symbol")
                #expect(path.contains("invalid") || isClang7, "\(path): \(error)")
                #expect(!error.description.isEmpty)
            }
        }
        #expect(parsed > objects.count / 2)
        // An extern no BTF describes is kept, with a note, rather than refusing the whole object.
        let forward = try ObjectSpec(contentsOf: TestPaths.ciliumEBPF + "/testdata/fwd_decl-el.elf")
        #expect(forward.externs.contains { $0.name == "fwd" && $0.kind.description == "unresolved" })
        #expect(forward.notes.contains { $0.contains("'fwd'") })
    }
}
