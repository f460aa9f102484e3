import BTF
import ByteParsing
import ELF
import Foundation
import Testing
import TestSupport
@testable import BPFObject

/// Final instruction streams: every relocation of every fixture and cilium/ebpf object applied with fake
/// map fds; kconfig images; typed and typeless ksyms and kfuncs (vmlinux and module) on a hand-made
/// object and kernel BTF; weak and missing externs; static and cross-section functions.
@Suite struct FinalProgramTests {
    // MARK: Objects on disk

    /// Every little-endian object we have: our fixtures and cilium/ebpf's testdata.
    static let objects: [String] = TestPaths.fixtureObjects.filter { !$0.hasSuffix(".bpfeb.o") } + TestPaths.ciliumObjects()

    /// The fake fd of each map: 100 + its index in the spec.
    static func fakeDescriptors(_ spec: ObjectSpec) -> [String: Int32] {
        Dictionary(spec.maps.enumerated().map { ($0.element.name, Int32(100 + $0.offset)) }, uniquingKeysWith: { a, _ in a })
    }

    /// A source that answers every kconfig extern of `spec`: bools and tristates `y`, chars `c`, integers
    /// 250, strings "abc".
    static func source(for spec: ObjectSpec) -> ExternValueSource {
        var values: [String: String] = [:]
        for extern in spec.externs {
            guard case .kconfig(_, _, let type) = extern.kind, extern.name.hasPrefix("CONFIG_") else { continue }
            switch type {
            case .bool, .tristate: values[extern.name] = "y"
            case .char: values[extern.name] = "c"
            case .int: values[extern.name] = "250"
            case .string: values[extern.name] = "\"abc\""
            }
        }
        return ExternValueSource(kernelConfig: KernelConfig(values: values), kernelVersion: 0x06_12_00,
                                 btf: nil, symbolAddresses: [:], hasBPFCookie: true, hasSyscallWrapper: false)
    }

    /// Objects that cannot be parsed (broken on purpose, or clang 7's NOTYPE functions).
    static func isExpectedParseFailure(_ path: String) -> Bool {
        path.contains("invalid") || path.contains("clang-7")
    }

    @Test("every relocation of every object is applied", arguments: objects)
    func everyRelocationApplied(path: String) throws {
        let name = (path as NSString).lastPathComponent
        let spec: ObjectSpec
        do { spec = try ObjectSpec(contentsOf: path) } catch {
            #expect(Self.isExpectedParseFailure(path), "\(name): \(error)")
            return
        }
        let linked = try spec.link(spec.programs)
        let externs = try ResolvedExterns(resolving: spec, from: Self.source(for: spec))
        let fds = Self.fakeDescriptors(spec)
        for program in linked {
            let final: FinalProgram
            do {
                final = try spec.finalProgram(program, mapDescriptor: { fds[$0] }, externs: externs)
            } catch {
                // cilium's fwd_decl calls a function no BTF describes ("not a valid BPF program"); its
                // loader objects' asm_relocation loads a symbol (MY_CONST) only inline assembly names.
                let expected = (name == "fwd_decl-el.elf" && program.name == "call_fwd")
                    || (name.hasPrefix("loader") && program.name == "asm_relocation")
                #expect(expected && error.code == .extern, "\(name) \(program.name): \(error)")
                continue
            }
            #expect(final.poisons.isEmpty)
            #expect(final.instructions.count == program.instructions.count)
            #expect(final.instructionBytes.count == final.instructions.count * 8)
            #expect(final.functionInfoBytes.count == final.functionInfo.count * 8)
            #expect(final.lineInfoBytes.count == final.lineInfo.count * 16)
            #expect(final.functionInfo.map(\.instructionOffset) == program.functionInfo.map { UInt32($0.slot) })
            for relocation in program.relocations {
                let at = "\(name) \(program.name) #\(relocation.slot)"
                let low = final.instructions[relocation.slot]
                switch relocation.relocation.target {
                case .map(let map):
                    #expect(low.src == 1 && low.imm == fds[map] && final.instructions[relocation.slot + 1].imm == 0, "\(at)")
                case .globalData(let map, let addend, _):
                    #expect(low.src == 2 && low.imm == fds[map], "\(at)")
                    #expect(Int64(final.instructions[relocation.slot + 1].imm) == addend, "\(at)")
                case .externVariable(let extern):
                    guard case .kconfig(let offset, _, _)? = spec.externs.first(where: { $0.name == extern })?.kind else {
                        Issue.record("\(at): extern \(extern) is no kconfig in these objects")
                        continue
                    }
                    #expect(low.src == 2 && low.imm == fds[".kconfig"], "\(at)")
                    #expect(UInt32(final.instructions[relocation.slot + 1].imm) == offset, "\(at)")
                case .call, .callback:
                    #expect(low == program.instructions[relocation.slot], "\(at)")
                case .kfunc:
                    Issue.record("\(at): no kfunc expected in these objects")
                }
            }
            // No LD_IMM64 is left pointing at nothing: each is a constant, a map (fd or value) with one of
            // our fds, or a callback.
            var slot = 0
            while slot < final.instructions.count {
                let instruction = final.instructions[slot]
                if instruction.isLoadImm64 {
                    switch instruction.src {
                    case 0, 4: break
                    case 1, 2: #expect(fds.values.contains(instruction.imm), "\(name) \(program.name) #\(slot)")
                    default: Issue.record("\(name) \(program.name) #\(slot): LD_IMM64 src \(instruction.src)")
                    }
                    slot += 2
                } else {
                    slot += 1
                }
            }
        }
    }

