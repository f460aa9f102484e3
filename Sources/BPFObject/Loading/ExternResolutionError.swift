/// Why an object's externs cannot be resolved for loading: which extern, what went wrong and where it
/// was looked up.
public struct ExternResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// A strong (non-weak) extern is in none of the places searched.
        case notFound
        /// The kernel has the symbol, with a type that does not agree with the object's declaration.
        case incompatibleType
        /// A kernel configuration value does not fit the extern's type.
        case invalidValue
        /// The ``ExternValueSource`` lacks what the extern needs (no kernel BTF, no kernel version ...).
        case missingSource
        /// The extern is of a kind the loader cannot fill (no BTF describes it, an unknown `LINUX_*`
        /// value, a `__kconfig` name that is neither `CONFIG_*` nor `LINUX_*`).
        case unsupported
        /// More module BTFs hold kfuncs than `fd_array` indices fit in an instruction's 16-bit offset.
        case tooManyModules
    }

    /// What went wrong.
    public var code: Code
    /// The extern's name.
    public var extern: String
    /// Where it was looked up: `vmlinux BTF and 12 module BTFs`, `the kernel symbol table`,
    /// `the kernel configuration`, ...
    public var searched: String
    /// One sentence naming the extern, the problem and where it was looked up.
    public var message: String

    /// An error; `message` should name the extern and `searched`.
    public init(_ code: Code, extern: String, searched: String, _ message: String) {
        self.code = code
        self.extern = extern
        self.searched = searched
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
