import ByteParsing

/// The version of a dynamic symbol (GNU symbol versioning): its `.gnu.version` entry and the name that
/// `.gnu.version_d` (versions the file defines) or `.gnu.version_r` (versions it needs) gives that index.
public struct ELFSymbolVersion: Sendable, Hashable {
    /// The version index (`versym & 0x7fff`): 0 local, 1 the unversioned global base, 2 and up named.
    public var index: UInt16
    /// Whether the hidden bit (`0x8000`) is set: the symbol is an older, non-default version that only
    /// references naming that version bind to (`realpath@GLIBC_2.2.5` beside `realpath@@GLIBC_2.3`).
    public var isHidden: Bool
    /// The version's name (`GLIBC_2.3`), nil for indices 0 and 1 and for indices no table names.
    public var name: String?
    /// Whether the version is one this file needs from a library (`.gnu.version_r`), not one it defines
    /// (`.gnu.version_d`): an executable's copy of `stdout` carries libc's `GLIBC_2.2.5`.
    public var isRequired: Bool = false

    /// `VER_NDX_LOCAL`.
    public static let localIndex: UInt16 = 0
    /// `VER_NDX_GLOBAL`.
    public static let globalIndex: UInt16 = 1
}

extension ELFSymbol {
    /// The name as `llvm-readelf --dyn-syms` prints it: `name@@VER` for a default version this file
    /// defines, `name@VER` for a hidden one, an undefined reference or a version needed from a library,
    /// `name` when unversioned.
    public func versionedName(_ version: ELFSymbolVersion?) -> String {
        guard let version, let versionName = version.name, version.index > ELFSymbolVersion.globalIndex else { return name }
        return name + (version.isHidden || version.isRequired || isUndefined ? "@" : "@@") + versionName
    }
}

extension ELFFile {
    /// The first `SHT_SYMTAB` section, nil when the file has none (a stripped binary).
    public var staticSymbolTableSection: ELFSection? {
        sections.first { $0.type == .symtab }
    }

    /// The first `SHT_DYNSYM` section (`.dynsym`), nil when the file has none (a static binary, an object).
    public var dynamicSymbolTableSection: ELFSection? {
        sections.first { $0.type == .dynsym }
    }

    /// Decodes the dynamic symbol table (`.dynsym`, names from `.dynstr`); empty when there is none.
    public func dynamicSymbols() throws(ELFError) -> [ELFSymbol] {
        guard let table = dynamicSymbolTableSection else { return [] }
        return try symbols(in: table)
    }

