import BTF

/// Whether an extern's type in the object agrees with the kernel's, by the rule libbpf applies to typed
/// ksyms and kfunc prototypes (`bpf_core_types_are_compat` in `relo_core.c`): a loose structural check.
///
/// Kinds must agree after skipping modifiers and typedefs (enum and enum64 either way); structs, unions,
/// enums, forward declarations and `void` agree by kind alone (names are the caller's business); integers
/// of any size and sign agree unless one is a bitfield-like integer (a non-zero bit offset); pointers and
/// arrays agree when their targets do; function prototypes need the same number of parameters, each
/// compatible, and compatible return types. Any other kind (floats included, as in libbpf) does not agree.
/// A walk deeper than 32 steps, or a malformed type, counts as disagreement (libbpf's error there fails
/// the extern the same way).
enum ExternTypeCompatibility {
    /// libbpf's recursion limit for the walk and for nested prototypes.
    static let maximumDepth = 32

    /// Whether `localID` of `local` (the object's BTF) is compatible with `targetID` of `target`.
    static func compatible(_ local: TypeGraph, _ localID: UInt32, _ target: TypeGraph, _ targetID: UInt32) -> Bool {
        (try? walk(local, localID, target, targetID, level: maximumDepth)) ?? false
    }

    private static func kindsAgree(_ a: BTFKind, _ b: BTFKind) -> Bool { a == b || (a.isEnum && b.isEnum) }

    private static func walk(_ local: TypeGraph, _ localID: UInt32, _ target: TypeGraph, _ targetID: UInt32,
                             level: Int) throws(BTFError) -> Bool {
        // The unskipped kinds are compared first, as libbpf does (a typedef only matches a typedef here).
        guard kindsAgree(try local.kind(of: localID), try target.kind(of: targetID)) else { return false }
        var localID = localID
        var targetID = targetID
        for _ in 0..<maximumDepth {
            localID = try local.skipModifiersAndTypedefs(localID)
            targetID = try target.skipModifiersAndTypedefs(targetID)
            let l = try local.type(localID)
            let t = try target.type(targetID)
            guard kindsAgree(l.kind, t.kind) else { return false }
            switch (l.payload, t.payload) {
            case (.void, _), (.struct, _), (.union, _), (.enum, _), (.forward, _), (.enum64, _):
                return true
            case (.int(let li), .int(let ti)):
                return li.bitOffset == 0 && ti.bitOffset == 0
            case (.pointer(let lp), .pointer(let tp)):
                localID = lp
                targetID = tp
            case (.array(let la), .array(let ta)):
                localID = la.elementType
                targetID = ta.elementType
            case (.functionProto(let lReturn, let lParams), .functionProto(let tReturn, let tParams)):
                guard lParams.count == tParams.count else { return false }
                for (lp, tp) in zip(lParams, tParams) {
                    guard level > 0 else { return false }
                    let localParam = try local.skipModifiersAndTypedefs(lp.type)
                    let targetParam = try target.skipModifiersAndTypedefs(tp.type)
                    guard try walk(local, localParam, target, targetParam, level: level - 1) else { return false }
                }
                localID = lReturn
                targetID = tReturn
            default:
                return false
            }
        }
        return false
    }
}
