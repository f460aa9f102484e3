/// ELF constants used by BPF objects (values from the System V gABI and `<elf.h>`).
public enum ELFConstant {
    /// `EM_BPF`: Linux BPF.
    public static let machineBPF: UInt16 = 247
    /// `ET_REL`: relocatable file, what clang emits for `-c`.
    public static let typeRelocatable: UInt16 = 1
    /// `ET_EXEC`: an executable loaded at fixed addresses.
    public static let typeExecutable: UInt16 = 2
    /// `ET_DYN`: a shared library or a position-independent executable.
    public static let typeShared: UInt16 = 3
    /// `SHN_UNDEF`: a symbol that is not defined in this file.
    public static let sectionUndefined: UInt32 = 0
    /// `SHN_LORESERVE`: first reserved section index.
    public static let sectionReservedLow: UInt32 = 0xff00
    /// `SHN_ABS`: a symbol with an absolute value.
    public static let sectionAbsolute: UInt32 = 0xfff1
    /// `SHN_COMMON`: a common (tentative) symbol.
    public static let sectionCommon: UInt32 = 0xfff2
    /// `SHN_XINDEX`: the real index is elsewhere (extended numbering).
    public static let sectionExtended: UInt32 = 0xffff
}

/// A section's type (`sh_type`).
public struct SectionType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw `sh_type` value.
    public var rawValue: UInt32
    /// Wraps a raw value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `SHT_NULL`: unused header.
    public static let null = SectionType(rawValue: 0)
    /// `SHT_PROGBITS`: code or data.
    public static let progbits = SectionType(rawValue: 1)
    /// `SHT_SYMTAB`: the symbol table.
    public static let symtab = SectionType(rawValue: 2)
    /// `SHT_STRTAB`: a string table.
    public static let strtab = SectionType(rawValue: 3)
    /// `SHT_RELA`: relocations with addends.
    public static let rela = SectionType(rawValue: 4)
    /// `SHT_DYNAMIC`: the dynamic linking table.
    public static let dynamic = SectionType(rawValue: 6)
    /// `SHT_NOTE`: notes.
    public static let note = SectionType(rawValue: 7)
    /// `SHT_NOBITS`: occupies no file space (`.bss`).
    public static let nobits = SectionType(rawValue: 8)
    /// `SHT_REL`: relocations without addends (what BPF objects use).
    public static let rel = SectionType(rawValue: 9)
    /// `SHT_DYNSYM`: the dynamic symbol table (`.dynsym`), what a stripped binary still exports.
    public static let dynsym = SectionType(rawValue: 11)
    /// `SHT_SYMTAB_SHNDX`: extended section indices of symbols.
    public static let symtabSectionIndices = SectionType(rawValue: 18)
    /// `SHT_GNU_verdef`: the versions a shared library defines (`.gnu.version_d`).
    public static let gnuVersionDefinitions = SectionType(rawValue: 0x6fff_fffd)
    /// `SHT_GNU_verneed`: the versions a file needs from its libraries (`.gnu.version_r`).
    public static let gnuVersionRequirements = SectionType(rawValue: 0x6fff_fffe)
    /// `SHT_GNU_versym`: one 16-bit version index per dynamic symbol (`.gnu.version`).
    public static let gnuVersionSymbols = SectionType(rawValue: 0x6fff_ffff)
    /// `SHT_LLVM_ADDRSIG`: address-significance table, ignored.
    public static let llvmAddrsig = SectionType(rawValue: 0x6fff_4c03)

    private static let names: [(UInt32, String)] = [
        (0, "NULL"), (1, "PROGBITS"), (2, "SYMTAB"), (3, "STRTAB"), (4, "RELA"), (5, "HASH"), (6, "DYNAMIC"),
        (7, "NOTE"), (8, "NOBITS"), (9, "REL"), (11, "DYNSYM"), (14, "INIT_ARRAY"), (15, "FINI_ARRAY"),
        (17, "GROUP"), (18, "SYMTAB_SHNDX"), (0x6fff_4c03, "LLVM_ADDRSIG"), (0x6fff_fff6, "GNU_HASH"),
        (0x6fff_fffd, "VERDEF"), (0x6fff_fffe, "VERNEED"), (0x6fff_ffff, "VERSYM"),
    ]

    /// `llvm-readelf`'s spelling: `PROGBITS`, `NOBITS`, `REL`, or the number in hex.
    public var description: String {
        Self.names.first { $0.0 == rawValue }?.1 ?? "0x" + String(rawValue, radix: 16)
    }
}

