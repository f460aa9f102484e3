import ByteParsing

/// A section header, with its name resolved.
public struct ELFSection: Sendable, Hashable {
    /// Index in the section header table.
    public var index: Int
    /// Name from the section header string table.
    public var name: String
    /// `sh_type`.
    public var type: SectionType
    /// `sh_flags`.
    public var flags: SectionFlags
    /// `sh_addr` (0 in relocatable files).
    public var address: UInt64
    /// `sh_offset`: where the bytes start in the file.
    public var offset: Int
    /// `sh_size`: the byte size (for `SHT_NOBITS`, the size in memory).
    public var size: Int
    /// `sh_link`: a related section (string table of a symbol table, symbol table of a REL section).
    public var link: UInt32
    /// `sh_info`: for REL sections, the index of the section they patch.
    public var info: UInt32
    /// `sh_addralign`.
    public var alignment: UInt64
    /// `sh_entsize`: record size for tables.
    public var entrySize: UInt64

    /// Whether the section holds executable code.
    public var isExecutable: Bool { flags.contains(.execute) }
    /// Whether the section occupies bytes in the file.
    public var hasFileBytes: Bool { type != .nobits && type != .null }
}

/// A symbol table entry, with its name resolved.
public struct ELFSymbol: Sendable, Hashable {
    /// Index in the symbol table (what relocations refer to).
    public var index: Int
    /// Name from the symbol string table (empty for section and unnamed symbols).
    public var name: String
    /// `st_value`: in relocatable files, the offset in its section.
    public var value: UInt64
    /// `st_size`.
    public var size: UInt64
    /// Type (`STT_*`).
    public var type: SymbolType
    /// Binding (`STB_*`).
    public var binding: SymbolBinding
    /// Visibility (`STV_*`).
    public var visibility: SymbolVisibility
    /// The section the symbol is defined in (`SHN_UNDEF` = 0 for externs; extended indices resolved).
    public var sectionIndex: UInt32

    /// Whether the symbol is defined elsewhere (an extern).
    public var isUndefined: Bool { sectionIndex == ELFConstant.sectionUndefined }
}

/// A relocation record of an `SHT_REL` (or `SHT_RELA`) section.
public struct ELFRelocation: Sendable, Hashable {
    /// `r_offset`: byte offset in the patched section.
    public var offset: UInt64
    /// Symbol table index (`r_info >> 32`).
    public var symbolIndex: Int
    /// Relocation type (`r_info & 0xffffffff`), e.g. `R_BPF_64_64` = 1.
    public var type: UInt32
    /// `r_addend` for RELA records; 0 for REL.
    public var addend: Int64
}

/// A bounds-checked reader for a 64-bit BPF ELF relocatable object (`clang -target bpf -c`), or, with
/// ``Acceptance/anyFile``, for any 64-bit ELF file (executables and shared libraries, whose program
/// headers and dynamic symbols uprobes need).
///
/// Construction validates the header, every section header and every program header against the file;
/// symbols and relocations are decoded on request. The file may be in either byte order: the view it
/// reads through carries the order declared by `e_ident[EI_DATA]`.
public struct ELFFile: Sendable {
    /// Limits that bound what a hostile file can make the reader allocate.
    public enum Limits {
        /// The most section headers accepted.
        public static let maximumSections = 1 << 16
        /// The most symbols accepted.
        public static let maximumSymbols = 1 << 22
        /// The most program headers accepted.
        public static let maximumProgramHeaders = 1 << 16
    }

    /// Which ELF files a reader accepts.
    public enum Acceptance: Sendable, Hashable {
        /// A BPF relocatable object (`EM_BPF`, `ET_REL`) with a section header table and sections that
        /// do not overlap: what the object loader reads.
        case bpfObject
        /// Any 64-bit ELF file of any machine and type (executables, shared libraries, objects); the
        /// section header table may be absent (a fully stripped binary), sections are not checked for
        /// overlap.
        case anyFile
    }

