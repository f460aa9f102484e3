import BTF
import ByteParsing
import ELF
import Foundation
import Testing
import TestSupport
@testable import BPFObject

/// The BTF handed to `BPF_BTF_LOAD`: libbpf's fix-ups (DATASEC sizes and offsets, externs, hidden
/// symbols) on our fixtures and on a hand-built object, then sanitisation.
@Suite struct ObjectKernelBTFTests {
    static func fixture(_ name: String) throws -> ObjectSpec {
        try ObjectSpec(contentsOf: TestPaths.fixtures + "/" + name)
    }

    /// The `.BTF` section of an object, its bytes in file order.
    static func btfSection(_ path: String) throws -> (ELFFile, ByteView) {
        let file = try ELFFile(contentsOf: path)
        let section = try #require(file.section(named: ".BTF"), "\(path) has .BTF")
        return (file, file.contents(of: section))
    }

    // MARK: - Every fixture

    @Test(arguments: TestPaths.fixtureObjects)
    func unsanitisedImageIsTheSection(path: String) throws {
        let (_, section) = try Self.btfSection(path)
        let graph = try TypeGraph(data: section)
        let image = try graph.kernelImage(for: .all)
        if graph.byteOrder == .host {
            #expect(image == section.allBytes, "\(path): the image is the .BTF section byte for byte")
            return
        }
        // The other order: the same types, swapped.
        let swapped = try TypeGraph(data: ByteView(image))
        #expect(swapped.byteOrder == .host)
        #expect(swapped.count == graph.count)
        #expect(swapped.stringLength == graph.stringLength)
        for id in graph.ownIDs {
            let a = try graph.type(id), b = try swapped.type(id)
            #expect(a.kind == b.kind && a.nameOffset == b.nameOffset && a.vlen == b.vlen
                    && a.kindFlag == b.kindFlag && a.sizeOrType == b.sizeOrType, "\(path): type \(id)")
        }
    }

    @Test(arguments: TestPaths.fixtureObjects)
    func kernelImagesDecode(path: String) throws {
        let spec = try ObjectSpec(contentsOf: path)
        let full = try #require(try spec.kernelBTF(support: .all))
        let minimal = try #require(try spec.kernelBTF(support: .none))
        let graph = try TypeGraph(data: ByteView(full))
        #expect(graph.byteOrder == .host)
        // Every DATASEC has a size now, and sorted entries.
        for id in graph.ownIDs where try graph.kind(of: id) == .dataSection {
            let name = try graph.name(of: id)
            #expect(try graph.type(id).size != 0, "\(path): DATASEC \(name) has a size")
            let offsets = try graph.dataSectionVariables(of: id).map(\.offset)
            #expect(offsets == offsets.sorted(), "\(path): DATASEC \(name) sorted")
        }
        let old = try TypeGraph(data: ByteView(minimal))
        let btf = try #require(spec.btf)
        #expect(old.count >= btf.count && old.count <= btf.count + 2)
        for id in old.ownIDs {
            let kind = try old.kind(of: id)
            #expect(kind.rawValue <= BTFKind.restrict.rawValue, "\(path): type \(id) is \(kind)")
        }
        try require(Tool.path("bpftool") != nil, "bpftool (the BTF cross-check) is not installed")
        if let bpftool = Tool.path("bpftool") {
            for (label, bytes) in [("all", full), ("none", minimal)] {
                let file = FileManager.default.temporaryDirectory
                    .appendingPathComponent("swift-load-kernel-btf-\(getpid())-\(label)-\((path as NSString).lastPathComponent)")
                try Data(bytes).write(to: file)
                defer { try? FileManager.default.removeItem(at: file) }
                let output = try Tool.run(bpftool, ["btf", "dump", "file", file.path])
                #expect(output.status == 0, "bpftool cannot read the \(label) image of \(path): \(output.stderr)")
            }
        }
    }

    // MARK: - globals.bpf.c

    @Test(arguments: ["globals.o", "globals.bpfeb.o"])
    func dataSectionsTakeTheELFLayout(file: String) throws {
        let path = TestPaths.fixtures + "/" + file
        let spec = try ObjectSpec(contentsOf: path)
        let elf = try ELFFile(contentsOf: path)
        let symbols = try elf.symbols()
        let original = try #require(spec.btf)
        let image = try #require(try spec.fixedUpBTF())
        let graph = try image.graph()
        var checked = 0
        for id in graph.ownIDs where try graph.kind(of: id) == .dataSection {
            let name = try graph.name(of: id)
            let section = try #require(elf.section(named: name))
            #expect(try original.type(id).size == 0, "clang left \(name) without size")
            #expect(try graph.type(id).size == UInt32(section.size), "DATASEC \(name) size")
            var offsets: [UInt32] = []
            for entry in try graph.dataSectionVariables(of: id) {
                let variable = try graph.name(of: entry.type)
                guard case .variable(_, let linkage) = try graph.type(entry.type).payload else {
                    Issue.record("\(name) lists a non-VAR")
                    continue
                }
                offsets.append(entry.offset)
                if linkage == .static {
                    // Static variables keep clang's offsets; check it is the symbol's anyway.
                    let symbol = symbols.first { $0.name == variable && Int($0.sectionIndex) == section.index }
                    #expect(symbol.map { UInt32($0.value) } == entry.offset, "\(name).\(variable) offset")
                    continue
                }
                let symbol = try #require(symbols.first { $0.name == variable && $0.type == .object })
                #expect(entry.offset == UInt32(symbol.value), "\(name).\(variable) offset")
                #expect(Int(symbol.sectionIndex) == section.index)
                checked += 1
            }
            #expect(offsets == offsets.sorted())
        }
        // bss_counter, bss_array, message, data_counter, data_array, 4 knobs, LICENSE.
        #expect(checked == 10)
        let rodata = try #require(graph.firstID(named: ".rodata", kind: .dataSection))
        let names = try graph.dataSectionVariables(of: rodata).map { try graph.name(of: $0.type) }
        #expect(names.count == 5 && names.contains("banner_fmt"))
        // The global data map's value size and the DATASEC agree, as the kernel checks.
        for map in spec.maps where map.isInternal && map.valueTypeID != 0 {
            #expect(try graph.type(map.valueTypeID).size == map.valueSize, "map \(map.name)")
        }
    }

    @Test(arguments: ["core.o", "core.bpfeb.o", "attach_kernel.o"])
    func kconfigTakesTheMapLayout(file: String) throws {
        let spec = try Self.fixture(file)
        let map = try #require(spec.map(named: ".kconfig"))
        let graph = try #require(try spec.fixedUpBTF()).graph()
        let section = try #require(graph.firstID(named: ".kconfig", kind: .dataSection))
        #expect(try graph.type(section).size == map.valueSize)
        let entries = Array(try graph.dataSectionVariables(of: section))
        #expect(entries.map(\.offset) == entries.map(\.offset).sorted())
        for entry in entries {
            let name = try graph.name(of: entry.type)
            let extern = try #require(spec.externs.first { $0.name == name })
            guard case .kconfig(let offset, let size, _) = extern.kind else {
                Issue.record("\(name) is no kconfig extern")
                continue
            }
            #expect(entry.offset == offset && entry.size == size, "\(name)")
            guard case .variable(_, let linkage) = try graph.type(entry.type).payload else {
                Issue.record("\(name) is no VAR")
                continue
            }
            #expect(linkage == .global)
        }
    }

    @Test func noBTFNoImage() throws {
        var spec = try Self.fixture("hello.o")
        spec.btf = nil
        #expect(try spec.kernelBTF(support: .all) == nil)
    }

    // MARK: - A hand-built object: ksyms, kfuncs, hidden symbols

    /// Type ids of ``handBuilt()``.
    enum Hand {
        static let int: UInt32 = 1, proto: UInt32 = 2, kfunc: UInt32 = 3, ksymVar: UInt32 = 4, ksyms: UInt32 = 5
        static let hiddenVar: UInt32 = 6, staticVar: UInt32 = 7, visibleVar: UInt32 = 8, data: UInt32 = 9
        static let voidProto: UInt32 = 10, hiddenSub: UInt32 = 11, mainProg: UInt32 = 12
        static let placeholder: UInt32 = 13
    }

    /// Raw little-endian BTF from records of words and a string table.
    static func blob(_ records: [[UInt32]], strings: [UInt8]) -> [UInt8] {
        var words: [UInt32] = []
        for record in records { words += record }
        var out: [UInt8] = []
        func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        out += [0x9F, 0xEB, 1, 0]
        for v in [24, 0, UInt32(words.count * 4), UInt32(words.count * 4), UInt32(strings.count)] { put(v) }
        for v in words { put(v) }
        return out + strings
    }

    static func info(_ kind: UInt32, _ vlen: UInt32 = 0) -> UInt32 { kind << 24 | vlen }

    /// DATASEC entries as (type, offset, size) triples.
    static func entries(_ list: BTFDataSectionVariableList) -> [[UInt32]] { list.map { [$0.type, $0.offset, $0.size] } }

    /// `extern int bpf_kfunc(int, int x) __ksym; extern const int ksym_var __ksym;` a hidden, a static and
    /// a visible variable in `.data` (16 bytes), a hidden global subprogram and a program.
    static func handBuilt(externs: [ExternSpec]? = nil, facts: BTFFixupFacts? = nil) throws -> ObjectSpec {
        var strings: [UInt8] = [0]
        func s(_ text: String) -> UInt32 {
            let offset = UInt32(strings.count)
            strings += Array(text.utf8) + [0]
            return offset
        }
        let records: [[UInt32]] = [
            [s("int"), info(1), 4, 1 << 24 | 32],
            [0, info(13, 2), Hand.int, 0, Hand.int, s("x"), Hand.int],
            [s("bpf_kfunc"), info(12, 2), Hand.proto],
            [s("ksym_var"), info(14), Hand.int, 2],
            [s(".ksyms"), info(15, 2), 0, Hand.kfunc, 0, 0, Hand.ksymVar, 0, 4],
            [s("hidden_var"), info(14), Hand.int, 1],
            [s("static_var"), info(14), Hand.int, 0],
            [s("visible_var"), info(14), Hand.int, 1],
            [s(".data"), info(15, 3), 0, Hand.visibleVar, 0, 4, Hand.hiddenVar, 0, 4, Hand.staticVar, 12, 4],
            [0, info(13), Hand.int],
            [s("hidden_sub"), info(12, 1), Hand.voidProto],
            [s("main_prog"), info(12, 1), Hand.voidProto],
        ]
        let btf = try TypeGraph(data: ByteView(blob(records, strings: strings)))
        var spec = ObjectSpec(
            name: "hand", byteOrder: .little, license: "GPL", kernelVersion: 0, programs: [], subprograms: [],
            maps: [], variables: [],
            externs: externs ?? [
                ExternSpec(name: "bpf_kfunc", kind: .kfunc, isWeak: false, typeID: Hand.kfunc),
                ExternSpec(name: "ksym_var", kind: .ksym(typed: true), isWeak: false, typeID: Hand.ksymVar),
            ],
            btf: btf, notes: [])
        if let facts {
            spec.btfFixupFacts = facts
        } else {
            spec.btfFixupFacts.sectionSizes = [".data": 16, ".text": 64]
            spec.btfFixupFacts.objectSymbols = [
                "visible_var": .init(value: 8, isHidden: false),
                "hidden_var": .init(value: 4, isHidden: true),
            ]
            spec.btfFixupFacts.hiddenSubprograms = ["hidden_sub"]
        }
        return spec
    }

    @Test func kernelSymbolsAndHiddenSymbols() throws {
        let spec = try Self.handBuilt()
        let graph = try #require(try spec.fixedUpBTF()).graph()
        #expect(graph.count == Int(Hand.placeholder))

        // The placeholder VAR for kfuncs.
        #expect(try graph.name(of: Hand.placeholder) == ObjectSpec.kernelSymbolPlaceholderName)
        guard case .variable(let placeholderType, let placeholderLinkage) = try graph.type(Hand.placeholder).payload else {
            Issue.record("no placeholder VAR")
            return
        }
        #expect(placeholderType == Hand.int && placeholderLinkage == .global)

        // .ksyms: 4 bytes per entry, the kfunc through the placeholder.
        #expect(try graph.type(Hand.ksyms).size == 8)
        #expect(Self.entries(try graph.dataSectionVariables(of: Hand.ksyms)) == [
            [Hand.placeholder, 0, 4],
            [Hand.ksymVar, 4, 4],
        ])
        #expect(try graph.type(Hand.kfunc).payload.linkage == .global)
        #expect(try graph.parameters(of: Hand.proto).map { graph.string(at: $0.nameOffset) } == ["dummy_ksym", "x"])
        guard case .variable(let ksymType, let ksymLinkage) = try graph.type(Hand.ksymVar).payload else {
            Issue.record("ksym_var is no VAR")
            return
        }
        #expect(ksymType == Hand.int && ksymLinkage == .global)

        // .data: the ELF size, symbol offsets, sorted; the hidden variable static.
        #expect(try graph.type(Hand.data).size == 16)
        #expect(Self.entries(try graph.dataSectionVariables(of: Hand.data)) == [
            [Hand.hiddenVar, 4, 4],
            [Hand.visibleVar, 8, 4],
            [Hand.staticVar, 12, 4],
        ])
        #expect(try graph.type(Hand.hiddenVar).payload.variableLinkage == .static)
        #expect(try graph.type(Hand.visibleVar).payload.variableLinkage == .global)

        // The hidden subprogram's FUNC is static, the program's stays global.
        #expect(try graph.type(Hand.hiddenSub).payload.linkage == .static)
        #expect(try graph.type(Hand.mainProg).payload.linkage == .global)

        // Sanitised for an old kernel, everything still decodes.
        let old = try TypeGraph(data: ByteView(try #require(try spec.kernelBTF(support: .none))))
        #expect(try old.kind(of: Hand.ksyms) == .struct)
        #expect(try old.members(of: Hand.ksyms).map { old.string(at: $0.nameOffset) } == ["dummy_ksym", "ksym_var"])
        #expect(try old.kind(of: Hand.kfunc) == .typedef)
    }

    @Test func withoutKernelSymbolExternsTheKsymsSectionOnlyGetsThePlaceholder() throws {
        let spec = try Self.handBuilt(externs: [])
        let graph = try #require(try spec.fixedUpBTF()).graph()
        #expect(graph.count == Int(Hand.placeholder))
        #expect(try graph.type(Hand.ksyms).size == 0)
        #expect(try graph.dataSectionVariables(of: Hand.ksyms).map(\.type) == [Hand.kfunc, Hand.ksymVar])
    }

    @Test func aKernelSymbolWithoutExternIsRefused() throws {
        let spec = try Self.handBuilt(externs: [ExternSpec(name: "bpf_kfunc", kind: .kfunc, isWeak: false, typeID: 3)])
        do {
            _ = try spec.fixedUpBTF()
            Issue.record("ksym_var has no extern symbol")
        } catch {
            #expect(error.code == .extern)
            #expect(error.message.contains("ksym_var"))
        }
    }

    @Test func aDataSectionWithoutELFSectionIsRefused() throws {
        var facts = BTFFixupFacts()
        facts.objectSymbols = ["visible_var": .init(value: 8, isHidden: false), "hidden_var": .init(value: 4, isHidden: true)]
        let withoutSection = try Self.handBuilt(facts: facts)
        do {
            _ = try withoutSection.kernelBTF(support: .all)
            Issue.record(".data has no section size")
        } catch {
            #expect(error.code == .btf)
            #expect(error.message.contains(".data"))
        }
        facts.sectionSizes = [".data": 16]
        facts.objectSymbols["visible_var"] = nil
        let withoutSymbol = try Self.handBuilt(facts: facts)
        do {
            _ = try withoutSymbol.kernelBTF(support: .all)
            Issue.record("visible_var has no symbol")
        } catch {
            #expect(error.code == .btf)
            #expect(error.message.contains("visible_var"))
        }
    }
}

