import BPFObject
import BTF
import Foundation
import Testing
import TestSupport
@testable import BPF

/// cilium/ebpf's self-checking test objects (Debian's golang-github-cilium-ebpf-dev), loaded and run the
/// way cilium/ebpf's own tests use them; each C source is beside its object.
@Suite(.serialized) struct CiliumLoadTests {
    typealias Support = LoaderTestSupport

    /// btf/testdata/relocs-el.elf: CO-RE of every kind against the object's own BTF (cilium/ebpf loads it
    /// with the spec's types as kernel types, so `bpf_core_type_id_kernel == bpf_core_type_id_local`).
    /// Its `socket_filter/...` sections are not libbpf names, so the programs get their type here;
    /// err_ambiguous* are meant to fail relocation and are left out. Every program returns 0 (else the
    /// line of relocs.c that failed).
    @Test func relocsAgainstTheirOwnBTF() throws {
        try Support.requireRoot()
        var spec = try Support.spec(try Support.ciliumObject("btf/testdata/relocs-el.elf"))
        for index in spec.programs.indices where spec.programs[index].sectionName.hasPrefix("socket_filter/") {
            spec.programs[index].type = .socketFilter
        }
        let names = Set(spec.programs.map(\.name).filter { !$0.hasPrefix("err_ambiguous") })
        #expect(names == ["type_ids", "types", "enums", "fields"])
        let btf = try #require(spec.btf)
        let options = LoadOptions(coreTargets: CoreTargets(primary: CoreTargetBTF(btf, name: "vmlinux")), programNames: names)
        let loaded = try LoadedObject.load(spec, options: options)
        #expect(Set(loaded.programs.map(\.name)) == names)
        for program in loaded.programs {
            try Support.expectCheckPasses(program, source: "relocs.c")
        }
    }

    /// The ambiguous relocations fail only their own programs, with the relocation named.
    @Test func relocsAmbiguousOnesFailAlone() throws {
        try Support.requireRoot()
        var spec = try Support.spec(try Support.ciliumObject("btf/testdata/relocs-el.elf"))
        for index in spec.programs.indices { spec.programs[index].type = .socketFilter }
        let btf = try #require(spec.btf)
        let options = LoadOptions(coreTargets: CoreTargets(primary: CoreTargetBTF(btf, name: "vmlinux")), allowsPartialLoad: true)
        let loaded = try LoadedObject.load(spec, options: options)
        #expect(Set(loaded.failures.map(\.name)) == ["err_ambiguous", "err_ambiguous_flavour"])
        for failure in loaded.failures {
            #expect(failure.error.code == .invalidObject)
            #expect(failure.error.message.contains("CO-RE relocation"), "\(failure.error.message)")
        }
        #expect(Set(loaded.programs.map(\.name)) == ["type_ids", "types", "enums", "fields"])
    }

    /// btf/testdata/relocs_read-el.elf against relocs_read_tgt-el.elf's BTF (fields swapped, bitfields
    /// moved and re-typed): `reads` (a socket filter, so a packet as input) returns 0 when every field and
    /// bitfield read through CO-RE, in a subprogram, lands on the target's layout.
    @Test func relocsReadAgainstTheTargetObject() throws {
        try Support.requireRoot()
        let spec = try Support.spec(try Support.ciliumObject("btf/testdata/relocs_read-el.elf"))
        let target = try Support.spec(try Support.ciliumObject("btf/testdata/relocs_read_tgt-el.elf"))
        let targetBTF = try #require(target.btf, "relocs_read_tgt-el.elf has .BTF")
        let options = LoadOptions(coreTargets: CoreTargets(primary: CoreTargetBTF(targetBTF, name: "vmlinux")))
        let loaded = try LoadedObject.load(spec, options: options)
        let reads = try #require(loaded.program(named: "reads"))
        #expect(reads.type == .socketFilter)
        try Support.expectCheckPasses(reads, source: "relocs_read.c")
    }

