/// A BTF that CO-RE relocations resolve against: a kernel's vmlinux, a kernel module's split BTF, or a
/// file standing in for a kernel (`--btf`).
public struct CoreTargetBTF: Sendable {
    /// The types.
    public let graph: TypeGraph
    /// The name libbpf prints for it: `vmlinux` or the module's name.
    public let name: String

    /// A target named `name`.
    public init(_ graph: TypeGraph, name: String) {
        self.graph = graph
        self.name = name
    }
}

/// Where candidates are searched: vmlinux first; module BTFs only when vmlinux has no candidate for a
/// local type. A file standing in for vmlinux (`--btf`, libbpf's `btf_custom_path`) comes without modules.
public struct CoreTargets: Sendable {
    /// vmlinux, or the file standing in for it.
    public var primary: CoreTargetBTF
    /// Kernel modules' split BTF, searched for their own types only; called at most once per relocator
    /// and only when some local type has no candidate in the primary (reading every module costs).
    public var modules: @Sendable () -> [CoreTargetBTF]

    /// Targets from a primary BTF and, optionally, a way to read the modules.
    public init(primary: CoreTargetBTF, modules: @escaping @Sendable () -> [CoreTargetBTF] = { [] }) {
        self.primary = primary
        self.modules = modules
    }
}

/// A target type that may stand for a local type: same essential name, compatible kind.
public struct CoreCandidate: Sendable, Hashable {
    /// Which target BTF (0 = primary, then modules in order).
    public var target: Int
    /// The type id in that BTF.
    public var id: UInt32
}

/// The decision for one CO-RE relocation (libbpf's `bpf_core_relo_res` plus the specs behind it).
public struct CoreRelocationResult: Sendable {
    /// The local spec.
    public var localSpec: CoreSpec
    /// The chosen target spec: the first matching candidate; `nil` when none matched (and for
    /// `local_type_id`, which needs no target).
    public var targetSpec: CoreSpec?
    /// The target BTF `targetSpec` belongs to (0 = primary).
    public var targetIndex: Int?
    /// The value the instruction should hold now, per the local spec.
    public var originalValue: UInt64 = 0
    /// The value to write.
    public var newValue: UInt64 = 0
    /// The instruction must be poisoned: no target for a kind that cannot be 0.
    public var poison = false
    /// Whether the instruction's current value must equal ``originalValue`` (not checked for bitfield
    /// offsets and sizes, and for type ids, which linking may change).
    public var validate = true
    /// The field's size changed in a way a load or store cannot follow (signed ints, mixed kinds).
    public var failsMemorySizeAdjustment = false
    /// Size of the local field (byte offsets of non-bitfield fields only; 0 otherwise).
    public var originalSize: UInt32 = 0
    /// Size of the target field (same rule).
    public var newSize: UInt32 = 0
    /// libbpf's candidate-search lines (`CO-RE relocating [23] struct task_struct: found target
    /// candidate …`), when this relocation was the first of its local type.
    public var searchLog: [String] = []
    /// libbpf-style debug lines of the decision, without the `prog '…': relo #N: ` prefix: the local spec,
    /// every candidate tried, and "no matching targets found".
    public var log: [String] = []

    init(localSpec: CoreSpec) { self.localSpec = localSpec }
}

/// Resolves CO-RE relocations of one local BTF against targets, as libbpf does: candidates by essential
/// name through the targets' name indexes, cached per local root type and pruned as relocations of that
/// type fail on them, every matching candidate required to agree.
///
/// Pure: no kernel, no files. Relocations must be given in libbpf's order (`.BTF.ext` section order, then
/// record order) for pruning to reach libbpf's decisions. Not thread-safe (it caches).
public final class CoreRelocator {
    /// The object's BTF.
    public let local: TypeGraph
    /// Where candidates come from.
    public let targets: CoreTargets
    private var candidateCache: [UInt32: [CoreCandidate]] = [:]
    private var loadedModules: [CoreTargetBTF]?

    /// A relocator for `local` against `targets`.
    public init(local: TypeGraph, targets: CoreTargets) {
        self.local = local
        self.targets = targets
    }

    /// The target BTF at a candidate's position: 0 is the primary, then the modules.
    public func target(_ index: Int) -> CoreTargetBTF {
        index == 0 ? targets.primary : modules[index - 1]
    }

    private var modules: [CoreTargetBTF] {
        if let loadedModules { return loadedModules }
        let loaded = targets.modules()
        loadedModules = loaded
        return loaded
    }

    /// The candidates found for a local type so far (after pruning), for inspection.
    public func candidates(for localTypeID: UInt32) -> [CoreCandidate]? { candidateCache[localTypeID] }

