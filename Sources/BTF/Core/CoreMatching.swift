import ByteParsing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The type and field compatibility rules of CO-RE, as libbpf decides them (`relo_core.c`): which target
/// types can stand for a local one, and where a local access lands in a target type.
enum CoreMatching {
    /// Recursion limit of the compatibility walks (libbpf's 32).
    static let maximumDepth = 32

    /// Same kind, or enum and enum64 either way (libbpf's `btf_kind_core_compat`).
    static func kindsCompatible(_ a: BTFKind, _ b: BTFKind) -> Bool {
        a == b || (a.isEnum && b.isEnum)
    }

    // MARK: Names

    /// Whether a name offset points at an empty (or missing) name.
    static func isEmptyName(_ btf: TypeGraph, _ offset: UInt32) -> Bool {
        btf.withStringBytes(at: offset) { ($0?.count ?? 0) == 0 }
    }

    /// Byte equality of two names, possibly in two BTFs.
    static func namesEqual(_ a: TypeGraph, _ aOffset: UInt32, _ b: TypeGraph, _ bOffset: UInt32) -> Bool {
        a.withStringBytes(at: aOffset) { x in
            b.withStringBytes(at: bOffset) { y in
                guard let x, let y, x.count == y.count else { return false }
                return x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0
            }
        }
    }

    /// Whether two names agree up to their flavor suffixes; `anonymousMatchesAnything` makes an empty name
    /// on either side a match (field rule for enums), otherwise an empty target name matches only an empty
    /// local one (type-match rule, libbpf's `bpf_core_names_match`).
    static func essentialNamesMatch(_ local: TypeGraph, _ localOffset: UInt32, _ target: TypeGraph,
                                    _ targetOffset: UInt32, anonymousMatchesAnything: Bool) -> Bool {
        local.withStringBytes(at: localOffset) { x in
            target.withStringBytes(at: targetOffset) { y in
                let xCount = x?.count ?? 0
                let yCount = y?.count ?? 0
                if anonymousMatchesAnything, xCount == 0 || yCount == 0 { return true }
                if yCount == 0 { return xCount == 0 }
                guard let x, let y, xCount > 0 else { return false }
                let xLength = essentialLength(x.baseAddress!, xCount)
                let yLength = essentialLength(y.baseAddress!, yCount)
                return xLength == yLength && memcmp(x.baseAddress!, y.baseAddress!, xLength) == 0
            }
        }
    }

    // MARK: Type compatibility (type_exists, type_size, target_type_id)

    /// Loose structural compatibility of two types for the type-based kinds (libbpf's
    /// `__bpf_core_types_are_compat`): names were matched by the caller; kinds must agree through
    /// pointers, arrays and function prototypes.
    static func typesAreCompatible(_ local: TypeGraph, _ localID: UInt32, _ target: TypeGraph, _ targetID: UInt32,
                                   level: Int = maximumDepth) throws(CoreRelocationError) -> Bool {
        guard kindsCompatible(try kind(local, localID), try kind(target, targetID)) else { return false }
        var localID = localID
        var targetID = targetID
        for _ in 0..<maximumDepth {
            let l = try CoreSpec.type(local, try CoreSpec.skip(local, localID))
            let t = try CoreSpec.type(target, try CoreSpec.skip(target, targetID))
            guard kindsCompatible(l.kind, t.kind) else { return false }
            switch l.payload {
            case .void, .struct, .union, .enum, .forward, .enum64:
                return true
            case .int(let li):
                guard case .int(let ti) = t.payload else { return false }
                return li.bitOffset == 0 && ti.bitOffset == 0
            case .pointer(let next):
                localID = next
                targetID = t.sizeOrType
            case .array(let la):
                guard case .array(let ta) = t.payload else { return false }
                localID = la.elementType
                targetID = ta.elementType
            case .functionProto(let lReturn, let lParams):
                guard case .functionProto(let tReturn, let tParams) = t.payload else { return false }
                guard lParams.count == tParams.count else { return false }
                for index in 0..<lParams.count {
                    guard level > 0 else { throw tooDeep(localID, targetID) }
                    let lp = try CoreSpec.skip(local, lParams[index].type)
                    let tp = try CoreSpec.skip(target, tParams[index].type)
                    guard try typesAreCompatible(local, lp, target, tp, level: level - 1) else { return false }
                }
                localID = try CoreSpec.skip(local, lReturn)
                targetID = try CoreSpec.skip(target, tReturn)
            default:
                return false
            }
        }
        throw tooDeep(localID, targetID)
    }

