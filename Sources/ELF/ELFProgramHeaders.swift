import ByteParsing

/// A program header's type (`p_type`): what the segment is for.
public struct ProgramHeaderType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw `p_type` value.
    public var rawValue: UInt32
    /// Wraps a raw value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `PT_NULL`: unused entry.
    public static let null = ProgramHeaderType(rawValue: 0)
    /// `PT_LOAD`: bytes of the file mapped into memory when the file is loaded.
    public static let load = ProgramHeaderType(rawValue: 1)
    /// `PT_DYNAMIC`: the dynamic linking table.
    public static let dynamic = ProgramHeaderType(rawValue: 2)
    /// `PT_INTERP`: the path of the program interpreter (the dynamic linker).
    public static let interpreter = ProgramHeaderType(rawValue: 3)
    /// `PT_NOTE`: notes.
    public static let note = ProgramHeaderType(rawValue: 4)
    /// `PT_PHDR`: the program header table itself.
    public static let programHeaders = ProgramHeaderType(rawValue: 6)
    /// `PT_TLS`: the thread-local storage template.
    public static let threadLocalStorage = ProgramHeaderType(rawValue: 7)
    /// `PT_GNU_EH_FRAME`: the unwinding table index.
    public static let gnuEHFrame = ProgramHeaderType(rawValue: 0x6474_e550)
    /// `PT_GNU_STACK`: the stack's permissions.
    public static let gnuStack = ProgramHeaderType(rawValue: 0x6474_e551)
    /// `PT_GNU_RELRO`: what becomes read-only after relocation.
    public static let gnuRelro = ProgramHeaderType(rawValue: 0x6474_e552)
    /// `PT_GNU_PROPERTY`: the GNU property note.
    public static let gnuProperty = ProgramHeaderType(rawValue: 0x6474_e553)

    private static let names: [(UInt32, String)] = [
        (0, "NULL"), (1, "LOAD"), (2, "DYNAMIC"), (3, "INTERP"), (4, "NOTE"), (5, "SHLIB"), (6, "PHDR"), (7, "TLS"),
        (0x6474_e550, "GNU_EH_FRAME"), (0x6474_e551, "GNU_STACK"), (0x6474_e552, "GNU_RELRO"),
        (0x6474_e553, "GNU_PROPERTY"), (0x6474_e554, "GNU_SFRAME"),
    ]

    /// `llvm-readelf -l`'s spelling: `LOAD`, `GNU_STACK`, or the number in hex.
    public var description: String {
        Self.names.first { $0.0 == rawValue }?.1 ?? "0x" + String(rawValue, radix: 16)
    }
}

/// A segment's permissions (`p_flags`).
public struct SegmentFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The raw `p_flags` value.
    public var rawValue: UInt32
    /// Wraps a raw value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `PF_X`: executable.
    public static let execute = SegmentFlags(rawValue: 0x1)
    /// `PF_W`: writable.
    public static let write = SegmentFlags(rawValue: 0x2)
    /// `PF_R`: readable.
    public static let read = SegmentFlags(rawValue: 0x4)

    /// `R E`, `RW `: three columns as `llvm-readelf -l` prints them.
    public var description: String {
        (contains(.read) ? "R" : " ") + (contains(.write) ? "W" : " ") + (contains(.execute) ? "E" : " ")
    }
}

/// A program header: one segment of an executable or shared library, as the loader maps it.
public struct ELFProgramHeader: Sendable, Hashable {
    /// Index in the program header table.
    public var index: Int
    /// `p_type`.
    public var type: ProgramHeaderType
    /// `p_flags`.
    public var flags: SegmentFlags
    /// `p_offset`: where the segment's bytes start in the file.
    public var offset: UInt64
    /// `p_vaddr`: the address the segment is mapped at (relative to the load base for `ET_DYN` files).
    public var virtualAddress: UInt64
    /// `p_paddr`.
    public var physicalAddress: UInt64
    /// `p_filesz`: how many bytes of the file the segment holds.
    public var fileSize: UInt64
    /// `p_memsz`: the segment's size in memory (larger than ``fileSize`` when it ends in zero-filled bytes).
    public var memorySize: UInt64
    /// `p_align`.
    public var alignment: UInt64

    /// Whether the segment is mapped when the file loads (`PT_LOAD`).
    public var isLoadable: Bool { type == .load }
    /// Whether the segment is mapped executable (`PF_X`).
    public var isExecutable: Bool { flags.contains(.execute) }

    /// Whether `address` lies among the segment's bytes that come from the file (not the zero-filled tail).
    public func containsFileBacked(address: UInt64) -> Bool {
        address >= virtualAddress && address - virtualAddress < fileSize
    }

