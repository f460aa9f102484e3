import ByteParsing
import Foundation
import Testing
import TestSupport
@testable import ELF

/// Executables and shared libraries: program headers, dynamic symbols with their versions, and the
/// function → file offset lookup uprobes use; compared with `llvm-readelf` on system files and on
/// binaries compiled here, and checked on hand-made malformed files.
@Suite struct ProgramHeaderTests {
    // MARK: System files and compiled binaries against llvm-readelf

    /// libc and a few system executables and libraries that exist on this machine.
    static var systemFiles: [String] {
        let candidates = [
            "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6",
            "/lib64/libc.so.6", "/usr/lib64/libc.so.6",
            "/usr/bin/env", "/bin/true",
            "/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6",
        ]
        var seen = Set<String>()
        return candidates.filter { path in
            guard FileManager.default.fileExists(atPath: path) else { return false }
            let real = (path as NSString).resolvingSymlinksInPath
            return seen.insert(real).inserted
        }
    }

    /// A small C program compiled here, as a PIE and as a fixed-address executable, with a `.symtab`
    /// (a static function, an exported one, versioned references to libc), in a directory of its own
    /// (tests run in parallel) that `body` may use and that is removed afterwards.
    static func withCompiledBinaries(_ body: ([String]) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "swift-load-elf-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(try compiledBinaries(in: directory))
    }

    static func compiledBinaries(in directory: String) throws -> [String] {
        try require(Tool.path("cc") != nil, "no C compiler to build test executables with")
        guard let cc = Tool.path("cc") else { return [] }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let source = directory + "/program.c"
        try """
        #include <stdio.h>
        __attribute__((noinline)) int swift_load_exported(int x) { return x + 1; }
        __attribute__((noinline)) static int swift_load_static(int x) { return x * 2; }
        __attribute__((weak, noinline)) int swift_load_weak(int x) { return x - 1; }
        int main(int argc, char **argv) { printf("%d\\n", swift_load_exported(argc) + swift_load_static(argc) + swift_load_weak(argc)); return 0; }
        """.write(toFile: source, atomically: true, encoding: .utf8)
        var outputs: [String] = []
        for (name, flags) in [("pie", ["-fPIE", "-pie"]), ("nopie", ["-fno-PIE", "-no-pie"])] {
            let output = directory + "/program-" + name
            let result = try Tool.run(cc, ["-O1", "-o", output, source] + flags)
            #expect(result.status == 0, "cc \(flags): \(result.stderr)")
            if result.status == 0 { outputs.append(output) }
        }
        return outputs
    }

    @Test func programHeadersMatchLLVMReadelf() throws {
        let readelf = try requireReadelf()
        try Self.withCompiledBinaries { compiled in
            let files = Self.systemFiles + compiled
            try require(!files.isEmpty, "no system ELF files found")
            for path in files {
                let file = try ELFFile(contentsOf: path, accepting: .anyFile)
                let output = try Tool.run(readelf, ["-l", "-W", path])
                #expect(output.status == 0)
                let expected = parseProgramHeaders(output.stdout)
                #expect(!expected.isEmpty, "llvm-readelf printed no program headers for \(path)")
                let ours = file.programHeaders.map {
                    ReadelfSegment(type: $0.type.description, offset: $0.offset, virtualAddress: $0.virtualAddress,
                                   physicalAddress: $0.physicalAddress, fileSize: $0.fileSize, memorySize: $0.memorySize,
                                   flags: $0.flags.description.replacingOccurrences(of: " ", with: ""), alignment: $0.alignment)
                }
                #expect(ours == expected, "program headers of \(path)")
                #expect(!file.loadableSegments.isEmpty)
                #expect(file.loadableSegments.contains { $0.isExecutable })
            }
        }
    }