    // MARK: Field compatibility (field kinds)

    /// Whether a local field's type can be read as the target field's type (libbpf's
    /// `bpf_core_fields_are_compat`): composites with composites, pointers, floats, ints (size and sign
    /// free), enums by essential name, arrays by element.
    static func fieldsAreCompatible(_ local: TypeGraph, _ localID: UInt32, _ target: TypeGraph,
                                    _ targetID: UInt32) throws(CoreRelocationError) -> Bool {
        var localID = localID
        var targetID = targetID
        for _ in 0..<maximumDepth {
            let l = try CoreSpec.type(local, try CoreSpec.skip(local, localID))
            let t = try CoreSpec.type(target, try CoreSpec.skip(target, targetID))
            if l.kind.isComposite && t.kind.isComposite { return true }
            guard kindsCompatible(l.kind, t.kind) else { return false }
            switch l.payload {
            case .pointer, .float:
                return true
            case .forward, .enum, .enum64:
                return essentialNamesMatch(local, l.nameOffset, target, t.nameOffset, anonymousMatchesAnything: true)
            case .int(let li):
                guard case .int(let ti) = t.payload else { return false }
                return li.bitOffset == 0 && ti.bitOffset == 0
            case .array(let la):
                guard case .array(let ta) = t.payload else { return false }
                localID = la.elementType
                targetID = ta.elementType
            default:
                return false
            }
        }
        throw tooDeep(localID, targetID)
    }

    // MARK: Strict matching (type_matches)

    /// libbpf's `__bpf_core_types_match`: same kinds (a struct or union behind a pointer may match a
    /// forward declaration), ints of equal size and sign, arrays of equal length, every local member or
    /// enumerator present by name in the target, function prototypes argument by argument.
    static func typesMatch(_ local: TypeGraph, _ localID: UInt32, _ target: TypeGraph, _ targetID: UInt32,
                           behindPointer: Bool = false, level: Int = maximumDepth) throws(CoreRelocationError) -> Bool {
        guard level > 0 else { throw tooDeep(localID, targetID) }
        var localID = localID
        var targetID = targetID
        var behindPointer = behindPointer
        for _ in 0..<maximumDepth {
            let l = try CoreSpec.type(local, try CoreSpec.skip(local, localID))
            let t = try CoreSpec.type(target, try CoreSpec.skip(target, targetID))
            guard essentialNamesMatch(local, l.nameOffset, target, t.nameOffset, anonymousMatchesAnything: false) else {
                return false
            }
            switch l.kind {
            case .void:
                return t.kind == .void
            case .forward:
                if behindPointer {
                    if t.kind == .forward { return l.kindFlag == t.kindFlag }
                    return (t.kind == .struct && !l.kindFlag) || (t.kind == .union && l.kindFlag)
                }
                return t.kind == .forward && l.kindFlag == t.kindFlag
            case .enum, .enum64:
                guard t.kind.isEnum else { return false }
                return enumsMatch(local, l, target, t)
            case .struct, .union:
                if behindPointer {
                    if l.kind == t.kind { return true }
                    guard t.kind == .forward else { return false }
                    return (l.kind == .union) == t.kindFlag
                }
                guard l.kind == t.kind else { return false }
                return try compositesMatch(local, l, target, t, behindPointer: behindPointer, level: level)
            case .int:
                guard case .int(let li) = l.payload, case .int(let ti) = t.payload else { return false }
                return l.sizeOrType == t.sizeOrType && li.isSigned == ti.isSigned
            case .pointer:
                guard t.kind == .pointer else { return false }
                behindPointer = true
                localID = l.sizeOrType
                targetID = t.sizeOrType
            case .array:
                guard case .array(let la) = l.payload, case .array(let ta) = t.payload, la.count == ta.count else {
                    return false
                }
                localID = la.elementType
                targetID = ta.elementType
            case .functionProto:
                guard case .functionProto(let lReturn, let lParams) = l.payload,
                      case .functionProto(let tReturn, let tParams) = t.payload,
                      lParams.count == tParams.count else { return false }
                for index in 0..<lParams.count {
                    guard try typesMatch(local, lParams[index].type, target, tParams[index].type,
                                         behindPointer: behindPointer, level: level - 1) else { return false }
                }
                localID = lReturn
                targetID = tReturn
            default:
                return false
            }
        }
        throw tooDeep(localID, targetID)
    }