    /// The whole file, read in its own byte order.
    public let bytes: ByteView
    /// The byte order declared by the header.
    public var byteOrder: ByteOrder { bytes.order }
    /// What the file was checked against when it was read.
    public let acceptance: Acceptance
    /// `e_type` (1 = ET_REL, 2 = ET_EXEC, 3 = ET_DYN).
    public let fileType: UInt16
    /// `e_machine` (247 = EM_BPF).
    public let machine: UInt16
    /// `e_flags`.
    public let flags: UInt32
    /// All section headers, in file order; index 0 is the null section. Empty for an ``Acceptance/anyFile``
    /// file without a section header table.
    public let sections: [ELFSection]
    /// Index of the section header string table (0 when the file has none).
    public let sectionNamesIndex: Int
    /// All program headers (segments), in file order; empty for relocatable objects.
    public let programHeaders: [ELFProgramHeader]

    /// Reads the file at `path` (memory-mapped).
    public init(contentsOf path: String, accepting acceptance: Acceptance = .bpfObject) throws(ELFLoadError) {
        let storage: ByteStorage
        do { storage = try ByteStorage(contentsOf: path) } catch { throw .file(error) }
        do { try self.init(bytes: storage.view(order: .little), accepting: acceptance) } catch { throw .elf(error) }
    }