    /// One version per dynamic symbol (`.gnu.version`), names resolved through `.gnu.version_d` and
    /// `.gnu.version_r`; nil when the file has no version table.
    ///
    /// - Throws: `badVersionTable` when a table is malformed or `.gnu.version` has fewer entries than
    ///   `.dynsym`, and the errors of decoding the dynamic symbol table's geometry.
    public func dynamicSymbolVersions() throws(ELFError) -> [ELFSymbolVersion]? {
        guard let table = dynamicSymbolTableSection,
              let versions = sections.first(where: { $0.type == .gnuVersionSymbols }) else { return nil }
        let count = try symbolTableLayout(table).count
        guard versions.size >= count * 2, contents(of: versions).count >= count * 2 else {
            throw ELFError(.badVersionTable, at: sectionHeaderOffset(versions.index) + 32,
                           "symbol version table '\(versions.name)' has \(versions.size / 2) entries for \(count) dynamic symbols")
        }
        var names: [UInt16: (name: String, isRequired: Bool)] = [:]
        try readVersionNames(into: &names)
        let data = contents(of: versions)
        var result: [ELFSymbolVersion] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let raw = data.u16(unchecked: index * 2)
            let number = raw & 0x7fff
            let named = number > ELFSymbolVersion.globalIndex ? names[number] : nil
            result.append(ELFSymbolVersion(index: number, isHidden: raw & 0x8000 != 0, name: named?.name,
                                           isRequired: named?.isRequired ?? false))
        }
        return result
    }

    /// Version index → name, from every `SHT_GNU_verdef` and `SHT_GNU_verneed` section.
    ///
    /// Both are chains of records linked by byte offsets; every offset is checked against the section
    /// and the walk is bounded by the section's size, so a cycle or a wild link is an error, not a hang.
    public func versionNames() throws(ELFError) -> [UInt16: String] {
        var names: [UInt16: (name: String, isRequired: Bool)] = [:]
        try readVersionNames(into: &names)
        return names.mapValues(\.name)
    }

    /// Version index → name and whether it comes from `.gnu.version_r`.
    private func readVersionNames(into names: inout [UInt16: (name: String, isRequired: Bool)]) throws(ELFError) {
        for section in sections where section.type == .gnuVersionDefinitions {
            try readVersionDefinitions(section, into: &names)
        }
        for section in sections where section.type == .gnuVersionRequirements {
            try readVersionRequirements(section, into: &names)
        }
    }

    /// The string table a version section links to.
    private func versionStrings(_ section: ELFSection) throws(ELFError) -> ByteView {
        guard Int(section.link) < sections.count, sections[Int(section.link)].type == .strtab else {
            throw ELFError(.badVersionTable, at: sectionHeaderOffset(section.index) + 40,
                           "version section '\(section.name)' links to section \(section.link), which is not a string table")
        }
        return contents(of: sections[Int(section.link)])
    }

    /// `Elf64_Verdef` (20 bytes: version, flags, ndx, cnt, hash, aux, next) chains, each with
    /// `Elf64_Verdaux` (8 bytes: name, next) records; the first aux record names the version.
    private func readVersionDefinitions(_ section: ELFSection, into names: inout [UInt16: (name: String, isRequired: Bool)]) throws(ELFError) {
        let data = contents(of: section)
        let strings = try versionStrings(section)
        var at = 0
        for _ in 0..<(section.size / 20) {
            guard data.contains(at, 20) else {
                throw ELFError(.badVersionTable, at: section.offset + at, "version definition at offset \(at) of '\(section.name)' runs past its end")
            }
            let index = data.u16(unchecked: at + 4) & 0x7fff
            let count = data.u16(unchecked: at + 6)
            let aux = Int(data.u32(unchecked: at + 12))
            if count > 0 {
                let auxAt = at + aux
                guard aux >= 0, data.contains(auxAt, 8) else {
                    throw ELFError(.badVersionTable, at: section.offset + at + 12, "version definition \(index) of '\(section.name)' points outside the section")
                }
                let nameOffset = Int(data.u32(unchecked: auxAt))
                guard let name = strings.cString(at: nameOffset) else {
                    throw ELFError(.badName, at: section.offset + auxAt, "name of version definition \(index) at string offset \(nameOffset) is outside the string table")
                }
                names[index] = (name, false)
            }
            let next = Int(data.u32(unchecked: at + 16))
            if next == 0 { return }
            at += next
        }
        throw ELFError(.badVersionTable, at: section.offset, "version definitions of '\(section.name)' do not end within the section (a cycle or a wild vd_next)")
    }

    /// `Elf64_Verneed` (16 bytes: version, cnt, file, aux, next) chains, each with `cnt` `Elf64_Vernaux`
    /// (16 bytes: hash, flags, other, name, next) records; `other` is the version index.
    private func readVersionRequirements(_ section: ELFSection, into names: inout [UInt16: (name: String, isRequired: Bool)]) throws(ELFError) {
        let data = contents(of: section)
        let strings = try versionStrings(section)
        var budget = section.size / 16   // every record, file or aux, takes 16 bytes
        var at = 0
        while budget > 0 {
            budget -= 1
            guard data.contains(at, 16) else {
                throw ELFError(.badVersionTable, at: section.offset + at, "version requirement at offset \(at) of '\(section.name)' runs past its end")
            }
            let count = Int(data.u16(unchecked: at + 2))
            var auxAt = at + Int(data.u32(unchecked: at + 8))
            for _ in 0..<count {
                guard budget > 0 else { break }
                budget -= 1
                guard data.contains(auxAt, 16) else {
                    throw ELFError(.badVersionTable, at: section.offset + at + 8, "version requirement record at offset \(auxAt) of '\(section.name)' runs past its end")
                }
                let index = data.u16(unchecked: auxAt + 6) & 0x7fff
                let nameOffset = Int(data.u32(unchecked: auxAt + 8))
                guard let name = strings.cString(at: nameOffset) else {
                    throw ELFError(.badName, at: section.offset + auxAt + 8, "name of needed version \(index) at string offset \(nameOffset) is outside the string table")
                }
                names[index] = (name, true)
                let next = Int(data.u32(unchecked: auxAt + 12))
                if next == 0 { break }
                auxAt += next
            }
            let next = Int(data.u32(unchecked: at + 12))
            if next == 0 { return }
            at += next
        }
        throw ELFError(.badVersionTable, at: section.offset, "version requirements of '\(section.name)' do not end within the section (a cycle or a wild vn_next)")
    }
}