/// libbpf as the oracle: the BTF libbpf 1.x would load on a kernel with every feature, compared byte for
/// byte with ``ObjectSpec/kernelBTF(support:)`` for `.all`.
@Suite struct ObjectKernelBTFOracleTests {
    static var objects: [String] {
        TestPaths.fixtureObjects.filter { !$0.hasSuffix(".bpfeb.o") } + TestPaths.ciliumObjects()
    }

    @Test(arguments: objects)
    func sameBytesAsLibbpf(path: String) throws {
        let oracle = try BTFFixupOracle.executable()
        let output = try Tool.run(oracle, ["load", path])
        // libbpf refuses some objects we accept (legacy maps: 2), and some have no BTF (4); anything else
        // means the harness itself failed.
        guard output.status == 0 else {
            if output.status != 2 && output.status != 4 {
                Issue.record("\(path): the libbpf oracle failed (status \(output.status)): \(output.stderr)")
            }
            return
        }
        let spec = try ObjectSpec(contentsOf: path)
        let ours = try #require(try spec.kernelBTF(support: .all))
        Self.expectSame(ours, [UInt8](output.stdoutData), path)
    }

    /// An object compiled here (when clang has a BPF target) with what the fixtures lack: kfuncs, typed
    /// and typeless ksyms, a kconfig value, hidden and static variables, a hidden subprogram, a float.
    @Test func externsAndHiddenSymbolsAsLibbpf() throws {
        let oracle = try BTFFixupOracle.executable()
        let object = try BPFCompiler.compile(TestPaths.root + "/Tests/Oracles/btf_fixup_externs.bpf.c")
        defer { try? FileManager.default.removeItem(atPath: object) }
        let output = try Tool.run(oracle, ["load", object])
        #expect(output.status == 0, "libbpf: \(output.stderr)")
        let spec = try ObjectSpec(contentsOf: object)
        let ours = try #require(try spec.kernelBTF(support: .all))
        Self.expectSame(ours, [UInt8](output.stdoutData), object)
        // And what the comparison covers.
        let graph = try TypeGraph(data: ByteView(ours))
        let ksyms = try #require(graph.firstID(named: ".ksyms", kind: .dataSection))
        #expect(try graph.dataSectionVariables(of: ksyms).map { try graph.name(of: $0.type) }
                == ["dummy_ksym", "bpf_prog_active", "bpf_link_fops"])
        let hidden = try #require(graph.firstID(named: "hidden_sub", kind: .function))
        #expect(try graph.type(hidden).payload.linkage == .static)
        let variable = try #require(graph.firstID(named: "hidden_var", kind: .variable))
        #expect(try graph.type(variable).payload.variableLinkage == .static)
    }

    /// Reports the first differing byte and the types around it rather than two blobs.
    static func expectSame(_ ours: [UInt8], _ theirs: [UInt8], _ what: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        if ours == theirs { return }
        let first = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(ours.count, theirs.count)
        Issue.record("\(what): \(ours.count) bytes vs libbpf's \(theirs.count), first difference at byte \(first)",
                     sourceLocation: sourceLocation)
    }
}