/// Section flags (`sh_flags`).
public struct SectionFlags: OptionSet, Hashable, Sendable {
    /// The raw `sh_flags` value.
    public var rawValue: UInt64
    /// Wraps a raw value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// `SHF_WRITE`.
    public static let write = SectionFlags(rawValue: 0x1)
    /// `SHF_ALLOC`.
    public static let alloc = SectionFlags(rawValue: 0x2)
    /// `SHF_EXECINSTR`: holds code; BPF programs live in such sections.
    public static let execute = SectionFlags(rawValue: 0x4)
    /// `SHF_MERGE`.
    public static let merge = SectionFlags(rawValue: 0x10)
    /// `SHF_STRINGS`.
    public static let strings = SectionFlags(rawValue: 0x20)
    /// `SHF_INFO_LINK`.
    public static let infoLink = SectionFlags(rawValue: 0x40)
}

/// Symbol binding (`STB_*`).
public struct SymbolBinding: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw 4-bit value.
    public var rawValue: UInt8
    /// Wraps a raw value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `STB_LOCAL`.
    public static let local = SymbolBinding(rawValue: 0)
    /// `STB_GLOBAL`.
    public static let global = SymbolBinding(rawValue: 1)
    /// `STB_WEAK`.
    public static let weak = SymbolBinding(rawValue: 2)
    /// `STB_GNU_UNIQUE`: a global the dynamic linker keeps unique across libraries.
    public static let gnuUnique = SymbolBinding(rawValue: 10)
    /// `LOCAL`, `GLOBAL`, `WEAK`, `UNIQUE` as llvm-readelf prints them.
    public var description: String {
        switch rawValue {
        case 0: "LOCAL"
        case 1: "GLOBAL"
        case 2: "WEAK"
        case 10: "UNIQUE"
        default: "<unknown>: \(rawValue)"
        }
    }
}

/// Symbol type (`STT_*`).
public struct SymbolType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw 4-bit value.
    public var rawValue: UInt8
    /// Wraps a raw value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `STT_NOTYPE`.
    public static let notype = SymbolType(rawValue: 0)
    /// `STT_OBJECT`: a variable, e.g. a map definition.
    public static let object = SymbolType(rawValue: 1)
    /// `STT_FUNC`: a function, i.e. a program or subprogram.
    public static let function = SymbolType(rawValue: 2)
    /// `STT_SECTION`: the section itself (relocations against it carry their addend in the instruction).
    public static let section = SymbolType(rawValue: 3)
    /// `STT_FILE`: the source file name.
    public static let file = SymbolType(rawValue: 4)
    /// `STT_TLS`: a thread-local variable.
    public static let tls = SymbolType(rawValue: 6)
    /// `STT_GNU_IFUNC`: an indirect function, whose value is a resolver that picks the implementation
    /// when the library loads.
    public static let gnuIndirectFunction = SymbolType(rawValue: 10)
    /// `NOTYPE`, `OBJECT`, `FUNC`, `SECTION`, `FILE` as llvm-readelf prints them.
    public var description: String {
        switch rawValue {
        case 0: "NOTYPE"
        case 1: "OBJECT"
        case 2: "FUNC"
        case 3: "SECTION"
        case 4: "FILE"
        case 5: "COMMON"
        case 6: "TLS"
        case 10: "IFUNC"
        default: "<unknown>: \(rawValue)"
        }
    }
}

/// Symbol visibility (`STV_*`, the low 2 bits of `st_other`).
public struct SymbolVisibility: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw 2-bit value.
    public var rawValue: UInt8
    /// Wraps a raw value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `STV_DEFAULT`.
    public static let `default` = SymbolVisibility(rawValue: 0)
    /// `STV_HIDDEN`: global in the object but not exported (libbpf treats it like static).
    public static let hidden = SymbolVisibility(rawValue: 2)
    /// `DEFAULT`, `INTERNAL`, `HIDDEN`, `PROTECTED`.
    public var description: String { ["DEFAULT", "INTERNAL", "HIDDEN", "PROTECTED"][Int(rawValue & 3)] }
}
