/// Which BTF features a kernel's `BPF_BTF_LOAD` accepts, as found by probing (libbpf's `FEAT_BTF_*`
/// probes load a tiny blob using each feature). ``BTFImage/sanitize(for:)`` rewrites what is missing into
/// kinds every BTF-capable kernel (4.18+) knows, keeping every type id.
///
/// A kernel without any BTF support (before 4.18) is not described here: the loader then loads no BTF.
public struct BTFKernelSupport: Sendable, Hashable {
    /// `FUNC` and `FUNC_PROTO` (Linux 5.0). Without them a prototype becomes an `ENUM` and a function a
    /// `TYPEDEF` of it.
    public var functions: Bool
    /// `FUNC` with global linkage (Linux 5.6, with global function verification). Without it every
    /// `FUNC` becomes static.
    public var globalFunctions: Bool
    /// `VAR` and `DATASEC` (Linux 5.2, with global data). Without them a variable becomes a one-byte `INT`
    /// and a data section a `STRUCT` whose members are its variables.
    public var dataSections: Bool
    /// `DATASEC` names starting with `?` (Linux 6.9; optional `?.struct_ops` sections). Without it the
    /// `?` is replaced by `_`.
    public var questionMarkDataSections: Bool
    /// `FLOAT` (Linux 5.13). Without it a float becomes an anonymous empty `STRUCT` of the same size.
    public var floats: Bool
    /// `DECL_TAG` (Linux 5.16). Without it a tag becomes a one-byte `INT`.
    public var declTags: Bool
    /// `TYPE_TAG` (Linux 5.17). Without it a type tag becomes an anonymous `CONST`.
    public var typeTags: Bool
    /// `ENUM64` and signed `ENUM`s (the `ENUM` kind flag), both Linux 6.0. Without them an `ENUM64`
    /// becomes a `UNION` of one-byte placeholder members and an `ENUM` loses its kind flag.
    public var enum64: Bool

    /// A feature set; every feature defaults to supported.
    public init(functions: Bool = true, globalFunctions: Bool = true, dataSections: Bool = true,
                questionMarkDataSections: Bool = true, floats: Bool = true, declTags: Bool = true,
                typeTags: Bool = true, enum64: Bool = true) {
        self.functions = functions
        self.globalFunctions = globalFunctions
        self.dataSections = dataSections
        self.questionMarkDataSections = questionMarkDataSections
        self.floats = floats
        self.declTags = declTags
        self.typeTags = typeTags
        self.enum64 = enum64
    }

    /// A modern kernel (6.9 or later): everything is accepted and sanitising changes nothing.
    public static let all = BTFKernelSupport()

    /// A kernel with minimal BTF only (4.18 to 4.20): integers, pointers, arrays, structs, unions,
    /// enums, forward declarations, typedefs and modifiers.
    public static let none = BTFKernelSupport(
        functions: false, globalFunctions: false, dataSections: false, questionMarkDataSections: false,
        floats: false, declTags: false, typeTags: false, enum64: false)

    /// Whether every feature is supported, so that sanitising changes nothing.
    public var isComplete: Bool { self == .all }
}