    @Test func symbolTablesMatchLLVMReadelf() throws {
        let readelf = try requireReadelf()
        try Self.withCompiledBinaries { compiled in
            let files = Self.systemFiles + compiled
            try require(!files.isEmpty, "no system ELF files found")
            var versionedSeen = 0
            for path in files {
                let file = try ELFFile(contentsOf: path, accepting: .anyFile)
                let output = try Tool.run(readelf, ["--symbols", "-W", path])
                #expect(output.status == 0)
                let tables = parseSymbolTables(output.stdout)

                let dynamic = try file.dynamicSymbols()
                let versions = try file.dynamicSymbolVersions()
                if let versions { #expect(versions.count == dynamic.count) }
                let ourDynamic = dynamic.map { symbol in
                    row(symbol, name: symbol.versionedName(versions?[symbol.index]))
                }
                #expect(ourDynamic == (tables[".dynsym"] ?? []), "dynamic symbols of \(path)")
                versionedSeen += ourDynamic.filter { $0.name.contains("@") }.count

                if let table = file.staticSymbolTableSection {
                    let ourStatic = try file.symbols(in: table).map { row($0, name: $0.name) }
                    #expect(ourStatic.map(\.withoutSectionName) == (tables[".symtab"] ?? []).map(\.withoutSectionName), "symbols of \(path)")
                } else {
                    #expect(tables[".symtab"] == nil, "\(path): llvm-readelf found a .symtab we did not")
                }
            }
            #expect(versionedSeen > 0, "no versioned dynamic symbol was compared")
        }
    }

    /// The lookup's file offsets agree with the section-based computation libbpf uses
    /// (`st_value - sh_addr + sh_offset` of the symbol's section, from llvm-readelf's section table).
    @Test func functionOffsetsAgreeWithSectionArithmetic() throws {
        let readelf = try requireReadelf()
        try Self.withCompiledBinaries { binaries in
            try require(!binaries.isEmpty, "cc is not installed")
            for path in binaries {
                let file = try ELFFile(contentsOf: path, accepting: .anyFile)
                let sections = try sectionTable(readelf, path)
                let symbols = try file.symbols(in: #require(file.staticSymbolTableSection))
                for name in ["swift_load_exported", "swift_load_static", "swift_load_weak", "main"] {
                    let location = try file.functionLocation(named: name)
                    let symbol = try #require(symbols.first { $0.name == name && $0.type == .function })
                    let section = try #require(sections[Int(symbol.sectionIndex)])
                    #expect(location.address == symbol.value, "\(name) in \(path)")
                    #expect(location.fileOffset == symbol.value - section.address + section.offset, "\(name) in \(path)")
                    #expect(location.segment.isExecutable)
                }
                // The fixed-address binary maps .text at 0x401000 from file offset 0x1000: the offset differs
                // from the address, which is the point of the mapping.
                if path.hasSuffix("nopie") {
                    let main = try file.functionLocation(named: "main")
                    #expect(main.address != main.fileOffset)
                    #expect(file.fileType == ELFConstant.typeExecutable)
                }
                // References to libc functions are undefined here: not functions of this binary.
                #expect(throws: ELFFunctionLookupError.self) { try file.functionLocation(named: "printf") }
                #expect {
                    try file.functionLocation(named: "swift_load_missing")
                } throws: { error in
                    (error as? ELFFunctionLookupError) == .notFound(name: "swift_load_missing", tables: [".dynsym", ".symtab"])
                }
            }
        }
    }

    /// libc: exported functions are found in `.dynsym` with their default version; `name@VER` picks a
    /// hidden version; unversioned names with only a default version resolve unambiguously.
    @Test func libcFunctionsResolveThroughDynsym() throws {
        let readelf = try requireReadelf()
        let libc = try #require(Self.systemFiles.first { $0.hasSuffix("libc.so.6") }, "libc.so.6 not found")
        let file = try ELFFile(contentsOf: libc, accepting: .anyFile)
        #expect(file.fileType == ELFConstant.typeShared)
        let output = try Tool.run(readelf, ["--dyn-syms", "-W", libc]).stdout
        let rows = parseSymbolTables(output)[".dynsym"] ?? []

        let getpid = try file.functionLocation(named: "getpid")
        #expect(getpid.table == .dynsym)
        #expect(getpid.name.hasPrefix("getpid@@GLIBC_"))
        let getpidRow = try #require(rows.first { $0.name == getpid.name })
        #expect(getpid.address == getpidRow.value)
        #expect(getpid.segment.isExecutable)

        // realpath has a default and a hidden (compatibility) version at different addresses.
        let defaults = rows.filter { $0.name.hasPrefix("realpath@@") && $0.type == "FUNC" }
        let hidden = rows.filter { $0.name.hasPrefix("realpath@") && !$0.name.hasPrefix("realpath@@") && $0.type == "FUNC" }
        if let defaultRow = defaults.first, let hiddenRow = hidden.first {
            let plain = try file.functionLocation(named: "realpath")
            #expect(plain.address == defaultRow.value)
            let old = try file.functionLocation(named: hiddenRow.name)
            #expect(old.address == hiddenRow.value)
            #expect(old.name == hiddenRow.name)
            let explicitDefault = try file.functionLocation(named: defaultRow.name)
            #expect(explicitDefault.address == defaultRow.value)
        }
        #expect {
            try file.functionLocation(named: "getpid@@NO_SUCH_VERSION")
        } throws: { ($0 as? ELFFunctionLookupError).map { if case .notFound = $0 { true } else { false } } ?? false }
    }

