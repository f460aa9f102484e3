import ArgumentParser
import BPF
import BPFObject
import BTF

/// `swift-load reloc OBJ [--btf PATH] [--kconfig FILE] [--json]`: every relocation the loader would apply,
/// and what it would write, without privileges and without loading anything.
struct RelocCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reloc",
        abstract: "Show every relocation of an object (maps, global data, calls, externs, CO-RE) and what the loader would write.",
        discussion: """
            CO-RE relocations resolve against --btf (a raw BTF file such as a copy of another machine's \
            /sys/kernel/btf/vmlinux or a BTFHub file, or an ELF object with .BTF) or, without it, the running \
            kernel's BTF. The human output reads like libbpf's debug log; --json prints one object with a \
            "relocations" array (see Docs/commands/reloc.md). Exits 1 when a relocation fails (libbpf would \
            refuse the object); all the others are still reported.
            """)

    @Argument(help: "The BPF ELF object.")
    var object: String

    @Option(name: .customLong("btf"), help: ArgumentHelp("Target BTF: a raw BTF file or an ELF object with .BTF (default: the running kernel's).", valueName: "PATH"))
    var btfPath: String?

    @Option(name: .customLong("kconfig"), help: ArgumentHelp("A kernel .config (plain or gzip) to resolve __kconfig externs from (default with the running kernel: /proc/config.gz or /boot/config-$(uname -r)).", valueName: "FILE"))
    var kconfigPath: String?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let spec = try readObject(object)
        var target: TargetBTF?
        do {
            if spec.hasCoreRelocations || btfPath != nil { target = try TargetBTF.load(btfPath) }
        } catch {
            reportError("\(error)", details: btfPath == nil ? ["pass --btf FILE to relocate against another kernel's BTF"] : [])
            throw ExitCode.failure
        }
        let externs = try externValues(target: target, spec: spec)
        let report = spec.relocationReport(targets: target?.targets, externValues: externs)
        var out = StandardOutput()
        if json {
            out.line(jsonReport(report, target: target).serialized)
        } else {
            printReport(report, target: target, to: &out)
        }
        if report.hasFailures { throw ExitCode.failure }
    }

    // MARK: Externs

    func externValues(target: TargetBTF?, spec: ObjectSpec) throws -> ExternValueSource {
        var source = ExternValueSource()
        if let kconfigPath {
            do { source.kernelConfig = try KernelConfig(contentsOf: kconfigPath) } catch {
                reportError("\(error)")
                throw ExitCode.failure
            }
        }
        if btfPath != nil {
            source.btf = target?.targets.primary.graph
            return source
        }
        // The running system.
        let resolvesByBTF = spec.externs.contains {
            switch $0.kind {
            case .ksym(typed: true), .kfunc: return true
            default: return false
            }
        }
        source.btf = target?.targets.primary.graph ?? (resolvesByBTF ? try? KernelBTF.vmlinux() : nil)
        source.kernelVersion = RunningKernel.version
        // Reading (and inflating) the configuration costs more than relocating: only when asked for.
        let readsConfig = spec.externs.contains {
            if case .kconfig = $0.kind { return $0.name.hasPrefix("CONFIG_") }
            return false
        }
        if source.kernelConfig == nil, readsConfig { source.kernelConfig = try? RunningKernel.config() }
        let typeless = Set(spec.externs.compactMap { extern -> String? in
            if case .ksym(typed: false) = extern.kind { return extern.name }
            return nil
        })
        if !typeless.isEmpty { source.symbolAddresses = RunningKernel.symbolAddresses(typeless) }
        return source
    }

    // MARK: Output

    func printReport(_ report: RelocationReport, target: TargetBTF?, to out: inout StandardOutput) {
        out.line("object: \(object)")
        out.line("target BTF: \(target?.label ?? "none (no CO-RE relocations)")")
        var counts: [CoreRelocationOutcome.Status: Int] = [:]
        var currentFunction = ""
        for entry in report.entries {
            let function = "\(entry.section)/\(entry.function)"
            if function != currentFunction {
                currentFunction = function
                out.line("")
                out.line("\(entry.function) (section '\(entry.section)'):")
            }
            counts[entry.status, default: 0] += 1
            for line in entry.log { out.line("  " + line) }
        }
        for failure in report.linkFailures {
            out.line("")
            out.line("program '\(failure.program)' cannot be linked: \(failure.reason)")
        }
        out.line("")
        out.line("\(report.entries.count) relocations: \(counts[.patched] ?? 0) patched, \(counts[.poisoned] ?? 0) poisoned, \(counts[.failed] ?? 0) failed")
    }

    func jsonReport(_ report: RelocationReport, target: TargetBTF?) -> JSON {
        let relocations = report.entries.map { entry -> JSON in
            func value(_ number: Int64?) -> JSON {
                guard let number else { return .null }
                return entry.isImmediate64 ? .uint(UInt64(bitPattern: number)) : .int(number)
            }
            var fields: [(String, JSON)] = [
                ("program", .string(entry.function)),
                ("section", .string(entry.section)),
                ("instruction", .int(Int64(entry.slot))),
                ("kind", .string(entry.kind)),
                ("local", .optional(entry.local)),
                ("target", .optional(entry.target)),
                ("outcome", .string(entry.status.rawValue)),
                ("old", value(entry.oldValue)),
                ("new", value(entry.newValue)),
                ("error", .optional(entry.error)),
            ]
            for (key, detail) in entry.details {
                switch detail {
                case .number(let number): fields.append((key, .int(number)))
                case .text(let text): fields.append((key, .string(text)))
                case .linked(let positions):
                    fields.append((key, .array(positions.map {
                        .object([("program", .string($0.program)), ("instruction", .int(Int64($0.instruction))),
                                 ("imm", .int($0.imm))])
                    })))
                }
            }
            return .object(fields)
        }
        var root: [(String, JSON)] = [
            ("object", .string(object)),
            ("target_btf", .optional(target?.label)),
            ("relocations", .array(relocations)),
        ]
        if !report.linkFailures.isEmpty {
            root.append(("link_failures", .array(report.linkFailures.map {
                .object([("program", .string($0.program)), ("error", .string($0.reason))])
            })))
        }
        return .object(root)
    }
}
