import ByteParsing

/// Where a function of an executable or shared library lives: what a uprobe on it needs.
public struct ELFFunctionLocation: Sendable, Hashable {
    /// The symbol found, with its version when the dynamic table versions it (`malloc@@GLIBC_2.2.5`).
    public var name: String
    /// The table it was found in: `.dynsym` or `.symtab` (their section types).
    public var table: SectionType
    /// `st_value`: the function's virtual address (relative to the load base in `ET_DYN` files).
    public var address: UInt64
    /// `st_size`.
    public var size: UInt64
    /// The symbol's binding.
    public var binding: SymbolBinding
    /// The loadable segment holding the function.
    public var segment: ELFProgramHeader
    /// The function's offset in the file: `address - p_vaddr + p_offset` of ``segment``, what the kernel's
    /// uprobe PMU takes.
    public var fileOffset: UInt64
}

/// Why a function could not be found in an ELF file.
public enum ELFFunctionLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No function symbol of that name in `.dynsym` or `.symtab` (`tables` names those the file has).
    case notFound(name: String, tables: [String])
    /// Several non-weak function symbols of that name at different addresses.
    case ambiguous(name: String, addresses: [UInt64])
    /// The symbol's value is 0: an undefined or unresolved function (an executable's reference to a
    /// library function, which must be probed in the library).
    case zeroAddress(name: String)
    /// No loadable segment's file bytes hold the symbol's address.
    case notInLoadableSegment(name: String, address: UInt64)
    /// The segment holding the symbol is not executable: a probe there would never fire.
    case notExecutable(name: String, address: UInt64, segment: Int)
    /// The file is malformed.
    case malformed(ELFError)

    /// One line, without the file's path (the caller adds it).
    public var description: String {
        switch self {
        case .notFound(let name, let tables):
            tables.isEmpty
                ? "no symbol \(name): the file has no symbol table (neither .symtab nor .dynsym)"
                : "no function symbol \(name) in \(tables.joined(separator: " or "))"
        case .ambiguous(let name, let addresses):
            "symbol \(name) is ambiguous: non-weak functions at \(addresses.map { "0x" + String($0, radix: 16) }.joined(separator: ", "))"
        case .zeroAddress(let name):
            "symbol \(name) has address 0 (undefined here: probe it in the library that defines it)"
        case .notInLoadableSegment(let name, let address):
            "symbol \(name) at 0x\(String(address, radix: 16)) lies in no loadable segment (PT_LOAD) of the file"
        case .notExecutable(let name, let address, let segment):
            "symbol \(name) at 0x\(String(address, radix: 16)) lies in segment \(segment), which is not executable"
        case .malformed(let error):
            error.description
        }
    }
}

extension ELFFile {
    /// Finds function `request` and its file offset, with libbpf's rules for uprobe targets:
    ///
    /// - only `STT_FUNC` symbols defined in a section count;
    /// - `.dynsym` is searched first, then `.symtab`; the first table with a match decides (a stripped
    ///   binary has only `.dynsym`, a static one only `.symtab`; exported functions thus win over a
    ///   static function of the same name);
    /// - `name` matches the symbol `name` and its versioned forms; `name@VER` or `name@@VER` matches the
    ///   `.dynsym` symbol whose version is `VER`, or the `.symtab` symbol spelt exactly so;
    /// - unlike libbpf, an unversioned request prefers default versions: `realpath` is
    ///   `realpath@@GLIBC_2.3`, not the hidden `realpath@GLIBC_2.2.5` (libbpf calls that ambiguous);
    ///   hidden versions are used only when no default one matches;
    /// - several matches at one address are one function; a weak symbol yields to a non-weak one; two
    ///   non-weak symbols at different addresses are ambiguous.
    ///
    /// The address is then mapped to a file offset through the `PT_LOAD` segment whose file bytes hold it.
    public func functionLocation(named request: String) throws(ELFFunctionLookupError) -> ELFFunctionLocation {
        let base: Substring, version: Substring?
        if let at = request.firstIndex(of: "@") {
            base = request[..<at]
            var rest = request[request.index(after: at)...]
            if rest.first == "@" { rest = rest.dropFirst() }
            version = rest
        } else {
            base = request[...]
            version = nil
        }
        var tablesPresent: [String] = []
        for table in [dynamicSymbolTableSection, staticSymbolTableSection].compactMap({ $0 }) {
            tablesPresent.append(table.name.isEmpty ? (table.type == .dynsym ? ".dynsym" : ".symtab") : table.name)
            let candidates: [Candidate]
            do {
                candidates = try functionCandidates(in: table, base: base, version: version, request: request)
            } catch {
                throw .malformed(error)
            }
            let defaults = candidates.filter(\.isDefaultVersion)
            guard let chosen = try Self.choose(defaults.isEmpty ? candidates : defaults, request: request) else { continue }
            guard chosen.address != 0 else { throw .zeroAddress(name: chosen.name) }
            guard let segment = loadableSegment(containing: chosen.address),
                  let fileOffset = segment.fileOffset(ofAddress: chosen.address) else {
                throw .notInLoadableSegment(name: chosen.name, address: chosen.address)
            }
            guard segment.isExecutable else {
                throw .notExecutable(name: chosen.name, address: chosen.address, segment: segment.index)
            }
            return ELFFunctionLocation(name: chosen.name, table: table.type, address: chosen.address, size: chosen.size,
                                       binding: chosen.binding, segment: segment, fileOffset: fileOffset)
        }
        throw .notFound(name: request, tables: tablesPresent)
    }