    // MARK: Hand-made files

    /// A tiny x86-64 executable: `.text`, `.dynsym`/`.dynstr` with versions, `.symtab`/`.strtab`, and
    /// program headers appended by ``withProgramHeaders(_:_:)``.
    struct Executable {
        var elf = TinyELF(order: .little, machine: 62, elfClass: 2, type: 2)
        var dynamicNames: [String] = []
        var dynamicSymbols: [UInt8] = []
        var versions: [UInt16] = []
        var staticNames: [String] = []
        var staticSymbols: [UInt8] = []

        init() {
            dynamicSymbols = [UInt8](repeating: 0, count: 24)
            versions = [0]
            staticSymbols = [UInt8](repeating: 0, count: 24)
        }

        func strings(_ names: [String]) -> ([UInt8], [UInt32]) {
            var bytes: [UInt8] = [0]
            var offsets: [UInt32] = []
            for name in names {
                offsets.append(UInt32(bytes.count))
                bytes += Array(name.utf8) + [0]
            }
            return (bytes, offsets)
        }

        /// Adds a `.dynsym` symbol with version index `version` (0x8000 set: hidden).
        mutating func dynamic(_ name: String, value: UInt64, type: UInt8 = 2, binding: UInt8 = 1, section: UInt16 = 1, version: UInt16 = 1) {
            dynamicNames.append(name)
            let (_, offsets) = strings(dynamicNames)
            dynamicSymbols += elf.symbol(name: offsets.last!, info: binding << 4 | type, shndx: section, value: value, size: 4)
            versions.append(version)
        }

        mutating func local(_ name: String, value: UInt64, type: UInt8 = 2, binding: UInt8 = 1, section: UInt16 = 1) {
            staticNames.append(name)
            let (_, offsets) = strings(staticNames)
            staticSymbols += elf.symbol(name: offsets.last!, info: binding << 4 | type, shndx: section, value: value, size: 4)
        }