    /// Decides one relocation. The result's log lines lack libbpf's `prog '…': relo #N:` prefix, which
    /// the caller knows.
    /// - Throws: ``CoreRelocationError`` where libbpf refuses the relocation (and the object).
    public func relocate(_ record: BTFCoreRelocation, accessString: String) throws(CoreRelocationError) -> CoreRelocationResult {
        guard let kind = record.relocationKind else {
            throw CoreRelocationError(.unsupportedKind, "unrecognized CO-RE relocation kind \(record.kind) at insn #\(record.instructionOffset / 8)")
        }
        let localType = try CoreSpec.type(local, record.typeID)
        let localName = local.string(at: localType.nameOffset) ?? ""
        // libbpf searches candidates (and refuses anonymous types) before parsing the access string.
        var searchLog: [String] = []
        var candidates: [CoreCandidate] = []
        if kind != .localTypeID {
            guard !localName.isEmpty else {
                throw CoreRelocationError(.anonymousType, "target candidate search failed for [\(record.typeID)] \(localType.kind.libbpfName) <anon>: CO-RE relocations of anonymous types support only local_type_id")
            }
            candidates = cachedCandidates(localType, name: localName, log: &searchLog)
        }
        let localSpec: CoreSpec
        do {
            localSpec = try CoreSpec(parsing: accessString, rootTypeID: record.typeID, kind: kind, btf: local)
        } catch {
            throw CoreRelocationError(error.code, "parsing [\(record.typeID)] \(localType.kind.libbpfName) \(localName.isEmpty ? "<anon>" : localName) + \(accessString) failed: \(error.message)")
        }
        var result = CoreRelocationResult(localSpec: localSpec)
        result.searchLog = searchLog
        result.log.append("<\(kind)> \(localSpec.description)")
        if kind == .localTypeID {
            result.validate = false
            result.originalValue = UInt64(record.typeID)
            result.newValue = UInt64(record.typeID)
            return result
        }

        var kept = 0
        var chosen: CoreRelocationResult?
        for (position, candidate) in candidates.enumerated() {
            let target = target(candidate.target).graph
            let (matched, spec) = try CoreMatching.match(localSpec, target: target, candidate: candidate.id)
            result.log.append("\(matched ? "matching" : "non-matching") candidate #\(position) <\(kind)> \(spec.description)")
            guard matched else { continue }
            var decision = try calculate(localSpec, spec, kind: kind, record: record)
            decision.targetIndex = candidate.target
            if let first = chosen {
                if let firstSpec = first.targetSpec, spec.bitOffset != firstSpec.bitOffset {
                    throw CoreRelocationError(.ambiguous, "field offset ambiguity: \(spec.bitOffset) != \(firstSpec.bitOffset) (candidates \(describe(first)) and [\(candidate.id)])")
                }
                if decision.poison != first.poison || decision.newValue != first.newValue {
                    throw CoreRelocationError(.ambiguous, "relocation decision ambiguity: \(decision.poison ? "failure" : "success") \(decision.newValue) != \(first.poison ? "failure" : "success") \(first.newValue) (candidates \(describe(first)) and [\(candidate.id)])")
                }
            } else {
                chosen = decision
            }
            candidates[kept] = candidate
            kept += 1
        }
        if kept > 0 {
            candidateCache[record.typeID] = Array(candidates.prefix(kept))
        }
        guard var decision = chosen else {
            result.log.append("no matching targets found")
            var none = try calculate(localSpec, nil, kind: kind, record: record)
            none.searchLog = searchLog
            none.log = result.log
            return none
        }
        decision.searchLog = searchLog
        decision.log = result.log
        return decision
    }

    private func describe(_ result: CoreRelocationResult) -> String {
        result.targetSpec.map { "[\($0.rootTypeID)]" } ?? "?"
    }

    /// The candidate list for a local root type: cached, else searched: the primary; when it has none,
    /// every module (libbpf's `bpf_core_find_cands` loops over all module BTFs).
    private func cachedCandidates(_ localType: BTFType, name: String, log: inout [String]) -> [CoreCandidate] {
        if let cached = candidateCache[localType.id] { return cached }
        var essential = String(TypeGraph.essentialName(of: name))
        var found: [CoreCandidate] = []
        essential.withUTF8 { essentialName in
            let key = UnsafeRawBufferPointer(essentialName)
            addCandidates(from: 0, key, localType, name, &found, &log)
            if found.isEmpty {
                for index in modules.indices { addCandidates(from: index + 1, key, localType, name, &found, &log) }
            }
        }
        candidateCache[localType.id] = found
        return found
    }