/// `Tests/Oracles/libbpf_btf_fixup.c`, compiled once against the system libbpf.
enum BTFFixupOracle {
    private static let build = CHarness(label: "libbpf BTF fix-up oracle", source: "libbpf_btf_fixup.c",
                                        linkFlags: ["-lbpf", "-lelf", "-lz"], requirements: [CHarness.libbpfHeaders])

    /// The compiled oracle; skips the test when a compiler or libbpf is missing (fails under
    /// `SWIFT_LOAD_REQUIRE_KERNEL=1`), fails it when the harness does not compile.
    static func executable(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try build.executable(sourceLocation: sourceLocation)
    }
}

/// Compiles a BPF C source into a temporary object with a clang that has the BPF target (the fixtures'
/// flags); skips the test when there is none.
enum BPFCompiler {
    struct Failure: Error {
        var reason: String
    }

    static func clang() -> String? {
        for candidate in ["/opt/swift/usr/bin/clang", Tool.path("clang")].compactMap({ $0 }) {
            guard FileManager.default.isExecutableFile(atPath: candidate),
                  let targets = try? Tool.run(candidate, ["-print-targets"]), targets.stdout.contains("bpfel") else {
                continue
            }
            return candidate
        }
        return nil
    }

    static func compile(_ source: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        guard let clang = clang() else {
            try require(false, "no clang with the BPF target to compile \(source)", sourceLocation: sourceLocation)
            throw Failure(reason: "no clang")
        }
        // <linux/types.h> needs the multiarch <asm/types.h>.
        let includes = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/include")) ?? [])
            .filter { $0.hasSuffix("-linux-gnu") && FileManager.default.fileExists(atPath: "/usr/include/\($0)/asm/types.h") }
            .map { "-I/usr/include/\($0)" }
        let object = NSTemporaryDirectory() + "swift-load-btf-fixup-\(getpid())-\(UUID().uuidString).o"
        let output = try Tool.run(clang, ["-g", "-O2", "-target", "bpfel", "-mcpu=v3"] + includes
                                  + ["-c", source, "-o", object])
        guard output.status == 0 else {
            Issue.record("clang cannot compile \(source): \(output.stderr)", sourceLocation: sourceLocation)
            throw Failure(reason: "compile failed")
        }
        return object
    }
}

extension BTFType.Payload {
    var linkage: BTFFunctionLinkage? {
        if case .function(_, let linkage) = self { return linkage }
        return nil
    }

    var variableLinkage: BTFVariableLinkage? {
        if case .variable(_, let linkage) = self { return linkage }
        return nil
    }
}