        /// Sections: 1 .text, 2 .dynsym, 3 .dynstr, 4 .gnu.version, 5 .gnu.version_d, 6 .symtab, 7 .strtab.
        /// Version definitions: 1 base `libtest.so`, 2 `V1`, 3 `V2`.
        func sections(verdef: [UInt8]? = nil) -> [TinyELF.Section] {
            var dynstrNames = dynamicNames
            dynstrNames += ["libtest.so", "V1", "V2"]
            let (dynstr, dynOffsets) = strings(dynstrNames)
            let versionNames = Array(dynOffsets.suffix(3))
            var definitions: [UInt8] = []
            for (i, nameOffset) in versionNames.enumerated() {
                let last = i == versionNames.count - 1
                definitions += elf.u16(1) + elf.u16(i == 0 ? 1 : 0) + elf.u16(UInt16(i + 1)) + elf.u16(1)
                definitions += elf.u32(0) + elf.u32(20) + elf.u32(last ? 0 : 28)
                definitions += elf.u32(nameOffset) + elf.u32(0)
            }
            let (strtab, _) = strings(staticNames)
            return [
                .init(name: ".text", type: 1, flags: 6, data: [UInt8](repeating: 0xcc, count: 64)),
                .init(name: ".dynsym", type: 11, data: dynamicSymbols, link: 3, info: 1, entrySize: 24),
                .init(name: ".dynstr", type: 3, data: dynstr),
                .init(name: ".gnu.version", type: 0x6fff_ffff, data: versions.flatMap { elf.u16($0) }, link: 2, entrySize: 2),
                .init(name: ".gnu.version_d", type: 0x6fff_fffd, data: verdef ?? definitions, link: 3, info: 3),
                .init(name: ".symtab", type: 2, data: staticSymbols, link: 7, info: 1, entrySize: 24),
                .init(name: ".strtab", type: 3, data: strtab),
            ]
        }

        /// Segments: 0 PT_LOAD R+X, file 0..<size at 0x400000; 1 PT_LOAD R, file 0..<64 at 0x800000.
        func build(verdef: [UInt8]? = nil) -> [UInt8] {
            let bytes = elf.build(sections(verdef: verdef))
            return Self.withProgramHeaders(bytes, [
                (1, 5, 0, 0x400000, UInt64(bytes.count), UInt64(bytes.count)),
                (1, 4, 0, 0x800000, 64, 128),
            ], order: elf)
        }

        /// Appends program headers `(type, flags, offset, vaddr, filesz, memsz)` and points the header at them.
        static func withProgramHeaders(_ bytes: [UInt8], _ headers: [(UInt32, UInt32, UInt64, UInt64, UInt64, UInt64)],
                                       order elf: TinyELF) -> [UInt8] {
            var out = bytes
            while out.count % 8 != 0 { out.append(0) }
            let tableOffset = out.count
            for (type, flags, offset, vaddr, filesz, memsz) in headers {
                out += elf.u32(type) + elf.u32(flags) + elf.u64(offset) + elf.u64(vaddr) + elf.u64(vaddr)
                out += elf.u64(filesz) + elf.u64(memsz) + elf.u64(0x1000)
            }
            out.replaceSubrange(32..<40, with: elf.u64(UInt64(tableOffset)))
            out.replaceSubrange(54..<56, with: elf.u16(56))
            out.replaceSubrange(56..<58, with: elf.u16(UInt16(headers.count)))
            return out
        }
    }

    /// The standard hand-made file: functions at 0x400040+ (file offset 0x40+).
    static func sampleExecutable() -> Executable {
        var exe = Executable()
        exe.dynamic("exported", value: 0x400040)
        exe.dynamic("versioned", value: 0x400044, version: 3)             // versioned@@V2
        exe.dynamic("versioned", value: 0x400048, version: 0x8000 | 2)    // versioned@V1 (hidden)
        exe.dynamic("weakling", value: 0x40004c, binding: 2)
        exe.dynamic("weakling", value: 0x400050, binding: 1)
        exe.dynamic("twice", value: 0x400054)
        exe.dynamic("twice", value: 0x400058)
        exe.dynamic("data_in_readonly", value: 0x800010)
        exe.dynamic("nowhere", value: 0x900000)
        exe.dynamic("zero", value: 0)
        exe.dynamic("undefined", value: 0, section: 0)
        exe.dynamic("variable", value: 0x400060, type: 1)
        exe.local("exported", value: 0x400040)                // same address as .dynsym: not ambiguous
        exe.local("static_only", value: 0x40005c, binding: 0)
        exe.local("tagged@@VS", value: 0x400060)
        exe.local("tagged@VOLD", value: 0x400064)
        exe.local("exported2", value: 0x400068)               // a longer name must not match "exported"
        return exe
    }

