import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The run command's command line read without ArgumentParser, for the common case only.
///
/// Why: ArgumentParser builds its view of a command by reflecting over every command in the tree on each
/// start, which costs about 2 ms before the first line of work (the Swift runtime instantiating metadata
/// by mangled name and scanning conformance records). That is as long as libbpf takes to load and attach a
/// whole object, and `swift-load prog.o --attach ...` is the command users start most. So a command line
/// made only of the run command's own options, each well formed, is read here; anything else (help, a
/// subcommand, an unknown or repeated option, a value that looks like an option or is not a number, a
/// value that fails validation) returns nil and goes through ArgumentParser, which stays the one place
/// that defines the grammar, the help and the error messages. Tests check that every accepted command line
/// gives the same ``RunOptions`` as ArgumentParser's parse and that the table below names exactly the run
/// command's options.
enum RunArguments {
    /// How one of the run command's options takes its value.
    enum Kind: Equatable, Sendable {
        /// A flag: no value.
        case flag
        /// One value; the option may be given once.
        case single
        /// One value per occurrence, all kept in order.
        case repeated
        /// One value that must read as a `Double`.
        case number
    }

    /// The run command's long options (RunCommand and LoadingOptions) and how each takes its value.
    static let options: [(name: String, kind: Kind)] = [
        ("--attach", .repeated), ("--program", .repeated), ("--btf", .single), ("--set", .repeated),
        ("--pin", .single), ("--trace", .flag), ("--maps", .number), ("--event-type", .single),
        ("--duration", .number), ("--json", .flag),
    ]

    /// The names ArgumentParser reads as a subcommand when they come first: `help` and the subcommands of
    /// ``SwiftLoad`` (a test checks them against its configuration, which is costly to read at start).
    static let subcommandNames = ["help", "run", "load", "inspect", "disasm", "reloc", "btf", "probe"]

    /// The run options `arguments` (the command line without the program name) asks for, or nil when
    /// ArgumentParser must read it.
    static func parse(_ arguments: [String]) -> RunOptions? {
        var remaining = arguments[...]
        // An explicit `run` is the run command; any other subcommand name (or help) is ArgumentParser's.
        if let first = remaining.first, subcommandNames.contains(first) {
            guard first == "run" else { return nil }
            remaining = remaining.dropFirst()
        }
        var object: String?
        // The values given for each option, by its index in `options` (a flag holds one empty string).
        var values = [[String]](repeating: [], count: options.count)
        while let token = remaining.popFirst() {
            guard !token.isEmpty else { return nil }
            guard token.hasPrefix("-") else {
                // One positional argument: the object.
                guard object == nil else { return nil }
                object = token
                continue
            }
            var name = Substring(token)
            var value: String?
            if let equals = token.firstIndex(of: "=") {
                name = token[..<equals]
                value = String(token[token.index(after: equals)...])
            }
            guard let index = options.firstIndex(where: { $0.name == name }) else { return nil }
            let kind = options[index].kind
            if kind == .flag {
                guard value == nil else { return nil }
            } else {
                if value == nil { value = remaining.popFirst() }
                // A missing value, or one ArgumentParser might read as an option: let it decide.
                guard let value, !value.isEmpty, !value.hasPrefix("-") else { return nil }
            }
            if kind != .repeated, !values[index].isEmpty { return nil }
            values[index].append(value ?? "")
        }
        guard let object else { return nil }
        func given(_ name: String) -> [String] {
            options.firstIndex { $0.name == name }.map { values[$0] } ?? []
        }
        func number(_ name: String) -> Double?? {
            guard let text = given(name).first else { return .some(nil) }
            return Double(text).map { .some($0) }
        }
        guard let mapsInterval = number("--maps"), let duration = number("--duration") else { return nil }
        let parsed = RunOptions(
            object: object, attachments: given("--attach"),
            loading: LoadingChoices(programs: given("--program"), btfPath: given("--btf").first,
                                    assignments: given("--set"), pinDirectory: given("--pin").first),
            trace: !given("--trace").isEmpty, mapsInterval: mapsInterval, eventType: given("--event-type").first,
            duration: duration, json: !given("--json").isEmpty)
        return parsed.problem == nil ? parsed : nil
    }
}

extension SwiftLoad {
    /// Runs `swift-load` with the process's command line: the run command's common forms straight from
    /// ``RunArguments``, everything else through ArgumentParser (`main()`).
    public static func start() {
        guard let options = RunArguments.parse(Array(CommandLine.arguments.dropFirst())) else {
            main()
            return
        }
        do {
            try options.run()
        } catch let code as ExitCode {
            // What ArgumentParser does with an ExitCode, without building its error report.
            processExit(code.rawValue)
        } catch {
            RunCommand.exit(withError: error)
        }
    }
}

/// The C library's `exit` (inside a command type, `exit` names ArgumentParser's).
private func processExit(_ status: Int32) -> Never {
    exit(status)
}
