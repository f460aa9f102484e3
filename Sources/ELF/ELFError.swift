/// Why an ELF file could not be read: one case per kind of defect, each with the byte offset in the file
/// and what was being read, so that a user can find the broken spot with a hex viewer.
public struct ELFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of defect.
    public enum Code: String, Sendable, Equatable {
        /// The file ends before a structure it declares.
        case truncated
        /// The first bytes are not `\x7fELF`.
        case notELF
        /// Not a 64-bit ELF file.
        case wrongClass
        /// Byte order byte is neither little nor big endian.
        case badByteOrder
        /// `e_machine` is not EM_BPF (247).
        case wrongMachine
        /// `e_type` is not ET_REL: BPF objects are relocatable files.
        case wrongType
        /// An unsupported ELF version or header/entry size.
        case badHeader
        /// A section's bytes lie outside the file.
        case sectionOutOfBounds
        /// Two sections claim the same bytes.
        case overlappingSections
        /// A section index refers to no section.
        case badSectionIndex
        /// A name offset lies outside its string table, or the name is not NUL-terminated.
        case badName
        /// A symbol table is missing, duplicated or malformed.
        case badSymbolTable
        /// A relocation section is malformed.
        case badRelocation
        /// A program header is malformed, or a loadable segment's bytes lie outside the file.
        case badProgramHeader
        /// A symbol version table (`.gnu.version`, `.gnu.version_d`, `.gnu.version_r`) is malformed.
        case badVersionTable
        /// A count exceeds the reader's limits.
        case limitExceeded
    }

    /// The kind of defect.
    public var code: Code
    /// Byte offset in the file where the defect was found.
    public var offset: Int
    /// What was being read, in words (`section header 12`, `symbol 'counts'`).
    public var context: String

    /// Creates an error.
    public init(_ code: Code, at offset: Int, _ context: String) {
        self.code = code
        self.offset = offset
        self.context = context
    }

    /// One line: `ELF: truncated at byte 0x40: section header table (64 bytes × 9)`.
    public var description: String {
        "ELF \(code.rawValue.spacedLowercase) at byte 0x\(String(offset, radix: 16)): \(context)"
    }
}

extension String {
    /// `overlappingSections` → `overlapping sections`.
    var spacedLowercase: String {
        var out = ""
        for character in self {
            if character.isUppercase {
                out.append(" ")
                out.append(contentsOf: character.lowercased())
            } else {
                out.append(character)
            }
        }
        return out
    }
}