    @Test func handMadeExecutableReads() throws {
        let bytes = Self.sampleExecutable().build()
        let file = try ELFFile(bytes: ByteView(bytes), accepting: .anyFile)
        #expect(file.machine == 62)
        #expect(file.programHeaders.count == 2)
        #expect(file.loadableSegments.map(\.virtualAddress) == [0x400000, 0x800000])
        #expect(file.fileOffset(ofAddress: 0x400040) == 0x40)
        #expect(file.fileOffset(ofAddress: 0x800040) == nil, "the zero-filled tail has no file bytes")
        #expect(file.fileOffset(ofAddress: 0x3fffff) == nil)
        let dynamic = try file.dynamicSymbols()
        #expect(dynamic.count == 13)
        let versions = try #require(try file.dynamicSymbolVersions())
        #expect(dynamic[2].versionedName(versions[2]) == "versioned@@V2")
        #expect(dynamic[3].versionedName(versions[3]) == "versioned@V1")
        #expect(dynamic[1].versionedName(versions[1]) == "exported")
        #expect(try file.versionNames() == [1: "libtest.so", 2: "V1", 3: "V2"])
        // A BPF object reader still refuses it.
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { ($0 as? ELFError)?.code == .wrongMachine }
    }

    @Test func functionLookupRules() throws {
        let file = try ELFFile(bytes: ByteView(Self.sampleExecutable().build()), accepting: .anyFile)
        func offset(_ name: String) throws -> UInt64 { try file.functionLocation(named: name).fileOffset }

        #expect(try offset("exported") == 0x40)
        #expect(try file.functionLocation(named: "exported").table == .dynsym)
        // Default version preferred; explicit versions select either.
        #expect(try file.functionLocation(named: "versioned").name == "versioned@@V2")
        #expect(try offset("versioned") == 0x44)
        #expect(try offset("versioned@@V2") == 0x44)
        #expect(try offset("versioned@V1") == 0x48)
        #expect(try offset("versioned@V2") == 0x44, "like libbpf, @ and @@ both name the version")
        // A weak symbol yields to a non-weak one.
        #expect(try offset("weakling") == 0x50)
        // Only .symtab has it.
        #expect(try file.functionLocation(named: "static_only").table == .symtab)
        #expect(try offset("static_only") == 0x5c)
        // .symtab spells versions in names.
        #expect(try offset("tagged") == 0x60)
        #expect(try offset("tagged@VOLD") == 0x64)
        #expect(try offset("tagged@@VS") == 0x60)

        func failure(_ name: String) -> ELFFunctionLookupError? {
            do { _ = try file.functionLocation(named: name); return nil } catch { return error }
        }
        #expect(failure("twice") == .ambiguous(name: "twice", addresses: [0x400054, 0x400058]))
        #expect(failure("data_in_readonly") == .notExecutable(name: "data_in_readonly", address: 0x800010, segment: 1))
        #expect(failure("nowhere") == .notInLoadableSegment(name: "nowhere", address: 0x900000))
        #expect(failure("zero") == .zeroAddress(name: "zero"))
        #expect(failure("undefined") == .notFound(name: "undefined", tables: [".dynsym", ".symtab"]))
        #expect(failure("variable") == .notFound(name: "variable", tables: [".dynsym", ".symtab"]), "objects are not functions")
        #expect(failure("export") == .notFound(name: "export", tables: [".dynsym", ".symtab"]), "no prefix matches")
        #expect(failure("versioned@V9") == .notFound(name: "versioned@V9", tables: [".dynsym", ".symtab"]))
        #expect(failure("exported2") == nil)
        #expect(failure("twice")?.description == "symbol twice is ambiguous: non-weak functions at 0x400054, 0x400058")
    }