    /// Adds the types of one target BTF (its own types only, for a module) whose essential name is `key`
    /// and whose kind fits the local type's.
    private func addCandidates(from index: Int, _ key: UnsafeRawBufferPointer, _ localType: BTFType, _ name: String,
                               _ found: inout [CoreCandidate], _ log: inout [String]) {
        let target = target(index)
        for id in target.graph.ids(withEssentialNameBytes: key, includeBase: index == 0) {
            guard let kind = try? target.graph.kind(of: id), CoreMatching.kindsCompatible(kind, localType.kind) else {
                continue
            }
            found.append(CoreCandidate(target: index, id: id))
            let targetName = (try? target.graph.name(of: id)) ?? ""
            log.append("CO-RE relocating [\(localType.id)] \(localType.kind.libbpfName) \(name): found target candidate [\(id)] \(kind.libbpfName) \(targetName) in [\(target.name)]")
        }
    }

    // MARK: - Values

    /// libbpf's `bpf_core_calc_relo`: the original value from the local spec, the new one from the target
    /// spec (or from nothing: existence kinds give 0, the others poison).
    func calculate(_ localSpec: CoreSpec, _ targetSpec: CoreSpec?, kind: BTFCoreRelocationKind,
                   record: BTFCoreRelocation) throws(CoreRelocationError) -> CoreRelocationResult {
        var result = CoreRelocationResult(localSpec: localSpec)
        result.targetSpec = targetSpec
        let instruction = record.instructionOffset / 8
        if kind.isFieldBased {
            // One byte order for both shifts, the object's: libbpf computes them with the host's, which
            // must be the object's (bpf_core_calc_field_relo).
            let littleEndian = localSpec.btf.byteOrder == .little
            guard case .value(let original) = try fieldValue(localSpec, kind: kind, instruction: instruction,
                                                             littleEndian: littleEndian) else {
                result.poison = true
                return result
            }
            result.originalValue = original.value
            result.originalSize = original.size
            result.validate = original.validate
            guard case .value(let new) = try fieldValue(targetSpec, kind: kind, instruction: instruction,
                                                        littleEndian: littleEndian) else {
                result.poison = true
                return result
            }
            result.newValue = new.value
            result.newSize = new.size
            if let targetSpec, original.size != new.size {
                let o = try CoreSpec.type(localSpec.btf, original.typeID)
                let n = try CoreSpec.type(targetSpec.btf, new.typeID)
                let bothPointers = o.kind == .pointer && n.kind == .pointer
                var bothUnsigned = false
                if case .int(let oi) = o.payload, case .int(let ni) = n.payload {
                    bothUnsigned = oi.encoding.rawValue != BTFIntEncoding.signed.rawValue
                        && ni.encoding.rawValue != BTFIntEncoding.signed.rawValue
                }
                result.failsMemorySizeAdjustment = !(bothPointers || bothUnsigned)
            }
        } else if kind.isTypeBased {
            result.originalValue = try typeValue(localSpec, kind: kind)
            result.newValue = try targetSpec.map { spec throws(CoreRelocationError) in try typeValue(spec, kind: kind) } ?? 0
            result.validate = kind != .targetTypeID
        } else {
            result.originalValue = try enumValue(localSpec, kind: kind) ?? 0
            guard let value = try enumValue(targetSpec, kind: kind) else {
                result.poison = true
                return result
            }
            result.newValue = value
        }
        return result
    }

    enum FieldOutcome {
        case value(FieldValue)
        case poison
    }

    struct FieldValue {
        var value: UInt64 = 0
        var size: UInt32 = 0
        var typeID: UInt32 = 0
        var validate = true
    }

