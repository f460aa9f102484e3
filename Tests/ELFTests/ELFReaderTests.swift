import ByteParsing
import Testing
import TestSupport
@testable import ELF

/// Builds small ELF64 BPF objects byte by byte, so malformed variants can be made precisely.
struct TinyELF {
    var order: ByteOrder = .little
    var machine: UInt16 = 247
    var elfClass: UInt8 = 2
    var type: UInt16 = 1

    struct Section {
        var name: String
        var type: UInt32
        var flags: UInt64 = 0
        var data: [UInt8]
        var link: UInt32 = 0
        var info: UInt32 = 0
        var entrySize: UInt64 = 0
    }

    /// `.text` (2 instructions), `.symtab` with one FUNC symbol, `.strtab`, `.shstrtab`, `.rel.text`.
    static func sample(order: ByteOrder = .little) -> (TinyELF, [Section]) {
        var elf = TinyELF()
        elf.order = order
        let code: [UInt8] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]
        let strtab = Array("\0prog\0".utf8)
        var symtab = [UInt8](repeating: 0, count: 24)  // null symbol
        symtab += elf.symbol(name: 1, info: 0x12, shndx: 1, value: 0, size: 16)
        let rel = elf.u64(0) + elf.u64(UInt64(1) << 32 | 10)
        return (elf, [
            Section(name: ".text", type: 1, flags: 6, data: code),
            Section(name: ".rel.text", type: 9, data: rel, link: 3, info: 1, entrySize: 16),
            Section(name: ".symtab", type: 2, data: symtab, link: 4, info: 1, entrySize: 24),
            Section(name: ".strtab", type: 3, data: strtab),
        ])
    }

    func u16(_ v: UInt16) -> [UInt8] { order == .little ? [UInt8(v & 0xff), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xff)] }
    func u32(_ v: UInt32) -> [UInt8] { order == .little ? u16(UInt16(v & 0xffff)) + u16(UInt16(v >> 16)) : u16(UInt16(v >> 16)) + u16(UInt16(v & 0xffff)) }
    func u64(_ v: UInt64) -> [UInt8] { order == .little ? u32(UInt32(v & 0xffff_ffff)) + u32(UInt32(v >> 32)) : u32(UInt32(v >> 32)) + u32(UInt32(v & 0xffff_ffff)) }

    func symbol(name: UInt32, info: UInt8, shndx: UInt16, value: UInt64, size: UInt64) -> [UInt8] {
        u32(name) + [info, 0] + u16(shndx) + u64(value) + u64(size)
    }

    /// Lays out: header, section data, `.shstrtab`, section headers.
    func build(_ sections: [Section]) -> [UInt8] {
        var names: [UInt8] = [0]
        var nameOffsets: [UInt32] = []
        for section in sections + [Section(name: ".shstrtab", type: 3, data: [])] {
            nameOffsets.append(UInt32(names.count))
            names += Array(section.name.utf8) + [0]
        }
        let all = sections + [Section(name: ".shstrtab", type: 3, data: names)]
        var body: [UInt8] = []
        var offsets: [Int] = []
        for section in all {
            while body.count % 8 != 0 { body.append(0) }
            offsets.append(64 + body.count)
            if section.type != 8 { body += section.data }
        }
        while body.count % 8 != 0 { body.append(0) }
        let tableOffset = 64 + body.count
        var header: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, elfClass, order == .little ? 1 : 2, 1, 0] + [UInt8](repeating: 0, count: 8)
        header += u16(type) + u16(machine) + u32(1) + u64(0) + u64(0) + u64(UInt64(tableOffset))
        header += u32(0) + u16(64) + u16(0) + u16(0) + u16(64) + u16(UInt16(all.count + 1)) + u16(UInt16(all.count))
        var table = [UInt8](repeating: 0, count: 64)
        for (i, section) in all.enumerated() {
            table += u32(nameOffsets[i]) + u32(section.type) + u64(section.flags) + u64(0)
            table += u64(UInt64(offsets[i])) + u64(UInt64(section.data.count)) + u32(section.link) + u32(section.info)
            table += u64(8) + u64(section.entrySize)
        }
        return header + body + table
    }
}

@Suite struct ELFReaderTests {
    @Test(arguments: [ByteOrder.little, .big])
    func readsSampleInBothOrders(order: ByteOrder) throws {
        let (elf, sections) = TinyELF.sample(order: order)
        let file = try ELFFile(bytes: ByteView(elf.build(sections)))
        #expect(file.byteOrder == order)
        #expect(file.sections.map(\.name) == ["", ".text", ".rel.text", ".symtab", ".strtab", ".shstrtab"])
        #expect(file.section(named: ".text")?.isExecutable == true)
        let symbols = try file.symbols()
        #expect(symbols.count == 2)
        #expect(symbols[1].name == "prog")
        #expect(symbols[1].type == .function)
        #expect(symbols[1].binding == .global)
        #expect(symbols[1].sectionIndex == 1)
        let relocations = try file.relocations(in: file.sections[2], symbolCount: symbols.count)
        #expect(relocations == [ELFRelocation(offset: 0, symbolIndex: 1, type: 10, addend: 0)])
        #expect(file.contents(of: file.sections[1]).u8(8) == 0x95)
    }

    @Test func everyTruncationIsAnErrorNeverACrash() throws {
        let (elf, sections) = TinyELF.sample()
        let bytes = elf.build(sections)
        for length in 0..<bytes.count {
            #expect(throws: ELFError.self) { try ELFFile(bytes: ByteView(Array(bytes[0..<length]))) }
        }
    }

