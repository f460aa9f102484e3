import ArgumentParser
import BPF
import BPFObject
import BTF
import ByteParsing

/// The options `load` and the run command share: which programs, which target BTF, variable edits, and
/// where pins go.
struct LoadingOptions: ParsableArguments {
    @Option(name: .customLong("program"), help: ArgumentHelp("Load only this program (repeatable); maps are always created.", valueName: "NAME"))
    var programs: [String] = []

    @Option(name: .customLong("btf"), help: ArgumentHelp("Target BTF for CO-RE: a raw BTF file or an ELF object with .BTF (default: the running kernel's).", valueName: "PATH"))
    var btfPath: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Set a global variable before loading (a const volatile knob, or .data/.bss); repeatable.", valueName: "NAME=VALUE"))
    var assignments: [String] = []

    @Option(name: .customLong("pin"), help: ArgumentHelp("Pin directory for maps with pinning = LIBBPF_PIN_BY_NAME (default /sys/fs/bpf).", valueName: "DIR"))
    var pinDirectory: String?

    /// The options as a plain value (what the commands work from).
    var choices: LoadingChoices {
        LoadingChoices(programs: programs, btfPath: btfPath, assignments: assignments, pinDirectory: pinDirectory)
    }

    func validate() throws {
        if let problem = choices.problem { throw ValidationError(problem) }
    }
}

/// What ``LoadingOptions`` holds, as a value that does not need ArgumentParser to exist: the run command's
/// fast path (``RunArguments``) builds one straight from the command line.
struct LoadingChoices: Equatable, Sendable {
    /// `--program`: load only these (all when empty).
    var programs: [String] = []
    /// `--btf`: the target BTF for CO-RE (the running kernel's when nil).
    var btfPath: String?
    /// `--set NAME=VALUE`, in order.
    var assignments: [String] = []
    /// `--pin`: where LIBBPF_PIN_BY_NAME maps are pinned.
    var pinDirectory: String?

    /// What is wrong with the values, as ArgumentParser's validation message, or nil.
    var problem: String? {
        assignments.first { !$0.contains("=") }.map { "--set \($0): expected NAME=VALUE" }
    }

    /// The object at `path` with the `--set` edits applied and the `--program` names checked, and the
    /// loader options; failures are reported as one line and exit 1.
    func prepare(_ path: String) throws -> (ObjectSpec, LoadOptions) {
        var spec = try readObject(path)
        for name in programs where spec.program(named: name) == nil {
            reportError("\(path): no program named '\(name)'", details: ["programs: " + spec.programs.map(\.name).joined(separator: ", ")])
            throw ExitCode.failure
        }
        for assignment in assignments {
            guard let equals = assignment.firstIndex(ofASCII: UInt8(ascii: "=")) else {
                reportError("--set \(assignment): expected NAME=VALUE")
                throw ExitCode.failure
            }
            let name = String(assignment[..<equals]), value = String(assignment.suffix(afterASCII: equals))
            do { try spec.setVariable(name, to: VariableValue(parsing: value)) } catch {
                reportError("--set \(assignment): \(error)")
                throw ExitCode.failure
            }
        }
        var options = LoadOptions(pinDirectory: pinDirectory, programNames: programs.isEmpty ? nil : Set(programs),
                                  allowsPartialLoad: true)
        if btfPath != nil {
            do { options.coreTargets = try TargetBTF.load(btfPath).targets } catch {
                reportError("\(error)")
                throw ExitCode.failure
            }
        }
        return (spec, options)
    }
}

/// Loads `spec`, turning an object-wide failure into one line on stderr and exit 1.
func loadObject(_ spec: ObjectSpec, options: LoadOptions, path: String) throws -> LoadedObject {
    do {
        return try LoadedObject.load(spec, options: options)
    } catch {
        reportError("\(path): \(error.message)", details: error.details)
        throw ExitCode.failure
    }
}
