import ByteParsing

/// The fixed header of a `.BTF.ext` section.
public struct BTFExtHeader: Sendable, Hashable {
    /// `0xEB9F`.
    public var magic: UInt16
    /// 1.
    public var version: UInt8
    /// Flags (0 today).
    public var flags: UInt8
    /// Header length: 24 without, 32 with the CO-RE relocation subsection fields.
    public var headerLength: UInt32
    /// Offset (from the end of the header) and length of the func_info subsection.
    public var functionInfoOffset: UInt32
    /// Length of the func_info subsection.
    public var functionInfoLength: UInt32
    /// Offset (from the end of the header) of the line_info subsection.
    public var lineInfoOffset: UInt32
    /// Length of the line_info subsection.
    public var lineInfoLength: UInt32
    /// Offset (from the end of the header) of the CO-RE relocation subsection (0 when absent).
    public var coreRelocationOffset: UInt32
    /// Length of the CO-RE relocation subsection (0 when absent).
    public var coreRelocationLength: UInt32
}

/// A func_info record: the BTF FUNC describing the function that starts at an instruction.
public struct BTFFunctionInfo: Sendable, Hashable {
    /// Byte offset of the function's first instruction within its ELF section.
    public var instructionOffset: UInt32
    /// The FUNC type id.
    public var typeID: UInt32
}

/// A line_info record: the source line of an instruction.
public struct BTFLineInfo: Sendable, Hashable {
    /// Byte offset of the instruction within its ELF section.
    public var instructionOffset: UInt32
    /// String offset of the source file name.
    public var fileNameOffset: UInt32
    /// String offset of the source line text.
    public var lineOffset: UInt32
    /// The raw `line_col` word: line in bits 10-31, column in bits 0-9.
    public var lineColumn: UInt32

    /// Source line number.
    public var line: UInt32 { lineColumn >> 10 }
    /// Source column number.
    public var column: UInt32 { lineColumn & 0x3FF }
}

/// The kind of a CO-RE relocation (`enum bpf_core_relo_kind`).
public enum BTFCoreRelocationKind: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Field byte offset.
    case fieldByteOffset = 0
    /// Field byte size.
    case fieldByteSize = 1
    /// Field existence.
    case fieldExists = 2
    /// Field signedness.
    case fieldSigned = 3
    /// Bitfield left shift.
    case fieldLShiftU64 = 4
    /// Bitfield right shift.
    case fieldRShiftU64 = 5
    /// Local type id.
    case localTypeID = 6
    /// Target type id.
    case targetTypeID = 7
    /// Type existence.
    case typeExists = 8
    /// Type size.
    case typeSize = 9
    /// Enumerator existence.
    case enumValueExists = 10
    /// Enumerator value.
    case enumValue = 11
    /// Strict type match.
    case typeMatches = 12

    /// libbpf's name: `byte_off`, `byte_sz`, `field_exists`, … `type_matches`.
    public var description: String {
        switch self {
        case .fieldByteOffset: "byte_off"
        case .fieldByteSize: "byte_sz"
        case .fieldExists: "field_exists"
        case .fieldSigned: "signed"
        case .fieldLShiftU64: "lshift_u64"
        case .fieldRShiftU64: "rshift_u64"
        case .localTypeID: "local_type_id"
        case .targetTypeID: "target_type_id"
        case .typeExists: "type_exists"
        case .typeSize: "type_size"
        case .enumValueExists: "enumval_exists"
        case .enumValue: "enumval_value"
        case .typeMatches: "type_matches"
        }
    }
}

/// A CO-RE relocation record (`struct bpf_core_relo`).
public struct BTFCoreRelocation: Sendable, Hashable {
    /// Byte offset of the instruction to patch within its ELF section.
    public var instructionOffset: UInt32
    /// The local root type id.
    public var typeID: UInt32
    /// String offset of the access string (`0:1:2`).
    public var accessStringOffset: UInt32
    /// The raw kind (`enum bpf_core_relo_kind`).
    public var kind: UInt32

    /// A record with these fields.
    public init(instructionOffset: UInt32, typeID: UInt32, accessStringOffset: UInt32, kind: UInt32) {
        self.instructionOffset = instructionOffset
        self.typeID = typeID
        self.accessStringOffset = accessStringOffset
        self.kind = kind
    }

    /// The kind decoded, or `nil` for a value this decoder does not know.
    public var relocationKind: BTFCoreRelocationKind? { BTFCoreRelocationKind(rawValue: kind) }
}