    @Test("global data offsets, legacy maps and both pseudo sources on globals.o and legacy_sockex.o")
    func globalsAndLegacyMaps() throws {
        let globals = try ObjectSpec(contentsOf: TestPaths.fixtures + "/globals.o")
        let fds = Self.fakeDescriptors(globals)
        let externs = try ResolvedExterns(resolving: globals, from: ExternValueSource())
        #expect(externs.externs.isEmpty && externs.kconfigImage == nil)
        var sawOffset = false
        for linked in try globals.linkedPrograms() {
            let final = try globals.finalProgram(linked, mapDescriptor: { fds[$0] }, externs: externs)
            for relocation in linked.relocations {
                guard case .globalData(let map, let addend, _) = relocation.relocation.target else { continue }
                #expect(final.instructions[relocation.slot].loadImm64Source == .mapValue)
                #expect(final.instructions[relocation.slot].imm == fds[map])
                #expect(final.instructions[relocation.slot + 1].imm == Int32(addend))
                sawOffset = sawOffset || addend > 0
            }
        }
        #expect(sawOffset, "globals.o reads a variable past the start of its section")

        let legacy = try ObjectSpec(contentsOf: TestPaths.fixtures + "/legacy_sockex.o")
        let legacyFDs = Self.fakeDescriptors(legacy)
        let program = try legacy.link(try #require(legacy.programs.first))
        #expect(program.relocations.contains { if case .map = $0.relocation.target { true } else { false } })
        let final = try legacy.finalProgram(program, mapDescriptor: { legacyFDs[$0] }, externs: ResolvedExterns())
        for relocation in program.relocations {
            guard case .map(let name) = relocation.relocation.target else {
                Issue.record("legacy_sockex.o: \(relocation.relocation.target) is not a map relocation")
                continue
            }
            #expect(["proto_bytes", "proto_packets"].contains(name))
            #expect(final.instructions[relocation.slot].loadImm64Source == .mapFD)
            #expect(final.instructions[relocation.slot].imm == legacyFDs[name])
        }
    }

    @Test("a map with no fd is poisoned as libbpf poisons maps it does not create")
    func mapNotCreated() throws {
        let spec = try ObjectSpec(contentsOf: TestPaths.fixtures + "/globals.o")
        let fds = Self.fakeDescriptors(spec)
        let linked = try #require(try spec.linkedPrograms().first { $0.name == "check_globals" })
        let final = try spec.finalProgram(linked, mapDescriptor: { $0 == ".bss" ? nil : fds[$0] }, externs: ResolvedExterns())
        let bssIndex = try #require(spec.maps.firstIndex { $0.name == ".bss" })
        let bssLoads = linked.relocations.filter {
            if case .globalData(".bss", _, _) = $0.relocation.target { true } else { false }
        }
        #expect(!bssLoads.isEmpty)
        #expect(final.poisons.map(\.slot) == bssLoads.map(\.slot))
        for relocation in bssLoads {
            let helper = 2_001_000_000 + Int32(bssIndex)
            #expect(final.instructions[relocation.slot] == .call(helper: helper))
            #expect(final.instructions[relocation.slot + 1] == .call(helper: helper))
            #expect(final.poison(at: relocation.slot)?.cause == .mapNotCreated(map: ".bss", index: bssIndex))
        }
    }

    // MARK: kconfig

    @Test("core.o: LINUX_KERNEL_VERSION, CONFIG_HZ and a weak missing option in the .kconfig image")
    func coreKconfig() throws {
        let spec = try ObjectSpec(contentsOf: TestPaths.fixtures + "/core.o")
        let map = try #require(spec.map(named: ".kconfig"))
        let source = ExternValueSource(kernelConfig: KernelConfig(parsing: "CONFIG_HZ=1000\n# CONFIG_X is not set\n"),
                                       kernelVersion: 0x06_12_05)
        let externs = try ResolvedExterns(resolving: spec, from: source)
        let image = try #require(externs.kconfigImage)
        #expect(image.count == Int(map.valueSize))
        func value(_ name: String) throws -> UInt32 {
            guard case .kconfig(let offset, let size, _)? = spec.externs.first(where: { $0.name == name })?.kind else {
                throw CancellationError()
            }
            #expect(size == 4)
            return image[Int(offset)..<Int(offset + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        #expect(try value("LINUX_KERNEL_VERSION") == 0x06_12_05)
        #expect(try value("CONFIG_HZ") == 1000)
        #expect(try value("CONFIG_SWIFT_LOAD_NOT_A_CONFIG") == 0)
        #expect(externs.extern(named: "CONFIG_SWIFT_LOAD_NOT_A_CONFIG")?.value == .absent(reason: "not in the kernel configuration"))
        #expect(externs.extern(named: "CONFIG_HZ")?.log == "extern (kcfg) 'CONFIG_HZ': set to 1000")

        // A strong option the configuration lacks, or no version: errors naming the extern and the source.
        let noHZ = ExternValueSource(kernelConfig: KernelConfig(values: [:]), kernelVersion: 1)
        let missing = #expect(throws: ExternResolutionError.self) { try ResolvedExterns(resolving: spec, from: noHZ) }
        #expect(missing?.code == .notFound && missing?.extern == "CONFIG_HZ")
        #expect(missing?.message.contains("kernel configuration") == true)
        let noVersion = ExternValueSource(kernelConfig: KernelConfig(values: ["CONFIG_HZ": "100"]))
        let unversioned = #expect(throws: ExternResolutionError.self) { try ResolvedExterns(resolving: spec, from: noVersion) }
        #expect(unversioned?.code == .missingSource && unversioned?.extern == "LINUX_KERNEL_VERSION")
        let noConfig = ExternValueSource(kernelVersion: 1)
        let unconfigured = #expect(throws: ExternResolutionError.self) { try ResolvedExterns(resolving: spec, from: noConfig) }
        #expect(unconfigured?.code == .missingSource && unconfigured?.searched == "the kernel configuration")
    }

    @Test("attach_kernel.o: LINUX_HAS_SYSCALL_WRAPPER comes from the caller's answer")
    func syscallWrapper() throws {
        let spec = try ObjectSpec(contentsOf: TestPaths.fixtures + "/attach_kernel.o")
        let extern = try #require(spec.externs.first { $0.name == "LINUX_HAS_SYSCALL_WRAPPER" })
        guard case .kconfig(let offset, _, _) = extern.kind else { Issue.record("not kconfig"); return }
        for answer in [true, false] {
            let externs = try ResolvedExterns(resolving: spec, from: ExternValueSource(hasSyscallWrapper: answer))
            #expect(externs.kconfigImage?[Int(offset)] == (answer ? 1 : 0))
        }
        #expect(throws: ExternResolutionError.self) { try ResolvedExterns(resolving: spec, from: ExternValueSource()) }
    }

    @Test("kconfig values are parsed and stored as libbpf stores them")
    func kconfigForms() throws {
        func parse(_ text: String, _ type: KconfigValueType, size: Int, signed: Bool = false) -> KconfigValue? {
            try? KconfigForm(type: type, size: size, isSigned: signed).parse(text, extern: "CONFIG_T")
        }
        #expect(parse("y", .bool, size: 1) == .number(1))
        #expect(parse("n", .bool, size: 1) == .number(0))
        #expect(parse("m", .bool, size: 1) == nil)
        #expect(parse("1", .bool, size: 1) == nil)  // libbpf: a number implies an integer type
        #expect(parse("m", .tristate, size: 4) == .number(2))
        #expect(parse("y", .tristate, size: 4) == .number(1))
        #expect(parse("y", .char, size: 1) == .number(Int64(UInt8(ascii: "y"))))
        #expect(parse("65", .char, size: 1) == .number(65))
        #expect(parse("y", .int, size: 1) == .number(Int64(UInt8(ascii: "y"))))  // a 1-byte int is libbpf's char
        #expect(parse("y", .int, size: 4) == nil)
        #expect(parse("0x10", .int, size: 4) == .number(16))
        #expect(parse("010", .int, size: 4) == .number(8))
        #expect(parse("4294967295", .int, size: 4) == .number(4_294_967_295))
        #expect(parse("4294967296", .int, size: 4) == nil)
        #expect(parse("-1", .int, size: 4, signed: true) == .number(-1))
        #expect(parse("-1", .int, size: 4) == nil)
        #expect(parse("2147483648", .int, size: 4, signed: true) == nil)
        #expect(parse("-1", .int, size: 8) == .number(-1))
        #expect(parse("12abc", .int, size: 4) == nil)
        #expect(parse("99999999999999999999", .int, size: 8) == nil)
        #expect(parse("\"abc\"", .string, size: 8) == .string("abc"))
        #expect(parse("\"abc", .string, size: 8) == nil)
        #expect(parse("\"abc\"", .int, size: 8) == nil)
        #expect(parse("abc", .string, size: 8) == nil)

        // The image: object byte order, strings truncated and NUL-terminated.
        func extern(_ name: String, _ offset: UInt32, _ size: UInt32, _ type: KconfigValueType,
                    _ value: KconfigValue) -> ResolvedExtern {
            ResolvedExtern(extern: ExternSpec(name: name, kind: .kconfig(offset: offset, size: size, valueType: type),
                                              isWeak: false, typeID: 0),
                           index: 0, value: .kconfig(value), log: "")
        }
        let items = [extern("A", 0, 4, .int, .number(0x0102_0304)), extern("S", 4, 4, .string, .string("abcdef")),
                     extern("B", 8, 2, .int, .number(-2))]
        #expect(try ResolvedExterns.kconfigImage(size: 10, initial: nil, externs: items, order: .little)
                == [4, 3, 2, 1, 0x61, 0x62, 0x63, 0, 0xfe, 0xff])
        #expect(try ResolvedExterns.kconfigImage(size: 10, initial: nil, externs: items, order: .big)
                == [1, 2, 3, 4, 0x61, 0x62, 0x63, 0, 0xff, 0xfe])
        #expect(throws: ExternResolutionError.self) {
            try ResolvedExterns.kconfigImage(size: 6, initial: nil, externs: items, order: .little)
        }
    }

    @Test("LINUX_* virtual values: known ones need an answer, unknown ones are 0 only when weak")
    func virtualValues() throws {
        var builder = TinyBTF()
        let int = builder.int("int", size: 4, signed: true)
        let cookie = builder.variable("LINUX_HAS_BPF_COOKIE", type: int)
        let other = builder.variable("LINUX_SOMETHING_NEW", type: int)
        let btf = try builder.graph()
        func spec(weak: Bool) -> ObjectSpec {
            let externs = [
                ExternSpec(name: "LINUX_HAS_BPF_COOKIE", kind: .kconfig(offset: 0, size: 4, valueType: .int), isWeak: false, typeID: cookie),
                ExternSpec(name: "LINUX_SOMETHING_NEW", kind: .kconfig(offset: 4, size: 4, valueType: .int), isWeak: weak, typeID: other),
            ]
            return Self.spec(externs: externs, btf: btf, kconfigSize: 8)
        }
        let resolved = try ResolvedExterns(resolving: spec(weak: true), from: ExternValueSource(hasBPFCookie: true))
        #expect(resolved.kconfigImage == [1, 0, 0, 0, 0, 0, 0, 0])
        let strong = #expect(throws: ExternResolutionError.self) {
            try ResolvedExterns(resolving: spec(weak: false), from: ExternValueSource(hasBPFCookie: true))
        }
        #expect(strong?.code == .unsupported && strong?.extern == "LINUX_SOMETHING_NEW")
        let unanswered = #expect(throws: ExternResolutionError.self) {
            try ResolvedExterns(resolving: spec(weak: true), from: ExternValueSource())
        }
        #expect(unanswered?.extern == "LINUX_HAS_BPF_COOKIE" && unanswered?.code == .missingSource)
    }

    // MARK: ksyms and kfuncs

    /// A hand-made object: one program using every kind of ksym and kfunc, and a kernel BTF (vmlinux plus
    /// one module) that has some of them.
    struct KsymWorld {
        var spec: ObjectSpec
        var source: ExternValueSource
        /// vmlinux ids.
        var vmlinuxKfunc: UInt32, vmlinuxVariable: UInt32
        /// Module ids (split BTF continues vmlinux's ids).
        var moduleKfunc: UInt32, moduleVariable: UInt32
    }

    /// Builds ``KsymWorld``; `strongMissing` makes `bpf_missing_kfunc` strong.
    static func ksymWorld(strongMissing: Bool = false, strongIncompatible: Bool = false) throws -> KsymWorld {
        // The object's BTF.
        var local = TinyBTF()
        let int = local.int("int", size: 4, signed: true)
        let oneArg = local.functionProto(returning: int, params: [int])
        let rq = local.structure("rq", size: 0)
        let constRQ = local.const(rq)
        let kfunc = local.function("bpf_test_kfunc___v2", proto: oneArg)
        let moduleKfunc = local.function("bpf_mod_kfunc", proto: oneArg)
        let missingKfunc = local.function("bpf_missing_kfunc", proto: oneArg)
        let badKfunc = local.function("bpf_two_args", proto: oneArg)
        let variable = local.variable("runqueues", type: constRQ)
        let moduleVariable = local.variable("mod_rq", type: rq)
        let missingVariable = local.variable("missing_rq", type: rq)
        let typeless = local.variable("typeless_sym", type: 0)
        let localBTF = try local.graph()

        // vmlinux, then one module on top of it.
        var kernel = TinyBTF()
        let kInt = kernel.int("int", size: 4, signed: true)
        let kOneArg = kernel.functionProto(returning: kInt, params: [kInt])
        let kTwoArgs = kernel.functionProto(returning: kInt, params: [kInt, kInt])
        let kRQ = kernel.structure("rq", size: 16)
        let vmlinuxKfunc = kernel.function("bpf_test_kfunc", proto: kOneArg)
        kernel.function("bpf_two_args", proto: kTwoArgs)
        let vmlinuxVariable = kernel.variable("runqueues", type: kRQ)
        let vmlinux = try kernel.graph()
        var module = TinyBTF(splitOn: vmlinux, baseCount: kernel.count, baseStringLength: kernel.strings.count)
        module.int("unused", size: 1)
        let modKfunc = module.function("bpf_mod_kfunc", proto: kOneArg)
        let modVariable = module.variable("mod_rq", type: kRQ)
        let moduleBTF = try module.graph()

        let externs = [
            ExternSpec(name: "bpf_missing_kfunc", kind: .kfunc, isWeak: !strongMissing, typeID: missingKfunc),
            ExternSpec(name: "bpf_mod_kfunc", kind: .kfunc, isWeak: false, typeID: moduleKfunc),
            ExternSpec(name: "bpf_test_kfunc___v2", kind: .kfunc, isWeak: false, typeID: kfunc),
            ExternSpec(name: "bpf_two_args", kind: .kfunc, isWeak: !strongIncompatible, typeID: badKfunc),
            ExternSpec(name: "missing_rq", kind: .ksym(typed: true), isWeak: true, typeID: missingVariable),
            ExternSpec(name: "mod_rq", kind: .ksym(typed: true), isWeak: false, typeID: moduleVariable),
            ExternSpec(name: "runqueues", kind: .ksym(typed: true), isWeak: false, typeID: variable),
            ExternSpec(name: "typeless_sym", kind: .ksym(typed: false), isWeak: false, typeID: typeless),
        ]
        var instructions: [Instruction] = []
        var relocations: [RelocationSpec] = []
        func load(_ name: String, dst: UInt8) {
            relocations.append(RelocationSpec(slot: instructions.count, elfType: 1, symbol: name, target: .externVariable(name: name)))
            instructions += Instruction.loadImm64(dst: dst, value: 0)
        }
        func call(_ name: String) {
            relocations.append(RelocationSpec(slot: instructions.count, elfType: 10, symbol: name, target: .kfunc(name: name)))
            instructions.append(Instruction(opcode: .call, src: CallKind.kfunc.rawValue, imm: -1))
        }
        load("runqueues", dst: 1)        // 0
        load("mod_rq", dst: 2)           // 2
        load("typeless_sym", dst: 3)     // 4
        load("missing_rq", dst: 4)       // 6
        call("bpf_test_kfunc___v2")      // 8
        call("bpf_mod_kfunc")            // 9
        call("bpf_missing_kfunc")        // 10
        call("bpf_two_args")             // 11
        load("bpf_mod_kfunc", dst: 5)    // 12: bpf_ksym_exists(bpf_mod_kfunc)
        instructions.append(.exit)       // 14
        let spec = Self.spec(externs: externs, btf: localBTF, instructions: instructions, relocations: relocations)
        let source = ExternValueSource(btf: vmlinux, symbolAddresses: ["typeless_sym": 0xffff_ffff_8123_4567],
                                       moduleBTFs: { [CoreTargetBTF(moduleBTF, name: "test_module")] })
        return KsymWorld(spec: spec, source: source, vmlinuxKfunc: vmlinuxKfunc, vmlinuxVariable: vmlinuxVariable,
                         moduleKfunc: modKfunc, moduleVariable: modVariable)
    }

    @Test("ksyms and kfuncs: BTF ids, module fds, fd_array, addresses, weak zero and poisoned calls")
    func ksymsAndKfuncs() throws {
        let world = try Self.ksymWorld()
        let externs = try ResolvedExterns(resolving: world.spec, from: world.source)
        #expect(externs.moduleNames == ["test_module"])
        #expect(externs.fdArrayModules == [0])
        #expect(externs.extern(named: "bpf_test_kfunc___v2")?.value == .kernelFunction(btfID: world.vmlinuxKfunc, object: .vmlinux, fdArrayIndex: 0))
        #expect(externs.extern(named: "bpf_mod_kfunc")?.value == .kernelFunction(btfID: world.moduleKfunc, object: .module(0), fdArrayIndex: 1))
        #expect(externs.extern(named: "runqueues")?.value == .kernelVariable(btfID: world.vmlinuxVariable, object: .vmlinux))
        #expect(externs.extern(named: "mod_rq")?.value == .kernelVariable(btfID: world.moduleVariable, object: .module(0)))
        #expect(externs.extern(named: "typeless_sym")?.value == .address(0xffff_ffff_8123_4567))
        guard case .absent? = externs.extern(named: "missing_rq")?.value,
              case .absent? = externs.extern(named: "bpf_missing_kfunc")?.value,
              case .absent(let why)? = externs.extern(named: "bpf_two_args")?.value else {
            Issue.record("weak externs should be absent: \(externs.externs.map(\.value))")
            return
        }
        #expect(why.contains("incompatible"))

        let linked = try world.spec.link(world.spec.programs[0])
        let final = try world.spec.finalProgram(linked, mapDescriptor: { _ in nil }, externs: externs)
        let code = final.instructions
        // Typed ksyms: BPF_PSEUDO_BTF_ID, the module's fd to be filled in.
        #expect(code[0].loadImm64Source == .btfID && code[0].imm == Int32(world.vmlinuxVariable) && code[1].imm == 0)
        #expect(code[2].loadImm64Source == .btfID && code[2].imm == Int32(world.moduleVariable) && code[3].imm == 0)
        // Typeless: the address; weak missing: 0.
        #expect(code.loadImm64Value(at: 4) == 0xffff_ffff_8123_4567 && code[4].src == 0)
        #expect(code.loadImm64Value(at: 6) == 0 && code[6].src == 0)
        // kfuncs: BPF_PSEUDO_KFUNC_CALL, BTF id, fd_array index.
        #expect(code[8] == Instruction(opcode: .call, src: 2, offset: 0, imm: Int32(world.vmlinuxKfunc)))
        #expect(code[9] == Instruction(opcode: .call, src: 2, offset: 1, imm: Int32(world.moduleKfunc)))
        // Absent weak kfuncs: libbpf's poison, 2002000000 + the extern's index.
        #expect(code[10] == .call(helper: 2_002_000_000 + 0))
        #expect(code[11] == .call(helper: 2_002_000_000 + 3))
        #expect(final.poisons.map(\.slot) == [10, 11])
        #expect(final.poison(at: 11)?.cause == .kfuncAbsent(extern: "bpf_two_args", index: 3))
        // bpf_ksym_exists(kfunc): the kfunc's BTF id as a typed ksym.
        #expect(code[12].loadImm64Source == .btfID && code[12].imm == Int32(world.moduleKfunc))

        #expect(final.needsModuleBTFDescriptors)
        #expect(final.moduleBTFReferences.map(\.slot) == [2, 12])
        #expect(final.fdArray(moduleBTFDescriptor: { $0 == 0 ? 42 : -1 }) == [0, 42])
        let withFDs = final.instructions(moduleBTFDescriptor: { _ in 42 })
        #expect(withFDs[3].imm == 42 && withFDs[13].imm == 42 && withFDs[1].imm == 0)
        #expect(final.instructionBytes(moduleBTFDescriptor: { _ in 42 }) == Instruction.encode(withFDs, order: .host))
    }

    @Test("strong externs that are missing or incompatible are errors naming the extern and where it was sought")
    func strongExternErrors() throws {
        let missing = try Self.ksymWorld(strongMissing: true)
        let notFound = #expect(throws: ExternResolutionError.self) {
            try ResolvedExterns(resolving: missing.spec, from: missing.source)
        }
        #expect(notFound?.code == .notFound && notFound?.extern == "bpf_missing_kfunc")
        #expect(notFound?.searched == "vmlinux BTF and 1 module BTF")
        #expect(notFound?.message.contains("vmlinux BTF and 1 module BTF") == true)

        let incompatible = try Self.ksymWorld(strongIncompatible: true)
        let mismatch = #expect(throws: ExternResolutionError.self) {
            try ResolvedExterns(resolving: incompatible.spec, from: incompatible.source)
        }
        #expect(mismatch?.code == .incompatibleType && mismatch?.extern == "bpf_two_args")
        #expect(mismatch?.searched == "vmlinux")

        var world = try Self.ksymWorld()
        world.source.symbolAddresses = [:]
        let noSymbol = #expect(throws: ExternResolutionError.self) { try ResolvedExterns(resolving: world.spec, from: world.source) }
        #expect(noSymbol?.extern == "typeless_sym" && noSymbol?.message.contains("kallsyms") == true)
        world.source.btf = nil
        let noBTF = #expect(throws: ExternResolutionError.self) { try ResolvedExterns(resolving: world.spec, from: world.source) }
        #expect(noBTF?.code == .missingSource)
    }

    @Test("modules are read only when vmlinux lacks a symbol")
    func modulesReadLazily() throws {
        var world = try Self.ksymWorld()
        // Keep only the externs vmlinux has.
        world.spec.externs = world.spec.externs.filter { ["bpf_test_kfunc___v2", "runqueues"].contains($0.name) }
        world.source.moduleBTFs = { fatalError("modules must not be read") }
        let externs = try ResolvedExterns(resolving: world.spec, from: world.source)
        #expect(externs.moduleNames.isEmpty && externs.fdArrayModules.isEmpty)
    }

    @Test("prototype and type compatibility follows libbpf's bpf_core_types_are_compat")
    func typeCompatibility() throws {
        var a = TinyBTF()
        let aInt = a.int("int", size: 4, signed: true)
        let aLong = a.int("long", size: 8, signed: true)
        let aPointer = a.pointer(aInt)
        let aTypedef = a.typedef("u32_t", aInt)
        let aFloat = a.type(nil, kind: 16, sizeOrType: 4)
        let aProto = a.functionProto(returning: aInt, params: [aPointer, aLong])
        let aStruct = a.structure("s", size: 4)
        let aGraph = try a.graph()
        var b = TinyBTF()
        let bInt = b.int("unsigned int", size: 4)
        let bPointer = b.pointer(bInt)
        let bProto = b.functionProto(returning: bInt, params: [bPointer, bInt])
        let bShortProto = b.functionProto(returning: bInt, params: [bPointer])
        let bStruct = b.structure("other", size: 8)
        let bPointerToStruct = b.pointer(bStruct)
        let bFloat = b.type(nil, kind: 16, sizeOrType: 4)
        let bGraph = try b.graph()
        func compatible(_ x: UInt32, _ y: UInt32) -> Bool { ExternTypeCompatibility.compatible(aGraph, x, bGraph, y) }
        #expect(compatible(aInt, bInt))            // size and sign free
        #expect(compatible(aProto, bProto))        // int* ≈ unsigned int*, long ≈ unsigned int
        #expect(!compatible(aProto, bShortProto))  // parameter count
        #expect(compatible(aStruct, bStruct))      // structs by kind (names are the caller's)
        #expect(!compatible(aPointer, bPointerToStruct))
        #expect(!compatible(aTypedef, bInt))       // the unskipped kinds must agree first
        #expect(!compatible(aFloat, bFloat))       // libbpf: floats are unexpected there
        #expect(!compatible(aInt, 999))            // a bad id disagrees
    }

    @Test("an extern no BTF describes fails only the program that uses it")
    func unresolvableExtern() throws {
        let path = TestPaths.ciliumEBPF + "/testdata/fwd_decl-el.elf"
        try require(FileManager.default.fileExists(atPath: path), "golang-github-cilium-ebpf-dev is not installed")
        let spec = try ObjectSpec(contentsOf: path)
        let externs = try ResolvedExterns(resolving: spec, from: ExternValueSource())
        guard case .unresolvable? = externs.extern(named: "fwd")?.value else {
            Issue.record("fwd: \(String(describing: externs.extern(named: "fwd")))")
            return
        }
        let linked = try spec.link(try #require(spec.program(named: "call_fwd")))
        let error = #expect(throws: ObjectError.self) { try spec.finalProgram(linked, mapDescriptor: { _ in 3 }, externs: externs) }
        #expect(error?.code == .extern && error?.message.contains("'fwd'") == true)
    }

    // MARK: Static and cross-section functions

    @Test("cilium's loader objects: static functions in other sections are linked as subprograms")
    func ciliumLoader() throws {
        let objects = ["loader-el.elf", "loader-clang-9-el.elf", "loader-clang-14-el.elf"]
            .map { TestPaths.ciliumEBPF + "/testdata/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
        try require(!objects.isEmpty, "golang-github-cilium-ebpf-dev is not installed")
        for path in objects {
            let spec = try ObjectSpec(contentsOf: path)
            #expect(spec.program(named: "static_fn") == nil && spec.program(named: "global_fn3") == nil, "\(path)")
            #expect(spec.subprograms.contains { $0.name == "static_fn" && $0.sectionName == "static" }, "\(path)")
            #expect(spec.notes.contains { $0.contains("'static_fn'") && $0.contains("subprogram") }, "\(path)")
            let xdp = try spec.link(try #require(spec.program(named: "xdp_prog")))
            #expect(Set(xdp.functions.map(\.name)) == ["xdp_prog", "static_fn", "global_fn", "global_fn2", "global_fn3"], "\(path)")
            let fds = Self.fakeDescriptors(spec)
            let final = try spec.finalProgram(xdp, mapDescriptor: { fds[$0] }, externs: ResolvedExterns(resolving: spec, from: ExternValueSource()))
            let maps = Set(xdp.relocations.compactMap { item -> String? in
                switch item.relocation.target {
                case .map(let name): name
                case .globalData(let name, _, _): name
                default: nil
                }
            })
            #expect(maps.isSuperset(of: ["hash_map", "hash_map2"]), "\(path): \(maps)")
            #expect(final.poisons.isEmpty)
        }
    }

    @Test("a static entry program is accepted, with a note (libbpf refuses it)")
    func staticEntryProgram() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/hello.o")))
        // Make the program's symbol local: st_info (byte 4 of the 24-byte Elf64_Sym) keeps its type, binding 0.
        let file = try ELFFile(bytes: ByteView(bytes))
        let table = try file.symbolTableSection()
        let symbol = try #require(try file.symbols().first { $0.name == "hello" && $0.type == .function })
        let info = table.offset + symbol.index * 24 + 4
        bytes[info] &= 0x0f
        let spec = try ObjectSpec(bytes: ByteView(bytes), name: "hello")
        let program = try #require(spec.program(named: "hello"))
        #expect(!program.function.isGlobal)
        #expect(spec.notes.contains { $0.contains("program 'hello'") && $0.contains("is static") })
        let fds = Self.fakeDescriptors(spec)
        let final = try spec.finalProgram(try spec.link(program), mapDescriptor: { fds[$0] }, externs: ResolvedExterns())
        #expect(final.instructions.contains { $0.loadImm64Source == .mapValue })
    }

    // MARK: Building specs and BTF by hand

    /// An object with one xdp program (an `exit` unless given) and the given externs and BTF.
    static func spec(externs: [ExternSpec], btf: TypeGraph?, kconfigSize: UInt32? = nil,
                     instructions: [Instruction] = [.exit], relocations: [RelocationSpec] = []) -> ObjectSpec {
        let function = FunctionSpec(name: "prog", sectionName: "xdp", sectionIndex: 2, sectionSlot: 0,
                                    instructions: instructions, isGlobal: true, relocations: relocations,
                                    coreRelocations: [], functionInfo: [], lineInfo: [])
        let program = ProgramSpec(function: function, sectionName: "xdp", type: .xdp, expectedAttachType: nil,
                                  isSleepable: false, autoload: true, attachTarget: nil, section: nil)
        var maps: [MapSpec] = []
        if let kconfigSize {
            maps.append(MapSpec(name: ".kconfig", kernelName: "x.kconfig", type: .array, keySize: 4, valueSize: kconfigSize,
                                maxEntries: 1, flags: 0, numaNode: 0, pinning: .none, mapExtra: 0, keyTypeID: 0,
                                valueTypeID: 0, innerMap: nil, initialSlots: [], origin: .kconfig,
                                initialValue: [UInt8](repeating: 0, count: Int(kconfigSize)), sectionIndex: 0, sectionOffset: 0))
        }
        return ObjectSpec(name: "test", byteOrder: .little, license: "GPL", kernelVersion: 0, programs: [program],
                          subprograms: [], maps: maps, variables: [], externs: externs, btf: btf, notes: [])
    }
}

/// A little-endian BTF writer for these tests: base BTF, or split BTF on top of a base.
struct TinyBTF {
    var strings: [UInt8] = [0]
    var types: [UInt8] = []
    var count = 0
    var firstID: UInt32 = 1
    var stringBase: UInt32 = 0
    var base: TypeGraph?

    init() {}

    /// Split BTF continuing `base`'s ids and strings.
    init(splitOn base: TypeGraph, baseCount: Int, baseStringLength: Int) {
        self.base = base
        strings = []
        firstID = UInt32(baseCount + 1)
        stringBase = UInt32(baseStringLength)
    }

    mutating func string(_ text: String?) -> UInt32 {
        guard let text, !text.isEmpty else { return 0 }
        let offset = stringBase + UInt32(strings.count)
        strings += Array(text.utf8) + [0]
        return offset
    }

    static func put(_ value: UInt32, _ bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @discardableResult
    mutating func type(_ name: String?, kind: UInt32, vlen: Int = 0, sizeOrType: UInt32 = 0, tail: [UInt32] = []) -> UInt32 {
        let words = [string(name), kind << 24 | UInt32(vlen), sizeOrType] + tail
        for word in words { Self.put(word, &types) }
        count += 1
        return firstID + UInt32(count - 1)
    }

    @discardableResult
    mutating func int(_ name: String, size: UInt32, signed: Bool = false) -> UInt32 {
        type(name, kind: 1, sizeOrType: size, tail: [(signed ? 1 : 0) << 24 | size * 8])
    }
    mutating func pointer(_ target: UInt32) -> UInt32 { type(nil, kind: 2, sizeOrType: target) }
    mutating func structure(_ name: String, size: UInt32) -> UInt32 { type(name, kind: 4, sizeOrType: size) }
    mutating func typedef(_ name: String, _ target: UInt32) -> UInt32 { type(name, kind: 8, sizeOrType: target) }
    mutating func const(_ target: UInt32) -> UInt32 { type(nil, kind: 10, sizeOrType: target) }
    @discardableResult
    mutating func function(_ name: String, proto: UInt32) -> UInt32 { type(name, kind: 12, vlen: 2, sizeOrType: proto) }
    mutating func functionProto(returning: UInt32, params: [UInt32]) -> UInt32 {
        type(nil, kind: 13, vlen: params.count, sizeOrType: returning, tail: params.flatMap { [0, $0] })
    }
    mutating func variable(_ name: String, type target: UInt32) -> UInt32 { type(name, kind: 14, sizeOrType: target, tail: [2]) }

    func graph() throws -> TypeGraph {
        var bytes: [UInt8] = [0x9f, 0xeb, 1, 0]
        for word in [24, 0, UInt32(types.count), UInt32(types.count), UInt32(strings.count)] { Self.put(word, &bytes) }
        let view = ByteView(bytes + types + strings)
        if let base { return try TypeGraph(splitData: view, base: base) }
        return try TypeGraph(data: view)
    }
}