    static func enumsMatch(_ local: TypeGraph, _ l: BTFType, _ target: TypeGraph, _ t: BTFType) -> Bool {
        guard l.sizeOrType == t.sizeOrType, let lValues = l.enumerators, let tValues = t.enumerators,
              lValues.count <= tValues.count else { return false }
        for value in lValues {
            guard tValues.contains(where: {
                essentialNamesMatch(local, value.nameOffset, target, $0.nameOffset, anonymousMatchesAnything: false)
            }) else { return false }
        }
        return true
    }

    static func compositesMatch(_ local: TypeGraph, _ l: BTFType, _ target: TypeGraph, _ t: BTFType,
                                behindPointer: Bool, level: Int) throws(CoreRelocationError) -> Bool {
        guard let lMembers = l.members, let tMembers = t.members, lMembers.count <= tMembers.count else { return false }
        for member in lMembers {
            var matched = false
            for candidate in tMembers where essentialNamesMatch(local, member.nameOffset, target, candidate.nameOffset,
                                                                anonymousMatchesAnything: false) {
                if try typesMatch(local, member.type, target, candidate.type, behindPointer: behindPointer,
                                  level: level - 1) {
                    matched = true
                    break
                }
            }
            guard matched else { return false }
        }
        return true
    }

    // MARK: Spec matching

    /// Finds, in the target composite `targetID`, the member the local named accessor refers to,
    /// descending into anonymous members, and records the steps in `spec` (libbpf's
    /// `bpf_core_match_member`). `next` receives the matched member's type.
    static func matchMember(_ local: TypeGraph, _ accessor: CoreAccessor, _ target: TypeGraph, _ targetID: UInt32,
                            _ spec: inout CoreSpec, _ next: inout UInt32) throws(CoreRelocationError) -> Bool {
        let targetID = try CoreSpec.skip(target, targetID)
        let t = try CoreSpec.type(target, targetID)
        guard let members = t.members else { return false }
        let localMembers: BTFMemberList
        do { localMembers = try local.members(of: accessor.typeID) } catch { throw CoreRelocationError(btf: error) }
        guard Int(accessor.index) < localMembers.count else {
            throw CoreRelocationError(.invalidAccessString, "member \(accessor.index) of local type \(accessor.typeID) does not exist")
        }
        let localMember = localMembers[Int(accessor.index)]
        for (index, member) in members.enumerated() {
            guard spec.rawIndices.count < CoreSpec.maximumLength else {
                throw CoreRelocationError(.specTooDeep, "the target spec for [\(spec.rootTypeID)] needs more than \(CoreSpec.maximumLength) steps")
            }
            spec.bitOffset &+= member.bitOffset
            spec.rawIndices.append(Int32(index))
            if isEmptyName(target, member.nameOffset) {
                if try matchMember(local, accessor, target, member.type, &spec, &next) { return true }
            } else if namesEqual(local, localMember.nameOffset, target, member.nameOffset) {
                spec.accessors.append(CoreAccessor(typeID: targetID, index: UInt32(index), nameOffset: member.nameOffset))
                next = member.type
                let compatible = try fieldsAreCompatible(local, localMember.type, target, member.type)
                if !compatible { spec.accessors.removeLast() }
                return compatible
            }
            spec.bitOffset &-= member.bitOffset
            spec.rawIndices.removeLast()
        }
        return false
    }

