import BPFObject
import BTF

/// An object loaded into the kernel: its maps and programs, alive while this value (or any of its maps and
/// programs) is referenced. Nothing of it stays in the kernel after release unless pinned or attached.
public final class LoadedObject: @unchecked Sendable {
    /// The spec as loaded (after the user's edits; CO-RE and externs are applied to copies).
    public let spec: ObjectSpec
    /// Every map, in the spec's order (user maps, then global data and `.kconfig`).
    public let maps: [Map]
    /// Every program that loaded, in the spec's order.
    public let programs: [Program]
    /// Programs that were asked for and failed, with why (only with ``LoadOptions/allowsPartialLoad``).
    public let failures: [ProgramLoadFailure]
    /// Things a user should know that did not stop the load (BTF rejected and dropped, a map created
    /// without BTF ids).
    public let warnings: [String]
    /// The object's BTF as the kernel holds it, when it was accepted.
    public let btf: OwnedFileDescriptor?

    init(spec: ObjectSpec, maps: [Map], programs: [Program], failures: [ProgramLoadFailure], warnings: [String],
         btf: OwnedFileDescriptor?) {
        self.spec = spec
        self.maps = maps
        self.programs = programs
        self.failures = failures
        self.warnings = warnings
        self.btf = btf
    }

    /// The map named `name` (the object's name; `.rodata`, `.data`, `.bss` for global data).
    public func map(named name: String) -> Map? { maps.first { $0.name == name } }

    /// The program named `name`.
    public func program(named name: String) -> Program? { programs.first { $0.name == name } }
}

/// A program that did not load, and why.
public struct ProgramLoadFailure: Sendable {
    /// The program's name.
    public var name: String
    /// What went wrong; for verifier rejections ``BPFError/log`` holds the log.
    public var error: BPFError
}