    /// The file offset of `address` when it lies among the segment's file-backed bytes:
    /// `address - p_vaddr + p_offset`.
    public func fileOffset(ofAddress address: UInt64) -> UInt64? {
        guard containsFileBacked(address: address) else { return nil }
        return address - virtualAddress + offset
    }
}

extension ELFFile {
    /// `PN_XNUM`: the program header count is in section header 0's `sh_info`.
    static let programHeaderCountExtended = 0xffff

    /// Reads and validates the program header table (`e_phoff`, `e_phentsize`, `e_phnum`).
    ///
    /// Every loadable segment must lie within the file and hold no more file bytes than memory bytes, so
    /// that ``ELFProgramHeader/fileOffset(ofAddress:)`` always names bytes of the file.
    static func readProgramHeaders(_ view: ByteView, sections: [ELFSection]) throws(ELFError) -> [ELFProgramHeader] {
        let tableOffset = view.u64(unchecked: 32)
        let entrySize = Int(view.u16(unchecked: 54))
        var count = Int(view.u16(unchecked: 56))
        if count == 0 { return [] }
        if count == programHeaderCountExtended {
            guard let first = sections.first else {
                throw ELFError(.badProgramHeader, at: 56, "e_phnum is PN_XNUM (0xffff) but there is no section header 0 to hold the count")
            }
            count = Int(first.info)
        }
        guard count <= Limits.maximumProgramHeaders else {
            throw ELFError(.limitExceeded, at: 56, "\(count) program headers (limit \(Limits.maximumProgramHeaders))")
        }
        guard entrySize == 56 else {
            throw ELFError(.badHeader, at: 54, "e_phentsize \(entrySize) is not 56")
        }
        guard tableOffset <= UInt64(view.count), view.contains(Int(tableOffset), count * 56) else {
            throw ELFError(.truncated, at: Int(clamping: tableOffset),
                           "program header table (\(count) × 56 bytes at \(tableOffset)) runs past the end of the file (\(view.count) bytes)")
        }
        let table = Int(tableOffset)
        var headers: [ELFProgramHeader] = []
        headers.reserveCapacity(count)
        for index in 0..<count {
            let at = table + index * 56
            let header = ELFProgramHeader(
                index: index,
                type: ProgramHeaderType(rawValue: view.u32(unchecked: at)),
                flags: SegmentFlags(rawValue: view.u32(unchecked: at + 4)),
                offset: view.u64(unchecked: at + 8),
                virtualAddress: view.u64(unchecked: at + 16),
                physicalAddress: view.u64(unchecked: at + 24),
                fileSize: view.u64(unchecked: at + 32),
                memorySize: view.u64(unchecked: at + 40),
                alignment: view.u64(unchecked: at + 48))
            if header.isLoadable {
                let (end, overflow) = header.offset.addingReportingOverflow(header.fileSize)
                guard !overflow, end <= UInt64(view.count) else {
                    throw ELFError(.badProgramHeader, at: at + 8,
                        "loadable segment \(index) spans file bytes \(header.offset)..<\(header.offset &+ header.fileSize), past the end of the file (\(view.count) bytes)")
                }
                guard header.fileSize <= header.memorySize else {
                    throw ELFError(.badProgramHeader, at: at + 32,
                        "loadable segment \(index) holds \(header.fileSize) file bytes but only \(header.memorySize) bytes in memory")
                }
                guard !header.virtualAddress.addingReportingOverflow(header.memorySize).overflow else {
                    throw ELFError(.badProgramHeader, at: at + 16,
                        "loadable segment \(index) at address 0x\(String(header.virtualAddress, radix: 16)) with \(header.memorySize) bytes wraps around the address space")
                }
            }
            headers.append(header)
        }
        return headers
    }

    /// The `PT_LOAD` segments, in file order.
    public var loadableSegments: [ELFProgramHeader] {
        programHeaders.filter(\.isLoadable)
    }

    /// The loadable segment whose file-backed bytes contain `address`, if any.
    public func loadableSegment(containing address: UInt64) -> ELFProgramHeader? {
        programHeaders.first { $0.isLoadable && $0.containsFileBacked(address: address) }
    }

    /// The file offset of virtual address `address` (a symbol's value in an executable or shared library),
    /// through the loadable segment that holds it: `address - p_vaddr + p_offset`. Nil when no loadable
    /// segment's file bytes hold it.
    public func fileOffset(ofAddress address: UInt64) -> UInt64? {
        loadableSegment(containing: address)?.fileOffset(ofAddress: address)
    }
}
