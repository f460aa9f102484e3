import ArgumentParser
import BTF
import ByteParsing
import ELF

/// `swift-load btf …`: BTF tools.
struct BTFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf",
        abstract: "Work with BTF type information.",
        subcommands: [BTFDumpCommand.self])
}

/// `swift-load btf dump FILE [--base PATH] [--format raw|c|json] [--json]`: every type, as
/// `bpftool btf dump file FILE [format c]` prints them.
struct BTFDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print every type of a BTF file (raw BTF such as /sys/kernel/btf/vmlinux, or an ELF object's .BTF).",
        discussion: """
            The raw output is line for line what 'bpftool btf dump file FILE' prints; '--format c' prints \
            what 'bpftool btf dump file FILE format c' prints: a C header of every type (vmlinux.h for \
            CO-RE programs).
            """)

    /// What to print.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// bpftool's one-line-per-type listing.
        case raw
        /// A compilable C header.
        case c
        /// bpftool's JSON.
        case json
    }

    @Argument(help: "A raw BTF file or an ELF object with a .BTF section.")
    var file: String

    @Option(help: "Base BTF for split BTF (a kernel module's BTF continues vmlinux's). Default for /sys/kernel/btf/<module>: /sys/kernel/btf/vmlinux.")
    var base: String?

    @Option(help: "Output format: raw (bpftool's listing), c (a C header, vmlinux.h) or json.")
    var format: Format = .raw

    @Flag(help: "Print JSON (one array of types); the same as --format json.")
    var json = false

    func run() throws {
        let graph: TypeGraph
        do {
            graph = try BTFSource.read(file, base: base ?? BTFSource.defaultBase(for: file))
        } catch {
            reportError("\(error)")
            throw ExitCode.failure
        }
        var out = StandardOutput()
        switch json ? .json : format {
        case .json:
            graph.jsonDump().withUnsafeBytes { out.write(bytes: $0) }
            out.line("")
        case .raw:
            graph.writeRawDump { out.write(bytes: $0) }
        case .c:
            do {
                try graph.writeCHeader { out.write(bytes: $0) }
            } catch {
                reportError("\(file): \(error)")
                throw ExitCode.failure
            }
        }
    }
}

/// Where BTF comes from for the commands: a raw BTF file or an ELF object's `.BTF` section, optionally
/// split on a base.
enum BTFSource {
    /// A failure to read BTF, naming the file.
    struct ReadError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "\(path): \(reason)" }
    }

    static let kernelDirectory = "/sys/kernel/btf/"

    /// vmlinux for a module file under `/sys/kernel/btf`, as bpftool does.
    static func defaultBase(for path: String) -> String? {
        guard path.hasPrefix(kernelDirectory), path != kernelDirectory + "vmlinux" else { return nil }
        return kernelDirectory + "vmlinux"
    }

    /// The type graph of `path`, split on the BTF of `basePath` when given; a failure names the file at fault.
    static func read(_ path: String, base basePath: String?) throws(ReadError) -> TypeGraph {
        let view = try blob(path)
        var base: TypeGraph?
        if let basePath {
            let baseView = try blob(basePath)
            do { base = try TypeGraph(data: baseView) } catch { throw ReadError(path: basePath, reason: "\(error)") }
        }
        do {
            if let base { return try TypeGraph(splitData: view, base: base) }
            return try TypeGraph(data: view)
        } catch {
            throw ReadError(path: path, reason: "\(error)")
        }
    }

    /// The BTF bytes of a file: the whole file, or the `.BTF` section of an ELF object.
    static func blob(_ path: String) throws(ReadError) -> ByteView {
        let storage: ByteStorage
        do { storage = try ByteStorage(contentsOf: path) } catch { throw ReadError(path: path, reason: "\(error)") }
        let view = storage.view(order: .little)
        guard view.bytes(0, 4) == [0x7f, 0x45, 0x4c, 0x46] else { return view }
        do {
            let elf = try ELFFile(bytes: view)
            guard let section = elf.section(named: ".BTF") else {
                throw ReadError(path: path, reason: "the ELF file has no .BTF section")
            }
            return elf.contents(of: section)
        } catch let error as ReadError {
            throw error
        } catch {
            throw ReadError(path: path, reason: "\(error)")
        }
    }
}
