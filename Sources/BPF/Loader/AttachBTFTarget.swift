import BPFObject
import BTF
import CBPF

/// Finds the kernel BTF type a BTF-attached program names (libbpf's `libbpf_find_attach_btf_id`):
/// `tp_btf/NAME` → typedef `btf_trace_NAME`, `lsm/HOOK` → FUNC `bpf_lsm_HOOK`, `iter/NAME` → FUNC
/// `bpf_iter_NAME`, `fentry`/`fexit`/`fmod_ret/FUNC` → FUNC `FUNC`; vmlinux first, then modules
/// (`MODULE:NAME` picks one).
enum AttachBTFTarget {
    /// Where the attach type's target lives: an id in vmlinux (no object), or in a module's BTF object.
    struct Resolved {
        var typeID: UInt32
        var module: OwnedFileDescriptor?
        var moduleName: String?
    }

    /// The prefix and kind the kernel names targets of `program` with.
    static func convention(for program: ProgramSpec) -> (prefix: String, kind: BTFKind) {
        if program.type == .lsm { return ("bpf_lsm_", .function) }
        switch program.expectedAttachType {
        case .some(.traceRawTP): return ("btf_trace_", .typedef)
        case .some(.traceIter): return ("bpf_iter_", .function)
        default: return ("", .function)
        }
    }

    /// Resolves the target of a program whose section definition says it attaches by BTF; nil for others.
    static func resolve(_ program: ProgramSpec) throws(BPFError) -> Resolved? {
        guard let definition = program.section, definition.flags.contains(.attachBTF) else { return nil }
        guard let suffix = definition.suffix(of: Substring(program.sectionName)), !suffix.isEmpty else {
            throw BPFError(.invalidObject, "program '\(program.name)': section '\(program.sectionName)' names no attach target (e.g. \(definition.mechanism.targetHint))")
        }
        let target = BTFAttachName(parsing: suffix)
        let (prefix, kind) = convention(for: program)
        let wanted = prefix + target.name
        let vmlinux: TypeGraph
        do { vmlinux = try KernelBTF.vmlinux() } catch {
            throw BPFError(.unsupported, "program '\(program.name)': \(program.sectionName) needs the kernel's BTF: \(error)")
        }
        if target.module == nil || target.module == "vmlinux", let id = find(wanted, kind, in: vmlinux) {
            return Resolved(typeID: id, module: nil, moduleName: nil)
        }
        if target.module != "vmlinux" {
            for module in KernelBTF.modules() where target.module == nil || module.name == target.module {
                guard let id = find(wanted, kind, in: module.graph) else { continue }
                let object = try KernelBTFObjects.descriptor(forModule: module.name)
                return Resolved(typeID: id, module: object, moduleName: module.name)
            }
        }
        let place = target.module.map { "module \($0)" } ?? "the kernel's BTF (vmlinux and modules)"
        throw BPFError(.notFound, "program '\(program.name)': \(kind == .typedef ? "tracepoint" : "function") '\(target.name)' is not in \(place) (looked for \(kind.libbpfName) \(wanted))")
    }

    /// The id of the type named `name` of `kind` in `graph` (modules' own ids only, not their base's).
    static func find(_ name: String, _ kind: BTFKind, in graph: TypeGraph) -> UInt32? {
        graph.ids(named: name, includeBase: false).first { (try? graph.type($0))?.kind == kind }
    }
}

/// The kernel's BTF objects (vmlinux and one per module), found by walking BTF ids.
enum KernelBTFObjects {
    /// Opens the BTF object of module `name`.
    static func descriptor(forModule name: String) throws(BPFError) -> OwnedFileDescriptor {
        for id in SystemCall.allIDs(of: .btf) {
            guard case .success(let fd) = SystemCall.descriptor(of: .btf, id: id) else { continue }
            let descriptor = try OwnedFileDescriptor(adopting: Int32(fd))
            var nameBuffer = [CChar](repeating: 0, count: 64)
            var info = bpf_btf_info()
            let found: Bool = nameBuffer.withUnsafeMutableBufferPointer { buffer in
                info.name = kernelPointer(buffer.baseAddress)
                info.name_len = UInt32(buffer.count)
                guard case .success = SystemCall.objectInfo(descriptor.rawValue, &info), info.kernel_btf != 0 else { return false }
                return String(cString: buffer.baseAddress!) == name
            }
            if found { return descriptor }
        }
        throw BPFError(.notFound, "no kernel BTF object for module '\(name)' (is the module loaded?)")
    }
}
