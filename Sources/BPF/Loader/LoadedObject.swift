import BPFObject
import BTF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
    /// Where the load's time went: the part spent inside the kernel's commands, for telling the loader's
    /// own overhead from the verifier's.
    public let statistics: LoadStatistics

    init(spec: ObjectSpec, maps: [Map], programs: [Program], failures: [ProgramLoadFailure], warnings: [String],
         btf: OwnedFileDescriptor?, statistics: LoadStatistics) {
        self.spec = spec
        self.maps = maps
        self.programs = programs
        self.failures = failures
        self.warnings = warnings
        self.btf = btf
        self.statistics = statistics
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

/// Time spent inside the kernel during one load, per command, in nanoseconds (monotonic clock).
public struct LoadStatistics: Sendable {
    /// Inside `BPF_PROG_LOAD` (every attempt: the verifier's time).
    public var programLoadNanoseconds: UInt64 = 0
    /// Inside `BPF_MAP_CREATE`.
    public var mapCreateNanoseconds: UInt64 = 0
    /// Inside `BPF_BTF_LOAD`.
    public var btfLoadNanoseconds: UInt64 = 0
    /// `BPF_PROG_LOAD` calls made (retries with a log included).
    public var programLoadCalls = 0

    /// All of the above.
    public var kernelNanoseconds: UInt64 { programLoadNanoseconds + mapCreateNanoseconds + btfLoadNanoseconds }

    /// Runs `body`, adding its duration to `total`.
    static func timed<T>(_ total: inout UInt64, _ body: () -> T) -> T {
        let start = now()
        let result = body()
        total &+= now() &- start
        return result
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}
