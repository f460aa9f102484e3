import ArgumentParser
import BPFObject

/// `swift-load disasm OBJ [--program NAME] [--relocated] [--btf PATH]`: annotated BPF assembly of every
/// function, or of every entry program as linked for loading.
struct DisasmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble the programs and subprograms of an object, with map names, source lines and relocation notes.",
        discussion: """
            With --relocated, each entry program is shown as the loader hands it to the kernel: its subprograms \
            appended (each once, depth-first as libbpf does), calls and callback addresses rewritten, line_info \
            moved along.
            """)

    @Argument(help: "The BPF ELF object.")
    var object: String

    @Option(name: .customLong("program"), help: "Only this program or subprogram (repeatable); with --relocated, only this entry program.")
    var programs: [String] = []

    @Flag(help: "Show each entry program's linked instruction stream (subprograms appended, calls rewritten).")
    var relocated = false

    @Option(name: .customLong("btf"), help: ArgumentHelp("Target kernel BTF for CO-RE relocations, applied before linking.", valueName: "PATH"))
    var btfPath: String?

    func run() throws {
        var spec = try readObject(object)
        if relocated || btfPath != nil {
            do {
                spec = try relocatedObject(spec, btfPath: btfPath)
            } catch {
                reportError("\(object): \(error)")
                throw ExitCode.failure
            }
        }
        if relocated {
            try printLinked(spec)
        } else {
            try printFunctions(spec)
        }
    }

    /// Every function as it is in the file (or after CO-RE, with `--btf`), slots counted per function.
    func printFunctions(_ spec: ObjectSpec) throws {
        var functions = spec.functions
        if !programs.isEmpty {
            for name in programs where !functions.contains(where: { $0.name == name }) {
                reportError("\(object): no program or subprogram named '\(name)'",
                            details: ["functions: " + functions.map(\.name).joined(separator: ", ")])
                throw ExitCode.failure
            }
            functions = functions.filter { programs.contains($0.name) }
        }
        var out = StandardOutput()
        let disassembler = Disassembler(style: .annotated)
        for (index, function) in functions.enumerated() {
            if index > 0 { out.line("") }
            let program = spec.program(named: function.name)
            let kind = program.map { "\($0.type) program" } ?? (function.isGlobal ? "global subprogram" : "static subprogram")
            out.line("\(function.name): \(kind) in section '\(function.sectionName)', \(function.instructions.count) instructions")
            out.write(disassembler.listing(of: function.instructions, annotations: function.disassemblyAnnotations(btf: spec.btf)))
        }
    }

    /// Every entry program (or the named ones) linked: one stream per program, slots counted from its start.
    func printLinked(_ spec: ObjectSpec) throws {
        var selected = spec.programs
        if !programs.isEmpty {
            for name in programs where spec.program(named: name) == nil {
                let isSubprogram = spec.subprograms.contains { $0.name == name }
                reportError(
                    isSubprogram
                        ? "\(object): '\(name)' is a subprogram; --relocated shows entry programs, with their subprograms appended"
                        : "\(object): no entry program named '\(name)'",
                    details: ["programs: " + spec.programs.map(\.name).joined(separator: ", ")])
                throw ExitCode.failure
            }
            selected = selected.filter { programs.contains($0.name) }
        }
        // Link everything first so that a failure prints nothing but the error.
        let linked: [LinkedProgram]
        do {
            linked = try spec.link(selected)
        } catch {
            reportError("\(object): \(error)")
            throw ExitCode.failure
        }
        var out = StandardOutput()
        let disassembler = Disassembler(style: .annotated)
        for (index, program) in linked.enumerated() {
            if index > 0 { out.line("") }
            let disabled = program.program.autoload ? "" : " (not loaded by default)"
            out.line("\(program.name): \(program.program.type) program in section '\(program.sectionName)'\(disabled), \(program.instructions.count) instructions linked from \(program.functions.count) \(program.functions.count == 1 ? "function" : "functions")")
            if program.functions.count > 1 {
                out.line("functions: " + program.functions.map { "\($0.name) \($0.startSlot)-\($0.startSlot + $0.slotCount - 1)" }.joined(separator: ", "))
            }
            for note in program.notes { out.line("note: " + note) }
            out.write(disassembler.listing(of: program.instructions, annotations: program.disassemblyAnnotations(btf: spec.btf)))
        }
    }
}