    @Test func everyTruncationOfAnExecutableIsAnError() throws {
        let bytes = Self.sampleExecutable().build()
        for length in stride(from: 0, to: bytes.count, by: 1) {
            let prefix = Array(bytes[0..<length])
            do {
                let file = try ELFFile(bytes: ByteView(prefix), accepting: .anyFile)
                // Parsing may succeed only when every table still fits; lookups must then still be safe.
                _ = try? file.dynamicSymbols()
                _ = try? file.dynamicSymbolVersions()
                _ = try? file.functionLocation(named: "exported")
                Issue.record("a file truncated to \(length) of \(bytes.count) bytes was accepted")
            } catch {
                // expected
            }
        }
    }

    @Test func malformedProgramHeaders() throws {
        let elf = TinyELF(order: .little, machine: 62, elfClass: 2, type: 3)
        let base = elf.build(TinyELF.sample().1)
        func read(_ headers: [(UInt32, UInt32, UInt64, UInt64, UInt64, UInt64)], patch: (inout [UInt8]) -> Void = { _ in }) -> ELFError? {
            var bytes = Executable.withProgramHeaders(base, headers, order: elf)
            patch(&bytes)
            do { _ = try ELFFile(bytes: ByteView(bytes), accepting: .anyFile); return nil } catch { return error }
        }
        let size = UInt64(base.count)
        #expect(read([(1, 5, 0, 0x1000, size, size)]) == nil)
        #expect(read([(1, 5, 0, 0x1000, size + 4096, size + 4096)])?.code == .badProgramHeader)
        #expect(read([(1, 5, UInt64.max - 8, 0x1000, 64, 64)])?.code == .badProgramHeader)
        #expect(read([(1, 5, 0, 0x1000, 64, 32)])?.code == .badProgramHeader)
        #expect(read([(1, 5, 0, UInt64.max - 16, 32, 64)])?.code == .badProgramHeader)
        // Non-loadable segments are not checked against the file (llvm-readelf prints them as they are).
        #expect(read([(4, 4, 1 << 40, 0, 64, 64)]) == nil)
        #expect(read([(1, 5, 0, 0x1000, 64, 64)]) { $0.replaceSubrange(54..<56, with: elf.u16(32)) }?.code == .badHeader)
        #expect(read([(1, 5, 0, 0x1000, 64, 64)]) { $0.replaceSubrange(56..<58, with: elf.u16(600)) }?.code == .truncated)
        #expect(read([(1, 5, 0, 0x1000, 64, 64)]) { $0.replaceSubrange(32..<40, with: elf.u64(UInt64.max)) }?.code == .truncated)
        // PN_XNUM: the count comes from section 0's sh_info, which TinyELF leaves 0.
        #expect(read([(1, 5, 0, 0x1000, 64, 64)]) { $0.replaceSubrange(56..<58, with: elf.u16(0xffff)) } == nil)
    }