    /// libbpf's `bpf_core_calc_field_relo`.
    func fieldValue(_ spec: CoreSpec?, kind: BTFCoreRelocationKind, instruction: UInt32,
                    littleEndian: Bool) throws(CoreRelocationError) -> FieldOutcome {
        var out = FieldValue()
        if kind == .fieldExists {
            out.value = spec == nil ? 0 : 1
            return .value(out)
        }
        guard let spec, let accessor = spec.accessors.last else { return .poison }
        let btf = spec.btf
        if accessor.nameOffset == nil {
            let size = UInt32(truncatingIfNeeded: try CoreSpec.size(btf, accessor.typeID))
            switch kind {
            case .fieldByteOffset:
                out.value = UInt64(spec.bitOffset / 8)
                out.size = size
                out.typeID = accessor.typeID
            case .fieldByteSize:
                out.value = UInt64(size)
            default:
                throw CoreRelocationError(.unsupportedKind, "relo \(kind.rawValue) at insn #\(instruction) can't be applied to array access")
            }
            return .value(out)
        }
        let members: BTFMemberList
        do { members = try btf.members(of: accessor.typeID) } catch { throw CoreRelocationError(btf: error) }
        guard Int(accessor.index) < members.count else {
            throw CoreRelocationError(.badBTF, "member \(accessor.index) of type \(accessor.typeID) does not exist")
        }
        let member = members[Int(accessor.index)]
        let fieldTypeID = try CoreSpec.skip(btf, member.type)
        let fieldType = try CoreSpec.type(btf, fieldTypeID)
        let bitOffset = spec.bitOffset
        var bitSize = member.bitfieldSize
        let isBitfield = bitSize > 0
        var byteSize: UInt32
        var byteOffset: UInt32
        if isBitfield {
            byteSize = fieldType.sizeOrType
            guard byteSize > 0 else {
                throw CoreRelocationError(.unreadableBitfield, "relo \(kind.rawValue) at insn #\(instruction): bitfield of a zero-sized type")
            }
            byteOffset = bitOffset / 8 / byteSize * byteSize
            while bitOffset &+ bitSize &- byteOffset &* 8 > byteSize &* 8 {
                guard byteSize < 8 else {
                    throw CoreRelocationError(.unreadableBitfield, "relo \(kind.rawValue) at insn #\(instruction) can't be satisfied for bitfield")
                }
                byteSize *= 2
                byteOffset = bitOffset / 8 / byteSize * byteSize
            }
        } else {
            byteSize = UInt32(truncatingIfNeeded: try CoreSpec.size(btf, fieldTypeID))
            byteOffset = bitOffset / 8
            bitSize = byteSize &* 8
        }
        out.validate = !isBitfield
        switch kind {
        case .fieldByteOffset:
            out.value = UInt64(byteOffset)
            if !isBitfield {
                out.size = byteSize
                out.typeID = fieldTypeID
            }
        case .fieldByteSize:
            out.value = UInt64(byteSize)
        case .fieldSigned:
            var signed = false
            switch fieldType.payload {
            case .enum, .enum64: signed = fieldType.kindFlag
            case .int(let info): signed = info.isSigned
            default: break
            }
            out.value = signed ? 1 : 0
            out.validate = true
        case .fieldLShiftU64:
            // The shift that brings the field's top bit to bit 63 of a u64 loaded from byteOffset: it
            // depends on the byte order of the machine running the program, the object's.
            if littleEndian {
                out.value = UInt64(64 &- (bitOffset &+ bitSize &- byteOffset &* 8))
            } else {
                out.value = UInt64((8 &- byteSize) &* 8 &+ (bitOffset &- byteOffset &* 8))
            }
        case .fieldRShiftU64:
            out.value = UInt64(64 &- bitSize)
            out.validate = true
        default:
            throw CoreRelocationError(.unsupportedKind, "unrecognized CO-RE relocation \(kind) at insn #\(instruction)")
        }
        return .value(out)
    }

    /// libbpf's `bpf_core_calc_type_relo` for one side.
    func typeValue(_ spec: CoreSpec, kind: BTFCoreRelocationKind) throws(CoreRelocationError) -> UInt64 {
        switch kind {
        case .targetTypeID: return UInt64(spec.rootTypeID)
        case .typeExists, .typeMatches: return 1
        case .typeSize: return UInt64(try CoreSpec.size(spec.btf, spec.rootTypeID))
        default: throw CoreRelocationError(.unsupportedKind, "unrecognized CO-RE relocation \(kind)")
        }
    }

    /// libbpf's `bpf_core_calc_enumval_relo` for one side; `nil` asks for poisoning. 32-bit enumerator
    /// values are sign-extended whatever the enum's signedness, as libbpf reads them through `__s32`.
    func enumValue(_ spec: CoreSpec?, kind: BTFCoreRelocationKind) throws(CoreRelocationError) -> UInt64? {
        if kind == .enumValueExists { return spec == nil ? 0 : 1 }
        guard let spec, let accessor = spec.accessors.first else { return nil }
        let values: BTFEnumeratorList
        do { values = try spec.btf.enumerators(of: accessor.typeID) } catch { throw CoreRelocationError(btf: error) }
        guard Int(accessor.index) < values.count else {
            throw CoreRelocationError(.badBTF, "enumerator \(accessor.index) of type \(accessor.typeID) does not exist")
        }
        let raw = values[Int(accessor.index)].rawValue
        return values.is64Bit ? raw : UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: raw)))
    }
}
