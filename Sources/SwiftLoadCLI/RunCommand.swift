import ArgumentParser
import BPFObject

/// `swift-load OBJ [--attach [PROGRAM=]SPEC]...`: load, attach, stream output, detach on Ctrl-C.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Load an object, attach its programs and show what they produce (the default command).")

    @Argument(help: "The BPF ELF object (clang -target bpf -c).")
    var object: String

    @Option(name: .customLong("attach"), help: "[PROGRAM=]SPEC to attach, in libbpf's section vocabulary (tracepoint/CAT/NAME, raw_tp/NAME, uprobe/PATH:SYMBOL, xdp/IFNAME, ...).")
    var attachments: [String] = []

    @Option(name: .customLong("program"), help: "Load only these programs.")
    var programs: [String] = []

    func validate() throws {
        for attachment in attachments {
            do { _ = try AttachRequest(parsing: attachment) } catch {
                throw ValidationError("--attach \(attachment): \(error)")
            }
        }
    }

    func run() throws {
        let spec = try readObject(object)
        for name in programs where spec.program(named: name) == nil {
            reportError("\(object): no program named '\(name)'", details: ["programs: " + spec.programs.map(\.name).joined(separator: ", ")])
            throw ExitCode.failure
        }
        // Attaching is not built yet: say so rather than pretend.
        reportError("\(object): attaching programs is not available in this build yet; 'swift-load load' loads and verifies the object, 'inspect' and 'disasm' examine it")
        throw ExitCode.failure
    }
}
