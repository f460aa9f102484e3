import ArgumentParser
import ByteParsing

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
    }

    /// The run command's long options (RunCommand and LoadingOptions) and how each takes its value.
    static let options: [(name: String, kind: Kind)] = [
        ("--attach", .repeated), ("--program", .repeated), ("--btf", .single), ("--set", .repeated),
        ("--pin", .single), ("--trace", .flag), ("--maps", .single), ("--event-type", .single),
        ("--duration", .single), ("--json", .flag),
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
        var parsed = RunOptions(object: "")
        var seen: [String] = []
        while let token = remaining.popFirst() {
            guard !token.isEmpty else { return nil }
            // Bytes, not Characters: hasPrefix would run grapheme breaking (see ASCIIText.swift).
            guard token.utf8.first == UInt8(ascii: "-") else {
                // One positional argument: the object.
                guard object == nil else { return nil }
                object = token
                continue
            }
            var name = token
            var attached: String?
            if let equals = token.firstIndex(ofASCII: UInt8(ascii: "=")) {
                name = String(token[..<equals])
                attached = String(token.suffix(afterASCII: equals))
            }
            guard let kind = options.first(where: { $0.name == name })?.kind else { return nil }
            // Given twice: ArgumentParser keeps the last value of a single option; let it.
            if kind != .repeated, seen.contains(name) { return nil }
            seen.append(name)
            if kind == .flag {
                guard attached == nil else { return nil }
            } else {
                // A missing value, or one ArgumentParser might read as an option: let it decide.
                guard let value = attached ?? remaining.popFirst(), !value.isEmpty, value.utf8.first != UInt8(ascii: "-") else { return nil }
                attached = value
            }
            let value = attached ?? ""
            switch name {
            case "--attach": parsed.attachments.append(value)
            case "--program": parsed.loading.programs.append(value)
            case "--btf": parsed.loading.btfPath = value
            case "--set": parsed.loading.assignments.append(value)
            case "--pin": parsed.loading.pinDirectory = value
            case "--trace": parsed.trace = true
            case "--json": parsed.json = true
            case "--event-type": parsed.eventType = value
            case "--maps", "--duration":
                guard let seconds = Double(value) else { return nil }
                if name == "--maps" { parsed.mapsInterval = seconds } else { parsed.duration = seconds }
            default: return nil
            }
        }
        guard let object else { return nil }
        parsed.object = object
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