    @Test func malformedVersionDefinitions() throws {
        let exe = Self.sampleExecutable()
        let elf = exe.elf
        // A definition whose vd_next points far outside the section.
        var wild = elf.u16(1) + elf.u16(0) + elf.u16(2) + elf.u16(1) + elf.u32(0) + elf.u32(20) + elf.u32(0x7fff_fff0)
        wild += elf.u32(1) + elf.u32(0)
        var file = try ELFFile(bytes: ByteView(exe.build(verdef: wild)), accepting: .anyFile)
        #expect { try file.dynamicSymbolVersions() } throws: { ($0 as? ELFError)?.code == .badVersionTable }
        // An aux record outside the section.
        let badAux = elf.u16(1) + elf.u16(0) + elf.u16(2) + elf.u16(1) + elf.u32(0) + elf.u32(4000) + elf.u32(0)
        file = try ELFFile(bytes: ByteView(exe.build(verdef: badAux)), accepting: .anyFile)
        #expect { try file.dynamicSymbolVersions() } throws: { ($0 as? ELFError)?.code == .badVersionTable }
        // A name outside .dynstr.
        let badName = elf.u16(1) + elf.u16(0) + elf.u16(2) + elf.u16(1) + elf.u32(0) + elf.u32(20) + elf.u32(0)
            + elf.u32(0xffff) + elf.u32(0)
        file = try ELFFile(bytes: ByteView(exe.build(verdef: badName)), accepting: .anyFile)
        #expect { try file.dynamicSymbolVersions() } throws: { ($0 as? ELFError)?.code == .badName }
        // The lookup reports a malformed file as such.
        #expect { try file.functionLocation(named: "exported") } throws: { error in
            if case .malformed(let inner) = error as? ELFFunctionLookupError { inner.code == .badName } else { false }
        }
    }

    @Test func strippedExecutableWithoutSectionHeaders() throws {
        let elf = TinyELF(order: .little, machine: 62, elfClass: 2, type: 2)
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.replaceSubrange(0..<8, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0])
        bytes.replaceSubrange(16..<20, with: elf.u16(2) + elf.u16(62))
        bytes.replaceSubrange(52..<54, with: elf.u16(64))
        bytes += [UInt8](repeating: 0x90, count: 64)
        bytes = Executable.withProgramHeaders(bytes, [(1, 5, 0, 0x400000, 128, 128)], order: elf)
        let file = try ELFFile(bytes: ByteView(bytes), accepting: .anyFile)
        #expect(file.sections.isEmpty)
        #expect(file.programHeaders.count == 1)
        #expect(try file.dynamicSymbols().isEmpty)
        #expect(try file.dynamicSymbolVersions() == nil)
        #expect { try file.functionLocation(named: "main") } throws: { error in
            (error as? ELFFunctionLookupError)?.description == "no symbol main: the file has no symbol table (neither .symtab nor .dynsym)"
        }
        // A BPF object must have section headers.
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { ($0 as? ELFError)?.code == .wrongMachine }
    }

    @Test func thirtyTwoBitFilesAreNamedAsSuch() {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.replaceSubrange(0..<8, with: [0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0])
        #expect(throws: ELFError(.wrongClass, at: 4, "class 1 is not ELFCLASS64; only 64-bit ELF files are read")) {
            try ELFFile(bytes: ByteView(bytes), accepting: .anyFile)
        }
    }

    // MARK: llvm-readelf parsing

    func requireReadelf() throws -> String {
        let readelf = Tool.path("llvm-readelf")
        try require(readelf != nil, "llvm-readelf is not installed (Debian package llvm)")
        return readelf!
    }

    func row(_ symbol: ELFSymbol, name: String) -> ReadelfSymbol {
        ReadelfSymbol(index: symbol.index, value: symbol.value, size: symbol.size, type: symbol.type.description,
                      binding: symbol.binding.description, visibility: symbol.visibility.description,
                      section: sectionColumn(symbol.sectionIndex), name: name)
    }

    func sectionColumn(_ index: UInt32) -> String {
        switch index {
        case 0: "UND"
        case ELFConstant.sectionAbsolute: "ABS"
        case ELFConstant.sectionCommon: "COM"
        default: String(index)
        }
    }

    struct ReadelfSegment: Equatable, CustomStringConvertible {
        var type: String, offset: UInt64, virtualAddress: UInt64, physicalAddress: UInt64
        var fileSize: UInt64, memorySize: UInt64, flags: String, alignment: UInt64
        var description: String {
            "\(type) off=0x\(String(offset, radix: 16)) vaddr=0x\(String(virtualAddress, radix: 16)) filesz=0x\(String(fileSize, radix: 16)) memsz=0x\(String(memorySize, radix: 16)) \(flags)"
        }
    }

    struct ReadelfSymbol: Equatable, CustomStringConvertible {
        var index: Int, value: UInt64, size: UInt64, type: String, binding: String, visibility: String, section: String, name: String
        var withoutSectionName: ReadelfSymbol {
            var copy = self
            if type == "SECTION" { copy.name = "" }
            return copy
        }
        var description: String { "\(index): \(String(value, radix: 16)) \(size) \(type) \(binding) \(visibility) \(section) \(name)" }
    }

    static func hex(_ text: Substring) -> UInt64? {
        UInt64(text.hasPrefix("0x") ? text.dropFirst(2) : text, radix: 16)
    }

    /// `llvm-readelf -l -W`: the rows between `Program Headers:` and the blank line after them.
    func parseProgramHeaders(_ text: String) -> [ReadelfSegment] {
        var result: [ReadelfSegment] = []
        var inTable = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Program Headers:") { inTable = true; continue }
            guard inTable else { continue }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { break }
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[0] != "Type", !line.contains("[Requesting") else { continue }
            guard let offset = Self.hex(fields[1]), let vaddr = Self.hex(fields[2]), let paddr = Self.hex(fields[3]),
                  let filesz = Self.hex(fields[4]), let memsz = Self.hex(fields[5]), let align = Self.hex(fields.last!) else { continue }
            result.append(ReadelfSegment(type: String(fields[0]), offset: offset, virtualAddress: vaddr, physicalAddress: paddr,
                                         fileSize: filesz, memorySize: memsz,
                                         flags: fields[6..<(fields.count - 1)].joined(), alignment: align))
        }
        return result
    }

    /// `llvm-readelf --symbols -W`: rows per table (`.dynsym`, `.symtab`), keyed by the table's name.
    func parseSymbolTables(_ text: String) -> [String: [ReadelfSymbol]] {
        var tables: [String: [ReadelfSymbol]] = [:]
        var current: String?
        for rawLine in text.split(separator: "\n") {
            if rawLine.hasPrefix("Symbol table '"), let end = rawLine.dropFirst(14).firstIndex(of: "'") {
                let name = String(rawLine[rawLine.index(rawLine.startIndex, offsetBy: 14)..<end])
                current = name
                tables[name] = []
                continue
            }
            guard let current else { continue }
            let line = rawLine.trimmingPrefix(while: { $0 == " " })
            guard let colon = line.firstIndex(of: ":"), let index = Int(line[..<colon]) else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6 else { continue }
            let size = UInt64(fields[1]) ?? Self.hex(fields[1]) ?? 0
            tables[current]!.append(ReadelfSymbol(
                index: index, value: UInt64(fields[0], radix: 16) ?? 0, size: size,
                type: String(fields[2]), binding: String(fields[3]), visibility: String(fields[4]),
                section: String(fields[5]), name: fields.count > 6 ? fields[6...].joined(separator: " ") : ""))
        }
        return tables
    }

    /// Section index → (address, offset), from `llvm-readelf -S -W`.
    func sectionTable(_ readelf: String, _ path: String) throws -> [Int: (address: UInt64, offset: UInt64)] {
        let output = try Tool.run(readelf, ["-S", "-W", path]).stdout
        var result: [Int: (address: UInt64, offset: UInt64)] = [:]
        for rawLine in output.split(separator: "\n") {
            let line = rawLine.trimmingPrefix(while: { $0 == " " })
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]"),
                  let index = Int(line[line.index(after: line.startIndex)..<close].trimmingPrefix(while: { $0 == " " })) else { continue }
            let fields = line[line.index(after: close)...].split(separator: " ")
            guard fields.count >= 5, let address = Self.hex(fields[2]), let offset = Self.hex(fields[3]) else { continue }
            result[index] = (address, offset)
        }
        return result
    }
}
