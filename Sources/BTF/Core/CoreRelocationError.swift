/// Why a CO-RE relocation cannot be resolved: libbpf refuses the object in these cases, so the loader does
/// too. The message reads like libbpf's warning for the same case.
public struct CoreRelocationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// The access string does not parse or does not fit the local types.
        case invalidAccessString
        /// More than ``CoreSpec/maximumLength`` steps.
        case specTooDeep
        /// Several candidates match with different results.
        case ambiguous
        /// A bitfield that no single load of at most 8 bytes can read.
        case unreadableBitfield
        /// The instruction does not hold the value the local spec gives, or cannot take the new one.
        case instructionMismatch
        /// The relocation kind is unknown, or not valid for the access.
        case unsupportedKind
        /// The local root type is anonymous (only `local_type_id` works on those).
        case anonymousType
        /// The local or target BTF is malformed where the relocation walks it.
        case badBTF
    }

    /// The category.
    public var code: Code
    /// One line saying what is wrong.
    public var message: String

    /// An error with a message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(btf error: BTFError) {
        self.init(.badBTF, "\(error)")
    }

    static func invalidAccessString(_ message: String) -> CoreRelocationError {
        CoreRelocationError(.invalidAccessString, message)
    }

    /// The message.
    public var description: String { message }
}
