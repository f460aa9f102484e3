import BTF
import ELF

/// Why an object could not be turned into an ``ObjectSpec``, or a spec edit was refused.
///
/// Carries where the problem is (section, symbol, instruction, BTF type) so that the one-line message
/// points at the broken spot; the underlying ELF or BTF error is kept as the cause.
public struct ObjectError: Error, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: String, Sendable, Hashable {
        /// The ELF container is malformed (see ``cause``).
        case elf
        /// The `.BTF` or `.BTF.ext` section is malformed (see ``cause``).
        case btf
        /// A program or subprogram symbol is malformed or misplaced.
        case program
        /// A map definition is malformed.
        case map
        /// A relocation cannot be applied to the instruction it names.
        case relocation
        /// An extern cannot be classified.
        case `extern`
        /// A global variable edit was refused.
        case variable
        /// The section name is not one the loader knows.
        case section
    }

    /// The kind of problem.
    public var code: Code
    /// One sentence saying what is wrong and where.
    public var message: String
    /// The ELF or BTF error underneath, when there is one.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message, followed by the cause when the message does not already say it.
    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }
}