    /// Against the running kernel instead, `struct s` does not exist: the reachable poisoned read is
    /// explained, not reported as an unknown helper.
    @Test func relocsReadAgainstTheKernelIsExplained() throws {
        try Support.requireRoot()
        // Outside the closure: a missing package is a skip (or a failure in CI), not a crash.
        let path = try Support.ciliumObject("btf/testdata/relocs_read-el.elf")
        let error = Support.expectFailure { () throws(BPFError) in
            _ = try LoadedObject.load(contentsOf: path)
        }
        #expect(error?.code == .verifier)
        #expect(error?.message.contains("failed to resolve CO-RE relocation") == true, "\(error?.message ?? "")")
        #expect(error?.log?.contains("<invalid CO-RE relocation>") == true)
        #expect(error?.log?.contains("unknown#195896080") == false)
    }

    /// testdata/loader-el.elf: `xdp_prog` returns `static_fn(arg) + global_fn(arg) + arg2` with subprograms
    /// in three sections (`static`, `.text`, `other`); cilium/ebpf's test sets `arg` (in `.rodata`) to 1
    /// and `arg2` (in the custom `.rodata.test`) to 2: 0 + (0 + 3 + 2) + 2 = 7. The legacy
    /// `array_of_hash_map` has no inner map definition (cilium gives it hash_map's), and `btf_pin` pins
    /// by name. `asm_relocation` references the undefined MY_CONST, so only the programs needed load.
    @Test func loaderXDPProgReturnsSeven() throws {
        try Support.requireRoot()
        var spec = try Support.spec(try Support.ciliumObject("testdata/loader-el.elf"))
        try spec.setVariable("arg", to: .integer(1))
        try spec.setVariable("arg2", to: .integer(2))
        let hashMap = try #require(spec.maps.first { $0.name == "hash_map" })
        let outer = try #require(spec.maps.firstIndex { $0.name == "array_of_hash_map" })
        spec.maps[outer].innerMap = InnerMap(hashMap)
        for index in spec.programs.indices where spec.programs[index].sectionName.hasPrefix("socket/") {
            spec.programs[index].type = .socketFilter
        }
        let directory = try Support.temporaryPinDirectory("cilium-loader")
        defer { Support.removePinDirectory(directory) }
        let options = LoadOptions(pinDirectory: directory, programNames: ["xdp_prog", "data_sections", "no_relocation"])
        let loaded = try LoadedObject.load(spec, options: options)
        #expect(Support.pins(in: directory) == ["btf_pin"])

        let xdp = try #require(loaded.program(named: "xdp_prog"))
        let result = try Support.run(xdp)
        #expect(result == 7, "xdp_prog returned \(result): static_fn(arg) + global_fn(arg) + arg2 with arg = 1, arg2 = 2")
        // data_sections checks negative constants in .rodata (global and static): 0 or its failing line.
        try Support.expectCheckPasses(try #require(loaded.program(named: "data_sections")), source: "loader.c")
        #expect(try Support.run(try #require(loaded.program(named: "no_relocation"))) == 0)
        // The perf event array asked for 4096 entries: one per possible CPU.
        let perf = try #require(loaded.map(named: "perf_event_array"))
        #expect(perf.maxEntries == UInt32(try PossibleCPUs.count()))
    }

    /// The same object without the knobs: arg = 0, arg2 = 0 gives -1 + (-1 + 2 + 1) + 0 = 1.
    @Test func loaderXDPProgUsesTheCompiledKnobs() throws {
        try Support.requireRoot()
        var spec = try Support.spec(try Support.ciliumObject("testdata/loader-el.elf"))
        let hashMap = try #require(spec.maps.first { $0.name == "hash_map" })
        let outer = try #require(spec.maps.firstIndex { $0.name == "array_of_hash_map" })
        spec.maps[outer].innerMap = InnerMap(hashMap)
        let directory = try Support.temporaryPinDirectory("cilium-loader-plain")
        defer { Support.removePinDirectory(directory) }
        let loaded = try LoadedObject.load(spec, options: LoadOptions(pinDirectory: directory, programNames: ["xdp_prog"]))
        #expect(try Support.run(try #require(loaded.program(named: "xdp_prog"))) == 1)
    }

    /// The whole of testdata/loader-el.elf, as cilium/ebpf's own test loads it: the one edit is the legacy
    /// map-in-map's inner map (a `maps` record cannot describe it; cilium's test gives it hash_map's too),
    /// its value size 0 becomes 4 as in cilium. Every program loads but `asm_relocation`, which references
    /// the undefined symbol MY_CONST (cilium's test rewrites it first); without the inner map, the load is
    /// refused naming the map and the fix.
    @Test func loaderWholeObject() throws {
        try Support.requireRoot()
        var spec = try Support.spec(try Support.ciliumObject("testdata/loader-el.elf"))
        for index in spec.programs.indices where spec.programs[index].sectionName.hasPrefix("socket/") {
            spec.programs[index].type = .socketFilter
        }
        let directory = try Support.temporaryPinDirectory("cilium-loader-whole")
        defer { Support.removePinDirectory(directory) }
        let refused = Support.expectFailure { () throws(BPFError) in
            _ = try LoadedObject.load(spec, options: LoadOptions(pinDirectory: directory))
        }
        #expect(refused?.message.contains("array_of_hash_map") == true && refused?.message.contains("innerMap") == true,
                "\(refused?.message ?? "loaded")")

        let hashMap = try #require(spec.maps.first { $0.name == "hash_map" })
        let outer = try #require(spec.maps.firstIndex { $0.name == "array_of_hash_map" })
        spec.maps[outer].innerMap = InnerMap(hashMap)
        let loaded = try LoadedObject.load(spec, options: LoadOptions(pinDirectory: directory, allowsPartialLoad: true))
        #expect(loaded.failures.map(\.name) == ["asm_relocation"], "\(loaded.failures.map { "\($0.name): \($0.error.message)" })")
        #expect(loaded.programs.count == spec.programs.filter(\.autoload).count - 1)
        #expect(loaded.maps.count == spec.maps.count)
        #expect(try #require(loaded.map(named: "array_of_hash_map")).valueSize == 4)
    }