    /// Parses an ELF image held in `bytes` (the view's byte order is ignored: the header decides).
    public init(bytes input: ByteView, accepting acceptance: Acceptance = .bpfObject) throws(ELFError) {
        let isBPFObject = acceptance == .bpfObject
        let magic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]
        if let start = input.bytes(0, min(4, input.count)), start != Array(magic.prefix(start.count)) {
            throw ELFError(.notELF, at: 0, "expected the magic bytes 7f 45 4c 46")
        }
        guard input.count >= 64 else {
            throw ELFError(.truncated, at: input.count, "ELF header needs 64 bytes, the file has \(input.count)")
        }
        guard input.u8(unchecked: 4) == 2 else {
            throw ELFError(.wrongClass, at: 4, isBPFObject
                ? "class \(input.u8(unchecked: 4)) is not ELFCLASS64; BPF objects are 64-bit"
                : "class \(input.u8(unchecked: 4)) is not ELFCLASS64; only 64-bit ELF files are read")
        }
        let order: ByteOrder
        switch input.u8(unchecked: 5) {
        case 1: order = .little
        case 2: order = .big
        case let other: throw ELFError(.badByteOrder, at: 5, "data encoding \(other) is neither 1 (LSB) nor 2 (MSB)")
        }
        let view = input.with(order: order)
        guard view.u8(unchecked: 6) == 1 else {
            throw ELFError(.badHeader, at: 6, "ELF version \(view.u8(unchecked: 6)) is not 1")
        }
        self.acceptance = acceptance
        fileType = view.u16(unchecked: 16)
        machine = view.u16(unchecked: 18)
        if isBPFObject {
            guard machine == ELFConstant.machineBPF else {
                throw ELFError(.wrongMachine, at: 18, "e_machine \(machine) is not EM_BPF (247): not a BPF object")
            }
            guard fileType == ELFConstant.typeRelocatable else {
                throw ELFError(.wrongType, at: 16, "e_type \(fileType) is not ET_REL (1): expected an object from clang -c")
            }
        }
        flags = view.u32(unchecked: 48)
        let headerSize = Int(view.u16(unchecked: 52))
        guard headerSize >= 64 else {
            throw ELFError(.badHeader, at: 52, "e_ehsize \(headerSize) is smaller than 64")
        }
        bytes = view
        let tableOffset = view.u64(unchecked: 40)
        if tableOffset == 0 && view.u16(unchecked: 60) == 0 && !isBPFObject {
            // A fully stripped binary: program headers only.
            sections = []
            sectionNamesIndex = 0
        } else {
            (sections, sectionNamesIndex) = try Self.readSections(view, requireNames: isBPFObject)
        }
        if isBPFObject {
            try Self.checkOverlaps(sections, table: Int(tableOffset), count: sections.count)
        }
        programHeaders = try Self.readProgramHeaders(view, sections: sections)
    }

    /// Reads and validates the section header table and the section names.
    private static func readSections(_ view: ByteView, requireNames: Bool) throws(ELFError) -> ([ELFSection], Int) {
        let tableOffset = view.u64(unchecked: 40)
        let entrySize = Int(view.u16(unchecked: 58))
        var count = Int(view.u16(unchecked: 60))
        var namesIndex = Int(view.u16(unchecked: 62))

        if tableOffset == 0 && count == 0 {
            throw ELFError(.truncated, at: 40, "the file has no section header table")
        }
        guard entrySize == 64 else {
            throw ELFError(.badHeader, at: 58, "e_shentsize \(entrySize) is not 64")
        }
        guard tableOffset <= UInt64(view.count), view.contains(Int(tableOffset), 64) else {
            throw ELFError(.truncated, at: Int(clamping: tableOffset), "section header table starts past the end of the file (\(view.count) bytes)")
        }
        let table = Int(tableOffset)
        // Extended numbering: the real count and string table index live in section header 0.
        if count == 0 { count = Int(clamping: view.u64(unchecked: table + 32)) }
        if namesIndex == Int(ELFConstant.sectionExtended) { namesIndex = Int(view.u32(unchecked: table + 40)) }
        guard count <= Limits.maximumSections else {
            throw ELFError(.limitExceeded, at: 60, "\(count) section headers (limit \(Limits.maximumSections))")
        }
        guard view.contains(table, count * 64) else {
            throw ELFError(.truncated, at: table, "section header table (\(count) × 64 bytes) runs past the end of the file (\(view.count) bytes)")
        }
        guard namesIndex < count else {
            throw ELFError(.badSectionIndex, at: 62, "section name table index \(namesIndex) but only \(count) sections")
        }

        var headers: [ELFSection] = []
        headers.reserveCapacity(count)
        for index in 0..<count {
            let at = table + index * 64
            let type = SectionType(rawValue: view.u32(unchecked: at + 4))
            let offset = view.u64(unchecked: at + 24)
            let size = view.u64(unchecked: at + 32)
            let section = ELFSection(
                index: index, name: "", type: type,
                flags: SectionFlags(rawValue: view.u64(unchecked: at + 8)),
                address: view.u64(unchecked: at + 16),
                offset: Int(clamping: offset), size: Int(clamping: size),
                link: view.u32(unchecked: at + 40), info: view.u32(unchecked: at + 44),
                alignment: view.u64(unchecked: at + 48), entrySize: view.u64(unchecked: at + 56))
            // Section 0 too: a well-formed one is SHT_NULL (no bytes, even with extended numbering), and a
            // hostile one claiming a table type would otherwise be read as that table.
            if section.hasFileBytes {
                guard offset <= UInt64(Int.max), size <= UInt64(Int.max),
                      view.contains(section.offset, section.size) else {
                    throw ELFError(.sectionOutOfBounds, at: at + 24,
                        "section \(index) spans bytes \(offset)..<\(offset &+ size), past the end of the file (\(view.count) bytes)")
                }
            }
            headers.append(section)
        }

        // A file of any kind may lack section names (e_shstrndx = SHN_UNDEF); a BPF object may not.
        if namesIndex == 0 && !requireNames { return (headers, 0) }
        // Names: the string table must itself be sound before any name is read from it.
        let names = headers[namesIndex]
        guard names.type == .strtab, let nameTable = view.slice(names.offset, names.size) else {
            throw ELFError(.badSectionIndex, at: table + namesIndex * 64, "section name table (section \(namesIndex)) is not a string table")
        }
        for index in 1..<max(count, 1) {
            let nameOffset = Int(view.u32(unchecked: table + index * 64))
            guard let name = nameTable.cString(at: nameOffset) else {
                throw ELFError(.badName, at: table + index * 64,
                    "name of section \(index) at string offset \(nameOffset) is outside the section name table or not NUL-terminated")
            }
            headers[index].name = name
        }
        return (headers, namesIndex)
    }

    /// Sections that carry file bytes must not share them with each other or with the header table.
    private static func checkOverlaps(_ headers: [ELFSection], table: Int, count: Int) throws(ELFError) {
        var ranges: [(start: Int, end: Int, index: Int)] = [(0, 64, -1), (table, table + count * 64, -2)]
        for section in headers where section.hasFileBytes && section.size > 0 && section.index != 0 {
            ranges.append((section.offset, section.offset + section.size, section.index))
        }
        ranges.sort { $0.start < $1.start }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.start < previous.end {
            func describe(_ i: Int) -> String {
                i == -1 ? "the ELF header" : i == -2 ? "the section header table" : "section \(i) '\(headers[i].name)'"
            }
            throw ELFError(.overlappingSections, at: next.start, "\(describe(next.index)) overlaps \(describe(previous.index))")
        }
    }

    /// The first section with this name.
    public func section(named name: String) -> ELFSection? {
        sections.first { $0.name == name }
    }

    /// The bytes of a section (empty for `SHT_NOBITS`; the size is still `section.size`).
    public func contents(of section: ELFSection) -> ByteView {
        guard section.hasFileBytes, let view = bytes.slice(section.offset, section.size) else {
            return bytes.slice(0, 0)!
        }
        return view
    }

    /// The single `SHT_SYMTAB` section.
    ///
    /// - Throws: `badSymbolTable` when there is none ("stripped object?") or more than one.
    public func symbolTableSection() throws(ELFError) -> ELFSection {
        let tables = sections.filter { $0.type == .symtab }
        guard let table = tables.first else {
            throw ELFError(.badSymbolTable, at: 0, "the object has no symbol table (SHT_SYMTAB): stripped object?")
        }
        guard tables.count == 1 else {
            throw ELFError(.badSymbolTable, at: tables[1].offset, "the object has \(tables.count) symbol tables; expected one")
        }
        return table
    }

    /// Decodes every symbol of the symbol table, names resolved.
    public func symbols() throws(ELFError) -> [ELFSymbol] {
        try symbols(in: try symbolTableSection())
    }

    /// Decodes every symbol of a symbol table section (`SHT_SYMTAB` or `SHT_DYNSYM`), names resolved
    /// from the string table it links to.
    ///
    /// - Throws: `badSymbolTable` when `table` is not a symbol table or its size is not a whole number of
    ///   24-byte entries, `badSectionIndex` when its string table is not one, `badName`, `limitExceeded`.
    public func symbols(in table: ELFSection) throws(ELFError) -> [ELFSymbol] {
        let layout = try symbolTableLayout(table)
        let (data, strings, count) = (layout.data, layout.strings, layout.count)
        let extended = sections.first { $0.type == .symtabSectionIndices && Int($0.link) == table.index }
        let extendedIndices = extended.map { contents(of: $0) }
        var result: [ELFSymbol] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let at = index * 24
            let nameOffset = Int(data.u32(unchecked: at))
            let info = data.u8(unchecked: at + 4)
            var sectionIndex = UInt32(data.u16(unchecked: at + 6))
            if sectionIndex == ELFConstant.sectionExtended {
                guard let resolved = extendedIndices?.u32(index * 4) else {
                    throw ELFError(.badSymbolTable, at: table.offset + at + 6, "symbol \(index) uses SHN_XINDEX but there is no SYMTAB_SHNDX entry for it")
                }
                sectionIndex = resolved
            }
            guard let name = strings.cString(at: nameOffset) else {
                throw ELFError(.badName, at: table.offset + at,
                    "name of symbol \(index) at string offset \(nameOffset) is outside the string table or not NUL-terminated")
            }
            if sectionIndex != 0, sectionIndex < ELFConstant.sectionReservedLow || sectionIndex == ELFConstant.sectionExtended,
               Int(sectionIndex) >= sections.count {
                throw ELFError(.badSectionIndex, at: table.offset + at + 6, "symbol \(index) '\(name)' is in section \(sectionIndex), but there are \(sections.count) sections")
            }
            result.append(ELFSymbol(
                index: index, name: name,
                value: data.u64(unchecked: at + 8), size: data.u64(unchecked: at + 16),
                type: SymbolType(rawValue: info & 0xf), binding: SymbolBinding(rawValue: info >> 4),
                visibility: SymbolVisibility(rawValue: data.u8(unchecked: at + 5) & 3),
                sectionIndex: sectionIndex))
        }
        return result
    }

    /// A symbol table's validated geometry: its entries, its string table and the entry count.
    struct SymbolTableLayout {
        var data: ByteView
        var strings: ByteView
        var count: Int
    }

    /// Checks a symbol table section's type, entry size, size, count limit and string table link.
    func symbolTableLayout(_ table: ELFSection) throws(ELFError) -> SymbolTableLayout {
        let headerAt = sectionHeaderOffset(table.index)
        guard table.type == .symtab || table.type == .dynsym else {
            throw ELFError(.badSymbolTable, at: headerAt + 4, "section \(table.index) '\(table.name)' is not a symbol table (type \(table.type))")
        }
        guard table.entrySize == 24 || table.entrySize == 0 else {
            throw ELFError(.badSymbolTable, at: headerAt + 56, "symbol entry size \(table.entrySize) is not 24")
        }
        guard table.size % 24 == 0 else {
            throw ELFError(.badSymbolTable, at: headerAt + 32, "symbol table size \(table.size) is not a multiple of 24")
        }
        let count = table.size / 24
        guard count <= Limits.maximumSymbols else {
            throw ELFError(.limitExceeded, at: headerAt + 32, "\(count) symbols (limit \(Limits.maximumSymbols))")
        }
        guard Int(table.link) < sections.count, sections[Int(table.link)].type == .strtab else {
            throw ELFError(.badSectionIndex, at: headerAt + 40, "symbol table links to section \(table.link), which is not a string table")
        }
        let data = contents(of: table)
        guard data.count >= count * 24 else {
            throw ELFError(.badSymbolTable, at: headerAt + 24, "symbol table section \(table.index) has no bytes in the file")
        }
        return SymbolTableLayout(data: data, strings: contents(of: sections[Int(table.link)]), count: count)
    }

    /// The `SHT_REL` / `SHT_RELA` sections, each with the index of the section it patches.
    public var relocationSections: [ELFSection] {
        sections.filter { $0.type == .rel || $0.type == .rela }
    }

    /// Decodes a relocation section's records, checking symbol indices against `symbolCount`.
    public func relocations(in section: ELFSection, symbolCount: Int) throws(ELFError) -> [ELFRelocation] {
        let headerAt = sectionHeaderOffset(section.index)
        let isRela = section.type == .rela
        let recordSize = isRela ? 24 : 16
        guard section.type == .rel || isRela else {
            throw ELFError(.badRelocation, at: headerAt + 4, "section \(section.index) '\(section.name)' is not a relocation section")
        }
        guard section.size % recordSize == 0 else {
            throw ELFError(.badRelocation, at: headerAt + 32, "relocation section '\(section.name)' size \(section.size) is not a multiple of \(recordSize)")
        }
        guard Int(section.info) < sections.count, section.info != 0 else {
            throw ELFError(.badSectionIndex, at: headerAt + 44, "relocation section '\(section.name)' patches section \(section.info), which does not exist")
        }
        let data = contents(of: section)
        let count = section.size / recordSize
        var result: [ELFRelocation] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let at = index * recordSize
            let info = data.u64(unchecked: at + 8)
            let symbol = Int(info >> 32)
            guard symbol < symbolCount else {
                throw ELFError(.badRelocation, at: section.offset + at + 8,
                    "relocation \(index) of '\(section.name)' names symbol \(symbol), but there are \(symbolCount) symbols")
            }
            result.append(ELFRelocation(
                offset: data.u64(unchecked: at), symbolIndex: symbol, type: UInt32(truncatingIfNeeded: info),
                addend: isRela ? Int64(bitPattern: data.u64(unchecked: at + 16)) : 0))
        }
        return result
    }

    /// Byte offset of a section's header in the file (for error messages).
    public func sectionHeaderOffset(_ index: Int) -> Int {
        Int(bytes.u64(unchecked: 40)) + index * 64
    }
}

/// Reading an ELF file from disk failed: either the file could not be read, or its content is malformed.
public enum ELFLoadError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case file(FileReadError)
    /// The content is not a valid BPF ELF object.
    case elf(ELFError)

    /// One line describing the problem.
    public var description: String {
        switch self {
        case .file(let error): error.description
        case .elf(let error): error.description
        }
    }
}
