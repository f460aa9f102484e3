/// A BTF or .BTF.ext blob could not be decoded, or a query on a decoded graph failed.
///
/// Every error names what was being read and, when it comes from the input bytes, the byte offset within
/// the blob (from its first byte, header included) and the type id concerned.
public struct BTFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a value tests and callers can match on.
    public enum Code: Sendable, Equatable, Hashable {
        /// The blob is shorter than the header it declares (or than the 24-byte minimum header).
        case truncatedHeader
        /// The magic is neither `0xEB9F` in little-endian nor in big-endian order.
        case badMagic
        /// The version is not 1.
        case unsupportedVersion
        /// `hdr_len` is smaller than 24 or larger than the blob.
        case badHeaderLength
        /// The type or string section lies (partly) outside the blob, or is misaligned.
        case sectionOutOfBounds
        /// The string section does not start or end with a NUL byte.
        case badStringSection
        /// A type record runs past the end of the type section (a huge `vlen` ends up here too).
        case truncatedType
        /// A type record has a kind this decoder does not know (newer kernels may add kinds).
        case unknownKind(UInt8)
        /// A type refers to a type id that does not exist.
        case badTypeID
        /// A name or string offset lies outside the string section(s).
        case badStringOffset
        /// A string runs to the end of its section without a NUL byte.
        case unterminatedString
        /// Resolving a type went through more than the allowed number of steps (a loop, e.g. a typedef
        /// naming itself).
        case resolutionTooDeep
        /// The type exists but has the wrong kind for the query (size of a function, members of an int).
        case wrongKind
        /// A .BTF.ext subsection record size is smaller than the record it must hold, or zero.
        case badRecordSize
        /// A .BTF.ext block or record lies outside its subsection, or a count exceeds the limits.
        case truncatedExtRecord
        /// The blob has more types than the decoder accepts.
        case tooManyTypes
    }

    /// What went wrong.
    public var code: Code
    /// One human sentence describing the problem, with the values read.
    public var message: String
    /// The type id concerned, if any.
    public var typeID: UInt32?
    /// The byte offset in the blob where the offending value was read, if any.
    public var offset: Int?

    /// Creates an error.
    public init(_ code: Code, _ message: String, typeID: UInt32? = nil, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.typeID = typeID
        self.offset = offset
    }

    /// `BTF: unknown kind 20 (type id 5, at byte offset 0x58)`.
    public var description: String {
        var text = "BTF: " + message
        var details: [String] = []
        if let typeID { details.append("type id \(typeID)") }
        if let offset { details.append("at byte offset \(offset)") }
        if !details.isEmpty { text += " (" + details.joined(separator: ", ") + ")" }
        return text
    }
}