    /// testdata/btf_map_init-el.elf: prog_array_init's static slot [1] = tail_1 (returns 42), so
    /// `tail_main`'s tail call lands there; slot 0 stays empty. outer_map_init[1] = inner_map.
    @Test func btfMapInitTailCallReturns42() throws {
        try Support.requireRoot()
        var spec = try Support.spec(try Support.ciliumObject("testdata/btf_map_init-el.elf"))
        // `socket/tail` and `socket/main` are not libbpf 1.x section names (only `socket` is).
        for index in spec.programs.indices where spec.programs[index].sectionName.hasPrefix("socket/") {
            spec.programs[index].type = .socketFilter
        }
        let loaded = try LoadedObject.load(spec)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        let main = try #require(loaded.program(named: "tail_main"))
        #expect(try Support.run(main) == 42)
        let array = try #require(loaded.map(named: "prog_array_init"))
        #expect(try array.lookup(UInt32(1), as: UInt32.self) == (try loaded.program(named: "tail_1")?.info().id))
        #expect(try array.lookup(UInt32(0), as: UInt32.self) == nil)
        let outer = try #require(loaded.map(named: "outer_map_init"))
        #expect(try outer.lookup(UInt32(1), as: UInt32.self) == (try loaded.map(named: "inner_map")?.info().id))
        #expect(try outer.lookup(UInt32(0), as: UInt32.self) == nil)
    }

    /// testdata/subprog_reloc-el.elf: `fp_relocation` stores 1, then bpf_for_each_map_elem calls the
    /// static `sub_prog` (a function pointer relocation), which stores 42; the program returns the value.
    @Test func subprogRelocReturns42() throws {
        try Support.requireRoot()
        let loaded = try LoadedObject.load(contentsOf: try Support.ciliumObject("testdata/subprog_reloc-el.elf"))
        let program = try #require(loaded.program(named: "fp_relocation"))
        let map = try #require(loaded.map(named: "hash_map"))
        #expect(try Support.run(program) == 42)
        #expect(try map.lookup(UInt32(0), as: UInt64.self) == 42)
        // Prefilled by user space: the program overwrites and still returns 42.
        try map.update(UInt32(0), UInt64(7))
        #expect(try Support.run(program) == 42)
    }
}
