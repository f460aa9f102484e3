extension TypeGraph {
    /// The type a user names, for options such as `--event-type TYPE`: `struct event`, `union u`,
    /// `enum state` (an ENUM or ENUM64), or a bare name (`event`, a typedef such as `u32`, `unsigned int`),
    /// or a decimal type id (`42`). `nil` when nothing matches.
    ///
    /// A bare name may be several types at once (`struct event` and `typedef struct event event`, or a
    /// forward declaration beside the definition); the one chosen is, in this order, a struct or union, a
    /// typedef, an enum, an integer or float, a data section, then anything else that can hold a value
    /// (not a function, variable, tag or forward declaration); the lowest id among equals. With a
    /// keyword, only definitions of that kind match (not their forward declarations).
    public func typeID(named text: String) -> UInt32? {
        var name = Substring(text)
        while name.first == " " { name.removeFirst() }
        while name.last == " " { name.removeLast() }
        if !name.isEmpty, name.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let id = UInt32(name), Int(id) <= count else { return nil }
            return id
        }
        let keywords: [(String, Set<BTFKind>)] = [
            ("struct", [.struct]), ("union", [.union]), ("enum", [.enum, .enum64]),
        ]
        for (keyword, kinds) in keywords where name.hasPrefix(keyword + " ") {
            var rest = name.dropFirst(keyword.count)
            while rest.first == " " { rest.removeFirst() }
            return ids(named: String(rest)).first { id in (try? kind(of: id)).map(kinds.contains) ?? false }
        }
        var best: (rank: Int, id: UInt32)?
        for id in ids(named: String(name)) {
            guard let kind = try? kind(of: id), let rank = Self.lookupRank(kind) else { continue }
            if let current = best, current.rank <= rank { continue }
            best = (rank, id)
        }
        return best?.id
    }

    /// Preference of a kind for a bare type name (lower first); `nil` for kinds that hold no value.
    static func lookupRank(_ kind: BTFKind) -> Int? {
        switch kind {
        case .struct, .union: return 0
        case .typedef: return 1
        case .enum, .enum64: return 2
        case .int, .float: return 3
        case .dataSection: return 4
        case .pointer, .array, .const, .volatile, .restrict, .typeTag: return 5
        case .void, .forward, .function, .functionProto, .variable, .declTag: return nil
        }
    }
}