/// The records of one ELF section in a `.BTF.ext` subsection.
public struct BTFExtSection<Record: Sendable>: Sendable {
    /// String offset of the ELF section name.
    public var sectionNameOffset: UInt32
    /// The ELF section name (`tracepoint/syscalls/sys_enter_execve`, `.text`).
    public var sectionName: String
    /// The records, in file order.
    public var records: [Record]
}

/// A decoded `.BTF.ext` section: func_info, line_info and CO-RE relocation records grouped per ELF
/// section. Strings (section names, file names, source lines, access strings) are offsets into the
/// string section of the object's `.BTF`, given as `strings`; every one is checked against it.
public struct BTFExt: Sendable {
    /// The decoded header.
    public var header: BTFExtHeader
    /// Record size of the func_info subsection as found in the file (8 or more).
    public var functionInfoRecordSize: Int
    /// Record size of the line_info subsection as found in the file (16 or more).
    public var lineInfoRecordSize: Int
    /// Record size of the CO-RE relocation subsection as found in the file (16 or more).
    public var coreRelocationRecordSize: Int
    /// func_info records per section.
    public var functionInfo: [BTFExtSection<BTFFunctionInfo>]
    /// line_info records per section.
    public var lineInfo: [BTFExtSection<BTFLineInfo>]
    /// CO-RE relocation records per section.
    public var coreRelocations: [BTFExtSection<BTFCoreRelocation>]

    /// Decodes a `.BTF.ext` blob; its byte order comes from its magic.
    /// - Throws: ``BTFError`` for a malformed header, subsection, record size, count or string offset.
    public init(data input: ByteView, strings: TypeGraph) throws(BTFError) {
        guard input.count >= 8 else {
            throw BTFError(.truncatedHeader, ".BTF.ext of \(input.count) bytes is shorter than its header", offset: 0)
        }
        let magicLE = input.with(order: .little).u16(unchecked: 0)
        let order: ByteOrder
        switch magicLE {
        case 0xEB9F: order = .little
        case 0x9FEB: order = .big
        default:
            throw BTFError(.badMagic, ".BTF.ext: bad magic 0x\(String(magicLE, radix: 16)) (expected 0xeb9f)",
                           offset: 0)
        }
        let view = input.with(order: order)
        let version = view.u8(unchecked: 2)
        guard version == 1 else {
            throw BTFError(.unsupportedVersion, ".BTF.ext: unsupported version \(version)", offset: 2)
        }
        let headerLength = Int(view.u32(unchecked: 4))
        guard headerLength >= 24 else {
            throw BTFError(.badHeaderLength, ".BTF.ext: header length \(headerLength) is smaller than 24", offset: 4)
        }
        guard headerLength <= view.count else {
            throw BTFError(.truncatedHeader,
                           ".BTF.ext: header length \(headerLength) exceeds the section size \(view.count)", offset: 4)
        }
        let hasCore = headerLength >= 32
        header = BTFExtHeader(
            magic: 0xEB9F, version: version, flags: view.u8(unchecked: 3), headerLength: UInt32(headerLength),
            functionInfoOffset: view.u32(unchecked: 8), functionInfoLength: view.u32(unchecked: 12),
            lineInfoOffset: view.u32(unchecked: 16), lineInfoLength: view.u32(unchecked: 20),
            coreRelocationOffset: hasCore ? view.u32(unchecked: 24) : 0,
            coreRelocationLength: hasCore ? view.u32(unchecked: 28) : 0)

        let reader = RawReader(view)
        let stringLimit = UInt32(clamping: strings.stringLength)
        func checkString(_ offset: UInt32, _ what: String, at position: Int) throws(BTFError) {
            guard offset < stringLimit else {
                throw BTFError(.badStringOffset,
                               ".BTF.ext: \(what) offset \(offset) is outside the string section (length \(stringLimit))",
                               offset: position)
            }
        }

        (functionInfoRecordSize, functionInfo) = try Self.subsection(
            "func_info", view: view, headerLength: headerLength, offset: header.functionInfoOffset,
            length: header.functionInfoLength, minimumRecordSize: 8, strings: strings
        ) { (o: Int) throws(BTFError) -> BTFFunctionInfo in
            BTFFunctionInfo(instructionOffset: reader.u32(o), typeID: reader.u32(o + 4))
        }
        (lineInfoRecordSize, lineInfo) = try Self.subsection(
            "line_info", view: view, headerLength: headerLength, offset: header.lineInfoOffset,
            length: header.lineInfoLength, minimumRecordSize: 16, strings: strings
        ) { (o: Int) throws(BTFError) -> BTFLineInfo in
            let record = BTFLineInfo(instructionOffset: reader.u32(o), fileNameOffset: reader.u32(o + 4),
                                     lineOffset: reader.u32(o + 8), lineColumn: reader.u32(o + 12))
            try checkString(record.fileNameOffset, "line_info file name", at: o + 4)
            try checkString(record.lineOffset, "line_info source line", at: o + 8)
            return record
        }
        if hasCore {
            (coreRelocationRecordSize, coreRelocations) = try Self.subsection(
                "core_relo", view: view, headerLength: headerLength, offset: header.coreRelocationOffset,
                length: header.coreRelocationLength, minimumRecordSize: 16, strings: strings
            ) { (o: Int) throws(BTFError) -> BTFCoreRelocation in
                let record = BTFCoreRelocation(instructionOffset: reader.u32(o), typeID: reader.u32(o + 4),
                                               accessStringOffset: reader.u32(o + 8), kind: reader.u32(o + 12))
                try checkString(record.accessStringOffset, "CO-RE access string", at: o + 8)
                return record
            }
        } else {
            coreRelocationRecordSize = 0
            coreRelocations = []
        }
    }

