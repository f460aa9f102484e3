import ArgumentParser

/// The `swift-load` command and its subcommands.
public struct SwiftLoad: ParsableCommand {
    /// Creates the command (used by ArgumentParser).
    public init() {}

    /// Command name, abstract and subcommands; `run` is the default so `swift-load prog.o` works.
    public static let configuration = CommandConfiguration(
        commandName: "swift-load",
        abstract: "Load, attach, inspect and relocate eBPF ELF objects.",
        discussion: "Run 'swift-load help <subcommand>' for details. Docs/ in the repository has a page per command.",
        subcommands: [RunCommand.self, LoadCommand.self, InspectCommand.self, DisasmCommand.self, RelocCommand.self, BTFCommand.self, ProbeCommand.self],
        defaultSubcommand: RunCommand.self
    )
}
