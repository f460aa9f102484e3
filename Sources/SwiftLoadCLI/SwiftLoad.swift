import ArgumentParser

/// The `swift-load` command and its subcommands.
public struct SwiftLoad: AsyncParsableCommand {
    /// Creates the command (used by ArgumentParser).
    public init() {}

    /// Command name, abstract and subcommands; `run` is the default so `swift-load prog.o` works.
    public static let configuration = CommandConfiguration(
        commandName: "swift-load",
        abstract: "Load, attach, inspect and relocate eBPF ELF objects.",
        subcommands: []
    )
}