    /// Decodes one subsection: a record size, then blocks `{section name offset, count, records}`.
    static func subsection<Record>(
        _ what: String, view: ByteView, headerLength: Int, offset: UInt32, length: UInt32,
        minimumRecordSize: Int, strings: TypeGraph, decode: (Int) throws(BTFError) -> Record
    ) throws(BTFError) -> (Int, [BTFExtSection<Record>]) {
        if length == 0 { return (0, []) }
        let start = headerLength + Int(offset)
        let end = start + Int(length)
        guard offset % 4 == 0 else {
            throw BTFError(.sectionOutOfBounds, ".BTF.ext: \(what) offset \(offset) is not 4-byte aligned",
                           offset: start)
        }
        guard end <= view.count else {
            throw BTFError(.sectionOutOfBounds,
                           ".BTF.ext: \(what) subsection [\(start), \(end)) exceeds the section size \(view.count)",
                           offset: start)
        }
        guard length >= 4 else {
            throw BTFError(.truncatedExtRecord, ".BTF.ext: \(what) subsection of \(length) bytes has no record size",
                           offset: start)
        }
        let recordSize = Int(view.u32(unchecked: start))
        guard recordSize >= minimumRecordSize, recordSize % 4 == 0 else {
            throw BTFError(.badRecordSize,
                           ".BTF.ext: \(what) record size \(recordSize) (expected a multiple of 4, at least \(minimumRecordSize))",
                           offset: start)
        }
        var sections: [BTFExtSection<Record>] = []
        var o = start + 4
        while o < end {
            guard end - o >= 8 else {
                throw BTFError(.truncatedExtRecord,
                               ".BTF.ext: \(what) block header needs 8 bytes, \(end - o) left", offset: o)
            }
            let nameOffset = view.u32(unchecked: o)
            let count = Int(view.u32(unchecked: o + 4))
            guard let name = strings.string(at: nameOffset) else {
                throw BTFError(.badStringOffset,
                               ".BTF.ext: \(what) section name offset \(nameOffset) is outside the string section",
                               offset: o)
            }
            guard count > 0 else {
                throw BTFError(.truncatedExtRecord, ".BTF.ext: \(what) block for section \(name) has no records",
                               offset: o + 4)
            }
            // The count is bounded by the bytes present, which bounds the allocation.
            guard count <= (end - o - 8) / recordSize else {
                throw BTFError(.truncatedExtRecord,
                               ".BTF.ext: \(what) block for section \(name) declares \(count) records of \(recordSize) bytes, only \(end - o - 8) bytes left",
                               offset: o + 4)
            }
            var records: [Record] = []
            records.reserveCapacity(count)
            var r = o + 8
            for _ in 0..<count {
                records.append(try decode(r))
                r += recordSize
            }
            sections.append(BTFExtSection(sectionNameOffset: nameOffset, sectionName: name, records: records))
            o = r
        }
        return (recordSize, sections)
    }
}

extension BTFExt {
    /// The func_info records of the ELF section named `section` (all its blocks), in file order.
    public func functionInfo(section: String) -> [BTFFunctionInfo] {
        functionInfo.filter { $0.sectionName == section }.flatMap(\.records)
    }

    /// The line_info records of the ELF section named `section` (all its blocks), in file order.
    public func lineInfo(section: String) -> [BTFLineInfo] {
        lineInfo.filter { $0.sectionName == section }.flatMap(\.records)
    }

    /// The CO-RE relocation records of the ELF section named `section` (all its blocks), in file order.
    public func coreRelocations(section: String) -> [BTFCoreRelocation] {
        coreRelocations.filter { $0.sectionName == section }.flatMap(\.records)
    }
}
