import BTF
import ELF

/// Classifies undefined symbols into `__kconfig` values, `__ksym` variables and kfuncs, through the
/// object's BTF (`.kconfig` / `.ksyms` DATASECs), and lays out the `.kconfig` map as libbpf does.
struct ExternClassifier {
    let parser: ObjectParser

    /// The externs, and a note for each one that cannot be resolved (no BTF describes it).
    func classifyWithNotes() throws(ObjectError) -> ([ExternSpec], [String]) {
        let undefined = parser.symbols.filter {
            $0.index != 0 && $0.isUndefined && !$0.name.isEmpty && ($0.binding == .global || $0.binding == .weak)
        }
        guard !undefined.isEmpty else { return ([], []) }
        var kconfig: [(spec: ExternSpec, alignment: Int, size: Int)] = []
        var ksyms: [ExternSpec] = []
        var unresolved: [ExternSpec] = []
        guard let btf = parser.btf else {
            let reason = "the object has no .BTF to describe it"
            let externs = undefined.map { ExternSpec(name: $0.name, kind: .unresolved(reason: reason), isWeak: $0.binding == .weak, typeID: 0) }
            return (externs, externs.map { "extern '\($0.name)': \(reason); it cannot be loaded" })
        }
        do {
            let sections = try dataSectionMembership(btf)
            for symbol in undefined {
                let candidates = btf.ids(named: symbol.name).filter {
                    let kind = try? btf.kind(of: $0)
                    return kind == .variable || kind == .function
                }
                guard let id = candidates.first(where: { sections[$0] != nil }) else {
                    let reason = candidates.isEmpty ? "no BTF VAR or FUNC describes it"
                        : "it is neither __kconfig (.kconfig) nor __ksym (.ksyms)"
                    unresolved.append(ExternSpec(name: symbol.name, kind: .unresolved(reason: reason), isWeak: symbol.binding == .weak,
                                                 typeID: candidates.first ?? 0))
                    continue
                }
                let weak = symbol.binding == .weak
                let type = try btf.type(id)
                switch sections[id] {
                case ".kconfig":
                    guard case .variable(let valueType, _) = type.payload else {
                        throw ObjectError(.extern, "extern '\(symbol.name)' in .kconfig is not a variable")
                    }
                    let (kind, size, alignment) = try kconfigType(valueType, btf: btf, name: symbol.name)
                    kconfig.append((ExternSpec(name: symbol.name, kind: .kconfig(offset: 0, size: UInt32(size), valueType: kind),
                                               isWeak: weak, typeID: id), alignment, size))
                case ".ksyms":
                    switch type.payload {
                    case .function:
                        ksyms.append(ExternSpec(name: symbol.name, kind: .kfunc, isWeak: weak, typeID: id))
                    case .variable(let valueType, _):
                        let typed = try btf.skipModifiersAndTypedefs(valueType) != 0
                        ksyms.append(ExternSpec(name: symbol.name, kind: .ksym(typed: typed), isWeak: weak, typeID: id))
                    default:
                        throw ObjectError(.extern, "extern '\(symbol.name)' in .ksyms is a \(type.kind)")
                    }
                default:
                    continue
                }
            }
        } catch let error as ObjectError {
            throw error
        } catch {
            throw ObjectError(.btf, "the BTF describing the externs is malformed", cause: error as? BTFError)
        }
        // libbpf's order: kconfig first (alignment descending, size ascending, name), then ksyms by name;
        // an extern's index in this order is what poisoned calls encode.
        kconfig.sort { a, b in
            if a.alignment != b.alignment { return a.alignment > b.alignment }
            if a.size != b.size { return a.size < b.size }
            return a.spec.name < b.spec.name
        }
        var offset = 0
        var result: [ExternSpec] = []
        for entry in kconfig {
            offset = (offset + entry.alignment - 1) / entry.alignment * entry.alignment
            var spec = entry.spec
            if case .kconfig(_, let size, let valueType) = spec.kind {
                spec.kind = .kconfig(offset: UInt32(offset), size: size, valueType: valueType)
            }
            result.append(spec)
            offset += entry.size
        }
        let notes = unresolved.map { extern -> String in
            guard case .unresolved(let reason) = extern.kind else { return "" }
            return "extern '\(extern.name)': \(reason); it cannot be loaded"
        }
        return (result + ksyms.sorted { $0.name < $1.name } + unresolved, notes)
    }

    /// Type id → name of the DATASEC listing it, for `.kconfig` and `.ksyms`.
    func dataSectionMembership(_ btf: TypeGraph) throws -> [UInt32: String] {
        var membership: [UInt32: String] = [:]
        for name in [".kconfig", ".ksyms"] {
            guard let datasec = btf.firstID(named: name, kind: .dataSection) else { continue }
            for entry in try btf.dataSectionVariables(of: datasec) { membership[entry.type] = name }
        }
        return membership
    }

    /// The kconfig value type of a VAR's type, with its size and alignment (libbpf's rules).
    func kconfigType(_ typeID: UInt32, btf: TypeGraph, name: String) throws -> (KconfigValueType, Int, Int) {
        let resolved = try btf.skipModifiersAndTypedefs(typeID)
        let type = try btf.type(resolved)
        switch type.payload {
        case .int(let info):
            let size = Int(info.size)
            guard [1, 2, 4, 8].contains(size) else { break }
            if size == 1, info.encoding.contains(.bool) { return (.bool, 1, 1) }
            if size == 1, info.encoding.contains(.char) { return (.char, 1, 1) }
            return (.int, size, size)
        case .enum(let size, _, _) where size == 4 && btf.string(at: type.nameOffset) == "libbpf_tristate":
            return (.tristate, 4, 4)
        case .array(let info) where info.count > 0:
            let element = try btf.type(try btf.skipModifiersAndTypedefs(info.elementType))
            if case .int(let elementInfo) = element.payload, elementInfo.size == 1, elementInfo.encoding.contains(.char) {
                return (.string, Int(info.count), 1)
            }
        default:
            break
        }
        throw ObjectError(.extern, "extern (kconfig) '\(name)': type [\(resolved)] \(type.kind) is not bool, char, tristate, an integer or a char array")
    }

    /// The `.kconfig` map: one entry whose value holds every kconfig extern at its offset.
    static func kconfigMap(externs: [ExternSpec], objectName: String, dataSection: UInt32?) -> MapSpec? {
        var end: UInt32 = 0
        for extern in externs {
            if case .kconfig(let offset, let size, _) = extern.kind { end = max(end, offset + size) }
        }
        guard end > 0 else { return nil }
        return MapSpec(
            name: ".kconfig", kernelName: KernelName.forInternalMap(object: objectName, section: ".kconfig"),
            // libbpf: read-only for programs, and mmapable because the DATASEC's variables are not static.
            type: .array, keySize: 4, valueSize: end, maxEntries: 1,
            flags: MapFlag.readOnlyForPrograms | (dataSection != nil ? MapFlag.mmapable : 0),
            numaNode: 0, pinning: .none, mapExtra: 0, keyTypeID: 0, valueTypeID: dataSection ?? 0, innerMap: nil,
            initialSlots: [], origin: .kconfig, initialValue: [UInt8](repeating: 0, count: Int(end)),
            sectionIndex: 0, sectionOffset: 0)
    }
}
