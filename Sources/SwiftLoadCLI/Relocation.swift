import BPF
import BPFObject
import BTF

/// The target BTF CO-RE relocations resolve against, as the commands take it: `--btf PATH` (a raw BTF
/// file or an ELF object with `.BTF`, standing in for vmlinux without modules, like libbpf's
/// `btf_custom_path`) or the running kernel's vmlinux and modules.
struct TargetBTF {
    /// What to resolve against.
    var targets: CoreTargets
    /// How the target is named in output: the path, or `running kernel`.
    var label: String

    /// Reads the target named by `--btf`, or the running kernel's when `path` is `nil`.
    /// - Throws: a one-line reason naming the file.
    static func load(_ path: String?) throws -> TargetBTF {
        if let path {
            let graph = try BTFSource.read(path, base: BTFSource.defaultBase(for: path))
            return TargetBTF(targets: CoreTargets(primary: CoreTargetBTF(graph, name: "vmlinux")), label: path)
        }
        return TargetBTF(targets: try KernelBTF.coreTargets(), label: "running kernel")
    }
}

/// The spec as the loader would link it: CO-RE relocations resolved against the target BTF at `btfPath`
/// (the running kernel's when `nil`) and patched into a copy of the functions' instructions, before
/// subprograms are linked, as libbpf orders it. A relocation libbpf would refuse is an error.
///
/// Every command that shows or loads relocated code calls this one function before linking.
func relocatedObject(_ spec: ObjectSpec, btfPath: String?) throws -> ObjectSpec {
    guard spec.hasCoreRelocations else { return spec }
    let target = try TargetBTF.load(btfPath)
    var relocated = spec
    let outcomes = try relocated.applyCoreRelocations(targets: target.targets)
    if let failure = outcomes.first(where: { $0.status == .failed }) {
        throw CoreRelocationFailure(outcome: failure)
    }
    return relocated
}

/// A CO-RE relocation libbpf would refuse, as one line.
struct CoreRelocationFailure: Error, CustomStringConvertible {
    var outcome: CoreRelocationOutcome
    var description: String {
        "CO-RE relocation #\(outcome.record.recordIndex) of '\(outcome.function)' (insn #\(outcome.record.slot), \(outcome.kindName)) failed: \(outcome.reason ?? "unknown reason")"
    }
}