    /// A function symbol whose name matches a request.
    struct Candidate {
        var name: String
        var address: UInt64
        var size: UInt64
        var binding: SymbolBinding
        var isDefaultVersion: Bool
    }

    /// libbpf's rule among matches of one table: one address, or the non-weak one, else ambiguous; with
    /// only weak matches at several addresses, the first.
    static func choose(_ candidates: [Candidate], request: String) throws(ELFFunctionLookupError) -> Candidate? {
        guard let first = candidates.first else { return nil }
        let strong = candidates.filter { $0.binding != .weak }
        var strongAddresses: [UInt64] = []
        for candidate in strong where !strongAddresses.contains(candidate.address) {
            strongAddresses.append(candidate.address)
        }
        if strongAddresses.count > 1 {
            throw .ambiguous(name: request, addresses: strongAddresses)
        }
        return strong.first ?? first
    }

    /// The `STT_FUNC` symbols of `table` defined in a section whose names match `base` (followed by the
    /// end of the name or by `@`) and, when `version` is given, that version.
    private func functionCandidates(in table: ELFSection, base: Substring, version: Substring?,
                                    request: String) throws(ELFError) -> [Candidate] {
        let layout = try symbolTableLayout(table)
        let isDynamic = table.type == .dynsym
        let versions = isDynamic ? try dynamicSymbolVersions() : nil
        let baseBytes = Array(base.utf8)
        var result: [Candidate] = []
        for index in 0..<layout.count {
            let at = index * 24
            let info = layout.data.u8(unchecked: at + 4)
            guard SymbolType(rawValue: info & 0xf) == .function else { continue }
            let sectionIndex = UInt32(layout.data.u16(unchecked: at + 6))
            guard sectionIndex != ELFConstant.sectionUndefined,
                  sectionIndex < ELFConstant.sectionReservedLow || sectionIndex == ELFConstant.sectionExtended else { continue }
            let nameOffset = Int(layout.data.u32(unchecked: at))
            guard Self.hasPrefix(layout.strings, at: nameOffset, baseBytes) else { continue }
            guard let name = layout.strings.cString(at: nameOffset) else {
                throw ELFError(.badName, at: table.offset + at,
                               "name of symbol \(index) at string offset \(nameOffset) is outside the string table or not NUL-terminated")
            }
            let suffix = name.utf8.dropFirst(baseBytes.count)
            guard suffix.isEmpty || suffix.first == UInt8(ascii: "@") else { continue }
            let isDefault: Bool
            var shownName = name
            if isDynamic, let symbolVersion = versions?[index] {
                if let version, symbolVersion.name.map({ $0[...] == version }) != true { continue }
                isDefault = !symbolVersion.isHidden
                if let versionName = symbolVersion.name, symbolVersion.index > ELFSymbolVersion.globalIndex {
                    shownName = name + (symbolVersion.isHidden || symbolVersion.isRequired ? "@" : "@@") + versionName
                }
            } else {
                // `.symtab` spells versions in the name: `f@@V` is the default, `f@V` a hidden one.
                if version != nil, name != request { continue }
                isDefault = suffix.isEmpty || suffix.starts(with: "@@".utf8)
            }
            result.append(Candidate(name: shownName, address: layout.data.u64(unchecked: at + 8),
                                    size: layout.data.u64(unchecked: at + 16),
                                    binding: SymbolBinding(rawValue: info >> 4), isDefaultVersion: isDefault))
        }
        return result
    }

    /// Whether the string table holds `prefix` at `offset` (no allocation: most symbols fail here).
    private static func hasPrefix(_ strings: ByteView, at offset: Int, _ prefix: [UInt8]) -> Bool {
        guard offset >= 0, strings.contains(offset, prefix.count) else { return false }
        for (index, byte) in prefix.enumerated() where strings.u8(unchecked: offset + index) != byte {
            return false
        }
        return true
    }
}
