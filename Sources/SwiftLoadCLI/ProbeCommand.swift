import ArgumentParser
import BPF
import BPFObject

/// `swift-load probe [--json] [--helpers]`: what the running kernel offers for BPF, as `bpftool feature
/// probe` reports it, compactly: system facts, attach facilities, features, program and map types.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Show what the running kernel offers: BPF features, program and map types, attach facilities.",
        discussion: """
            Each feature is probed by asking the kernel for the smallest object that needs it (a tiny BTF \
            blob, a two-instruction program, a one-entry map), closed at once: nothing is left behind and \
            nothing on the system is changed (tracefs and bpffs are reported, not mounted). Needs root or \
            CAP_BPF for the kernel probes; without it the system facts are printed and the exit status is \
            1. --json prints one object (see Docs/commands/probe.md).
            """)

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Also list the helpers each program type may call (one load per helper and type).")
    var helpers = false

    func run() throws {
        let facts = SystemFacts.current()
        let features = KernelFeatures.shared
        let access = features.access
        var out = StandardOutput()
        if json {
            out.line(Self.json(facts: facts, access: access, features: features, helpers: helpers).serialized)
        } else {
            Self.printReport(facts: facts, access: access, features: features, helpers: helpers, to: &out)
        }
        out.flush()
        if access != .permitted {
            reportError(access.explanation, details: ["run as root (or with CAP_BPF) to probe the kernel"])
            throw ExitCode.failure
        }
    }

    // MARK: Rows

    /// Every program type in the table but `unspec`.
    static var programTypes: [ProgramType] { ProgramType.table.dropFirst().map { ProgramType(rawValue: $0.rawValue) } }

    /// Every map type in the table but `unspec`.
    static var mapTypes: [MapType] { MapType.table.dropFirst().map { MapType(rawValue: $0.rawValue) } }

    // MARK: JSON

    static func json(facts: SystemFacts, access: BPFAccess, features: KernelFeatures, helpers: Bool) -> JSON {
        let probed = access == .permitted
        func integer(_ value: Int?) -> JSON { value.map { .int(Int64($0)) } ?? .null }
        func bool(_ value: Bool?) -> JSON { value.map { .bool($0) } ?? .null }
        func fileSystem(_ state: FileSystemState) -> JSON {
            let name = switch state {
            case .mounted: "mounted"
            case .mountable: "mountable"
            case .unavailable: "unavailable"
            }
            return .object([("state", .string(name)), ("path", .optional(state.mountPoint))])
        }
        let system: JSON = .object([
            ("kernel_release", .optional(facts.kernelRelease)),
            ("bpf_access", .string(access.rawValue)),
            ("effective_uid", .uint(UInt64(facts.effectiveUserID))),
            ("capabilities", .array(facts.capabilities.map { .string($0) })),
            ("vmlinux_btf", .bool(facts.vmlinuxBTF)),
            ("module_btf_count", .int(Int64(facts.moduleBTFCount))),
            ("jit_enabled", integer(facts.jitEnabled)),
            ("unprivileged_bpf_disabled", integer(facts.unprivilegedBPFDisabled)),
            ("lockdown", .optional(facts.lockdown)),
        ])
        let attach: JSON = .object([
            ("kprobe_pmu", .bool(facts.kprobePMU)),
            ("kprobe_events", bool(facts.kprobeEvents)),
            ("uprobe_pmu", .bool(facts.uprobePMU)),
            ("uprobe_events", bool(facts.uprobeEvents)),
            ("tracefs", fileSystem(facts.tracefs)),
            ("bpffs", fileSystem(facts.bpffs)),
            ("cgroup2", fileSystem(facts.cgroup2)),
        ])
        var fields: [(String, JSON)] = [("system", system), ("attach", attach)]
        guard probed else {
            fields += [("features", .null), ("program_types", .null), ("map_types", .null)]
            if helpers { fields.append(("helpers", .null)) }
            return .object(fields)
        }
        fields.append(("features", .object(KernelFeature.allCases.map { ($0.rawValue, .bool(features.supports($0))) })))
        fields.append(("program_types", .object(programTypes.map {
            ($0.description, .bool(features.supports(programType: $0)))
        })))
        fields.append(("map_types", .object(mapTypes.map { ($0.description, .bool(features.supports(mapType: $0))) })))
        if helpers {
            fields.append(("helpers", .object(programTypes.map { type in
                (type.description, features.helpers(forProgramType: type).map { ids in
                    .array(ids.compactMap { HelperFunctions.name(of: $0).map(JSON.string) })
                } ?? .null)
            })))
        }
        return .object(fields)
    }

    // MARK: Human output

    static func printReport(facts: SystemFacts, access: BPFAccess, features: KernelFeatures, helpers: Bool,
                            to out: inout StandardOutput) {
        func row(_ label: String, _ value: String) {
            out.line("  " + label.padding(26) + value)
        }
        func yesNo(_ value: Bool?) -> String { value.map { $0 ? "yes" : "no" } ?? "unknown" }

        out.line("System")
        row("kernel release", facts.kernelRelease ?? "unknown")
        row("bpf()", access == .permitted ? "permitted" : String(access.explanation.dropFirst("bpf() ".count)))
        let capabilities = facts.capabilities.isEmpty ? "no BPF capabilities" : facts.capabilities.joined(separator: " ")
        row("privileges", "uid \(facts.effectiveUserID), \(capabilities)")
        row("vmlinux BTF", facts.vmlinuxBTF ? "yes (\(KernelBTF.directory)/vmlinux)" : "no")
        row("module BTF", "\(facts.moduleBTFCount) module\(facts.moduleBTFCount == 1 ? "" : "s")")
        row("JIT", facts.jitEnabled.map { $0 == 0 ? "disabled (bpf_jit_enable=0)" : "enabled (bpf_jit_enable=\($0))" } ?? "unknown")
        row("unprivileged bpf()", facts.unprivilegedBPFDisabled.map {
            $0 == 0 ? "allowed (unprivileged_bpf_disabled=0)" : "disabled (unprivileged_bpf_disabled=\($0))"
        } ?? "unknown")
        row("lockdown", facts.lockdown ?? "unknown")

        out.line("")
        out.line("Attach facilities")
        row("kprobe PMU", yesNo(facts.kprobePMU))
        row("kprobe_events", yesNo(facts.kprobeEvents))
        row("uprobe PMU", yesNo(facts.uprobePMU))
        row("uprobe_events", yesNo(facts.uprobeEvents))
        row("tracefs", facts.tracefs.description)
        row("bpffs", facts.bpffs.description)
        row("cgroup v2", facts.cgroup2.description)

        guard access == .permitted else { return }

        out.line("")
        out.line("BPF features")
        for feature in KernelFeature.allCases {
            out.line("  " + feature.rawValue.padding(26) + features.result(for: feature).description.padding(14) + feature.summary)
        }

        let programs = programTypes.map { ($0.description, features.result(forProgramType: $0)) }
        printTypes("Program types", programs, refusal: "not loadable", to: &out)
        let maps = mapTypes.map { ($0.description, features.result(forMapType: $0)) }
        printTypes("Map types", maps, refusal: "not creatable", to: &out)

        guard helpers else { return }
        out.line("")
        out.line("Helpers per program type")
        for type in programTypes {
            guard let ids = features.helpers(forProgramType: type) else {
                out.line("  \(type): not probed (\(features.supports(programType: type) ? "needs a BTF target" : "not loadable"))")
                continue
            }
            out.line("  \(type) (\(ids.count)):")
            wrap(ids.compactMap { HelperFunctions.name(of: $0) }, indent: 4, to: &out)
        }
    }

    /// `Title (N of M)`, the supported names wrapped, then the others with the errno that refused them.
    static func printTypes(_ title: String, _ results: [(String, ProbeResult)], refusal: String,
                           to out: inout StandardOutput) {
        let supported = results.filter { $0.1.supported }.map(\.0)
        out.line("")
        out.line("\(title) (\(supported.count) of \(results.count))")
        wrap(supported, indent: 2, to: &out)
        let refused = results.filter { !$0.1.supported }
        guard !refused.isEmpty else { return }
        out.line("  \(refusal):")
        wrap(refused.map { name, result in result.errno.map { "\(name) (\($0.symbolicName))" } ?? name },
             indent: 4, to: &out)
    }

    /// Words joined by spaces in lines of at most 100 columns.
    static func wrap(_ words: [String], indent: Int, to out: inout StandardOutput) {
        let prefix = String(repeating: " ", count: indent)
        var line = prefix
        for word in words {
            if line.count > indent, line.count + 1 + word.count > 100 {
                out.line(line)
                line = prefix
            }
            line += (line.count > indent ? " " : "") + word
        }
        if line.count > indent { out.line(line) }
    }
}

extension String {
    /// The string followed by spaces up to `width` characters (at least one space after it).
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