    @Test func wrongMachine() {
        var (elf, sections) = TinyELF.sample()
        elf.machine = 62  // x86-64
        #expect(throws: ELFError(.wrongMachine, at: 18, "e_machine 62 is not EM_BPF (247): not a BPF object")) {
            try ELFFile(bytes: ByteView(elf.build(sections)))
        }
        _ = sections
    }

    @Test func wrongClassAndType() {
        var (elf, sections) = TinyELF.sample()
        elf.elfClass = 1
        #expect { try ELFFile(bytes: ByteView(elf.build(sections))) } throws: { ($0 as? ELFError)?.code == .wrongClass }
        elf.elfClass = 2
        elf.type = 2  // ET_EXEC
        #expect { try ELFFile(bytes: ByteView(elf.build(sections))) } throws: { ($0 as? ELFError)?.code == .wrongType }
    }

    @Test func notELF() {
        #expect { try ELFFile(bytes: ByteView(Array("#!/bin/sh\necho hello world, this is long enough to be a header........".utf8))) }
            throws: { ($0 as? ELFError)?.code == .notELF }
    }

    /// Offset of section header `index` in a `TinyELF` image.
    func headerOffset(_ bytes: [UInt8], _ index: Int) -> Int {
        Int(ByteView(bytes).u64(40)!) + index * 64
    }

    func patch(_ bytes: inout [UInt8], at offset: Int, u64 value: UInt64) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    @Test func sectionPastTheEnd() {
        let (elf, sections) = TinyELF.sample()
        var bytes = elf.build(sections)
        patch(&bytes, at: headerOffset(bytes, 1) + 32, u64: 1 << 40)  // .text size
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { ($0 as? ELFError)?.code == .sectionOutOfBounds }
        patch(&bytes, at: headerOffset(bytes, 1) + 32, u64: 16)
        patch(&bytes, at: headerOffset(bytes, 1) + 24, u64: UInt64.max - 4)  // offset overflow
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { ($0 as? ELFError)?.code == .sectionOutOfBounds }
    }

    /// Section 0 claiming a symbol table's type is checked like any other section, not read as one.
    @Test func hostileSectionZero() {
        let (elf, sections) = TinyELF.sample()
        var bytes = elf.build(sections)
        let zero = headerOffset(bytes, 0)
        for i in 0..<4 { bytes[zero + 4 + i] = [2, 0, 0, 0][i] }  // SHT_SYMTAB
        patch(&bytes, at: zero + 24, u64: 1 << 40)
        patch(&bytes, at: zero + 32, u64: 24 * 1000)
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { ($0 as? ELFError)?.code == .sectionOutOfBounds }
    }

    @Test func overlappingSections() {
        let (elf, sections) = TinyELF.sample()
        var bytes = elf.build(sections)
        let textOffset = ByteView(bytes).u64(headerOffset(bytes, 1) + 24)!
        patch(&bytes, at: headerOffset(bytes, 4) + 24, u64: textOffset + 8)  // .strtab inside .text
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { error in
            guard let error = error as? ELFError else { return false }
            return error.code == .overlappingSections && error.context.contains(".strtab")
        }
    }

    @Test func unterminatedNames() throws {
        var (elf, sections) = TinyELF.sample()
        sections[3].data = Array("\0prog".utf8)  // symbol name runs off the end of .strtab
        let file = try ELFFile(bytes: ByteView(elf.build(sections)))
        #expect { try file.symbols() } throws: { ($0 as? ELFError)?.code == .badName }

        var bytes = elf.build(TinyELF.sample().1)
        let nameField = headerOffset(bytes, 1)
        for i in 0..<4 { bytes[nameField + i] = 0xff }  // section name offset far outside .shstrtab
        #expect { try ELFFile(bytes: ByteView(bytes)) } throws: { ($0 as? ELFError)?.code == .badName }
    }

    @Test func relocationNamingAMissingSymbol() throws {
        var (elf, sections) = TinyELF.sample()
        sections[1].data = elf.u64(0) + elf.u64(UInt64(7) << 32 | 1)
        let file = try ELFFile(bytes: ByteView(elf.build(sections)))
        #expect { try file.relocations(in: file.sections[2], symbolCount: 2) } throws: { ($0 as? ELFError)?.code == .badRelocation }
    }

    @Test func strippedObject() throws {
        let (elf, sections) = TinyELF.sample()
        let file = try ELFFile(bytes: ByteView(elf.build([sections[0]])))
        #expect { try file.symbols() } throws: { error in
            (error as? ELFError)?.context.contains("stripped object?") == true
        }
    }

    @Test func missingFileNamesThePath() {
        #expect { try ELFFile(contentsOf: "/nonexistent/prog.o") } throws: { error in
            "\(error)".contains("/nonexistent/prog.o")
        }
    }

    /// Truncating a real object at every section boundary (and mid-section) is always a clean error.
    @Test func realObjectsTruncatedAtSectionBoundaries() throws {
        let objects = TestPaths.fixtureObjects + TestPaths.ciliumObjects()
        try require(!objects.isEmpty, "no fixture objects found")
        for path in objects.prefix(12) {
            let storage = try ByteStorage(contentsOf: path)
            let whole = storage.view(order: .little)
            let file = try ELFFile(bytes: whole)
            var cuts = Set<Int>()
            for section in file.sections where section.hasFileBytes {
                cuts.insert(section.offset)
                cuts.insert(section.offset + section.size / 2)
            }
            for cut in cuts where cut < whole.count {
                let prefix = whole.slice(0, cut)!
                do {
                    let truncated = try ELFFile(bytes: prefix)
                    _ = try? truncated.symbols()
                    Issue.record("\(path) cut at \(cut) parsed without error")
                } catch {}
            }
        }
    }
}
