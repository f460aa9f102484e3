import ArgumentParser
import Testing
@testable import SwiftLoadCLI

/// The run command's fast command-line path (RunArguments) against ArgumentParser, the grammar's owner:
/// what the fast path accepts must parse to the same options there, and everything else must be left to it.
@Suite struct RunArgumentsTests {
    /// ArgumentParser's reading of `arguments` as the run command's options (nil when it picks another
    /// command); throws what ArgumentParser throws.
    func argumentParser(_ arguments: [String]) throws -> RunOptions? {
        (try SwiftLoad.parseAsRoot(arguments) as? RunCommand)?.options
    }

    static let accepted: [[String]] = [
        ["prog.o"],
        ["run", "prog.o"],
        ["prog.o", "--attach", "tracepoint/syscalls/sys_enter_execve"],
        ["--attach", "tracepoint/syscalls/sys_enter_execve", "prog.o", "--duration", "0"],
        ["prog.o", "--attach=hello=tracepoint/syscalls/sys_enter_execve", "--attach", "raw_tp/sched_switch"],
        ["prog.o", "--program", "a", "--program=b", "--btf", "/sys/kernel/btf/vmlinux", "--pin", "/sys/fs/bpf/x"],
        ["prog.o", "--set", "min_pid=1", "--set=comm=\"true\"", "--set", "flags=0x10"],
        ["prog.o", "--trace", "--json", "--maps", "1", "--event-type", "struct event", "--duration", "2.5"],
        ["run", "--json", "prog.o", "--maps=0.05", "--duration=1e1"],
        ["prog.o", "--duration", "inf"],
        ["./dir with space/prog.o", "--attach", "uprobe//bin/bash:readline+4"],
    ]

    @Test("command lines the fast path reads give ArgumentParser's options", arguments: accepted)
    func acceptedMatchArgumentParser(_ arguments: [String]) throws {
        let fast = try #require(RunArguments.parse(arguments))
        #expect(fast == (try argumentParser(arguments)))
    }

    @Test func valuesLandInTheirFields() throws {
        let options = try #require(RunArguments.parse(
            ["prog.o", "--attach", "a=x", "--attach", "y", "--program", "p", "--set", "k=v", "--maps", "2",
             "--event-type", "struct e", "--duration", "3", "--trace", "--json", "--btf", "b", "--pin", "d"]))
        #expect(options == RunOptions(object: "prog.o", attachments: ["a=x", "y"],
                                      loading: LoadingChoices(programs: ["p"], btfPath: "b", assignments: ["k=v"], pinDirectory: "d"),
                                      trace: true, mapsInterval: 2, eventType: "struct e", duration: 3, json: true))
    }

    static let declinedButValid: [[String]] = [
        ["prog.o", "--duration", "1", "--duration", "2"],   // repeated single option: ArgumentParser keeps the last
    ]

    static let declinedAndWrong: [[String]] = [
        [],
        ["--attach", "x"],                                   // no object
        ["a.o", "b.o"],                                      // two objects
        ["prog.o", "--atach", "x"],                          // unknown option
        ["prog.o", "--attach"],                              // missing value
        ["prog.o", "--attach", "--json"],                    // value that is an option
        ["prog.o", "--maps", "soon"],                        // not a number
        ["prog.o", "--maps", "0.01"],                        // fails validation
        ["prog.o", "--duration", "nan"],                     // fails validation
        ["prog.o", "--set", "novalue"],                      // fails validation
        ["prog.o", "--trace=yes"],                           // a flag with a value
        ["prog.o", "-x"],
    ]

    static let declinedOther: [[String]] = [
        ["--help"], ["-h"], ["help"], ["help", "run"], ["prog.o", "--help"],
        ["load", "prog.o"], ["inspect", "prog.o"], ["btf", "dump"], ["probe"],
        ["prog.o", "--", "x"], ["prog.o", ""], ["prog.o", "--attach", ""],
        ["prog.o", "--duration", "-1"],
    ]

    @Test("command lines ArgumentParser rejects are left to it, for its error message", arguments: declinedAndWrong)
    func wrongCommandLinesAreDeclined(_ arguments: [String]) {
        #expect(RunArguments.parse(arguments) == nil)
        #expect(throws: (any Error).self) { try argumentParser(arguments) }
    }

    @Test("help, subcommands and unusual forms are left to ArgumentParser", arguments: declinedOther + declinedButValid)
    func otherCommandLinesAreDeclined(_ arguments: [String]) {
        #expect(RunArguments.parse(arguments) == nil)
    }

    /// The table names exactly the options ArgumentParser knows for the run command (its help lists them).
    @Test func tableNamesEveryRunOption() {
        let help = RunCommand.helpMessage(columns: 200)
        var named = Set<String>()
        // Each option's help entry starts a line with its name: "  --maps <SECONDS>   Print every ...".
        for line in help.split(separator: "\n") {
            let entry = line.drop { $0 == " " }
            if entry.hasPrefix("--") { named.insert(String(entry.prefix { $0 != " " && $0 != "<" })) }
        }
        named.remove("--help")
        #expect(named == Set(RunArguments.options.map(\.name)))
    }

    @Test func subcommandNamesMatchTheConfiguration() {
        let configured = SwiftLoad.configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"]
        #expect(Set(configured) == Set(RunArguments.subcommandNames))
    }
}