    /// Matches a local spec against one candidate target type (libbpf's `bpf_core_spec_match`). The
    /// returned spec is filled as far as matching got, for printing non-matching candidates as libbpf does.
    static func match(_ localSpec: CoreSpec, target: TypeGraph,
                      candidate: UInt32) throws(CoreRelocationError) -> (matched: Bool, spec: CoreSpec) {
        var spec = CoreSpec(btf: target, rootTypeID: candidate, kind: localSpec.kind)
        let local = localSpec.btf
        if localSpec.kind.isTypeBased {
            let matched = localSpec.kind == .typeMatches
                ? try typesMatch(local, localSpec.rootTypeID, target, candidate)
                : try typesAreCompatible(local, localSpec.rootTypeID, target, candidate)
            return (matched, spec)
        }
        let localAccessors = localSpec.accessors
        var targetID = candidate
        if localSpec.kind.isEnumValueBased {
            targetID = try CoreSpec.skip(target, targetID)
            let t = try CoreSpec.type(target, targetID)
            guard let values = t.enumerators, let nameOffset = localAccessors.first?.nameOffset else { return (false, spec) }
            for (index, value) in values.enumerated()
            where essentialNamesMatch(local, nameOffset, target, value.nameOffset, anonymousMatchesAnything: false) {
                spec.accessors.append(CoreAccessor(typeID: targetID, index: UInt32(index), nameOffset: value.nameOffset))
                spec.rawIndices.append(Int32(index))
                return (true, spec)
            }
            return (false, spec)
        }
        for (position, accessor) in localAccessors.enumerated() {
            targetID = try CoreSpec.skip(target, targetID)
            if accessor.nameOffset != nil {
                var next: UInt32 = 0
                guard try matchMember(local, accessor, target, targetID, &spec, &next) else { return (false, spec) }
                targetID = next
                continue
            }
            if position > 0 {
                let t = try CoreSpec.type(target, targetID)
                guard case .array(let array) = t.payload else { return (false, spec) }
                let flexible = spec.accessors.last.map { CoreSpec.isFlexibleArray(target, $0, array) } ?? false
                guard flexible || accessor.index < array.count else { return (false, spec) }
                targetID = try CoreSpec.skip(target, array.elementType)
            }
            guard spec.rawIndices.count < CoreSpec.maximumLength else {
                throw CoreRelocationError(.specTooDeep, "the target spec for [\(candidate)] needs more than \(CoreSpec.maximumLength) steps")
            }
            spec.accessors.append(CoreAccessor(typeID: targetID, index: accessor.index, nameOffset: nil))
            spec.rawIndices.append(Int32(bitPattern: accessor.index))
            spec.bitOffset &+= CoreSpec.bits(Int64(accessor.index), try CoreSpec.size(target, targetID))
        }
        return (true, spec)
    }

    static func kind(_ btf: TypeGraph, _ id: UInt32) throws(CoreRelocationError) -> BTFKind {
        do { return try btf.kind(of: id) } catch { throw CoreRelocationError(btf: error) }
    }

    static func tooDeep(_ localID: UInt32, _ targetID: UInt32) -> CoreRelocationError {
        CoreRelocationError(.badBTF, "comparing local type \(localID) with target type \(targetID) nests more than \(maximumDepth) levels")
    }
}
