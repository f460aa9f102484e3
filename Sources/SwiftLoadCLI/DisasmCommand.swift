import ArgumentParser
import BPFObject

/// `swift-load disasm OBJ [--program NAME]`: annotated BPF assembly of every function.
struct DisasmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble the programs and subprograms of an object, with map names, source lines and relocation notes.")

    @Argument(help: "The BPF ELF object.")
    var object: String

    @Option(name: .customLong("program"), help: "Only this program or subprogram (repeatable).")
    var programs: [String] = []

    func run() throws {
        let spec = try readObject(object)
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
}
