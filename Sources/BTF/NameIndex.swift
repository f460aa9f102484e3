#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Open-addressing hash table from name bytes (the full name, or its CO-RE essential prefix) to the
/// chain of type ids carrying that name, in ascending id order. Keys are never copied: a slot stores the
/// first id of its chain, whose name bytes serve for comparison.
struct NameIndex: Sendable {
    /// First id of each slot's chain, 0 for an empty slot.
    var heads: [UInt32]
    /// Hash (high 32 bits) and key length (low 32 bits) of each slot's key.
    var keys: [UInt64]
    /// Next id with the same key, by own index (`id - firstOwnID`), 0 at the end of a chain.
    var next: [UInt32]
    var mask: Int
}

extension TypeGraph {
    /// Key bytes of a type for an index: its name, or its essential name.
    @inline(__always)
    func indexKey(ofOwnIndex index: Int, essential: Bool) -> (UnsafeRawPointer, Int)? {
        let nameOffset = reader.u32(Int(offsets[index]))
        guard nameOffset != 0, let (pointer, length) = stringPointer(at: nameOffset), length > 0 else {
            return nil
        }
        return (pointer, essential ? essentialLength(pointer, length) : length)
    }

    func buildIndex(essential: Bool) -> NameIndex {
        let n = offsets.count
        var capacity = 16
        while capacity < n * 2 { capacity <<= 1 }
        let mask = capacity - 1
        var heads = [UInt32](repeating: 0, count: capacity)
        var keys = [UInt64](repeating: 0, count: capacity)
        var next = [UInt32](repeating: 0, count: n)
        heads.withUnsafeMutableBufferPointer { heads in
            keys.withUnsafeMutableBufferPointer { keys in
                next.withUnsafeMutableBufferPointer { next in
                    // Descending ids, prepending: chains end up in ascending order.
                    var index = n - 1
                    while index >= 0 {
                        defer { index -= 1 }
                        guard let (pointer, length) = indexKey(ofOwnIndex: index, essential: essential) else {
                            continue
                        }
                        let hash = hashBytes(pointer, length)
                        let key = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(length)
                        let id = firstOwnID + UInt32(index)
                        var slot = Int(truncatingIfNeeded: hash) & mask
                        while true {
                            let head = heads[slot]
                            if head == 0 {
                                heads[slot] = id
                                keys[slot] = key
                                break
                            }
                            if keys[slot] == key,
                               let (other, _) = indexKey(ofOwnIndex: Int(head - firstOwnID), essential: essential),
                               memcmp(other, pointer, length) == 0 {
                                next[index] = head
                                heads[slot] = id
                                break
                            }
                            slot = (slot + 1) & mask
                        }
                    }
                }
            }
        }
        return NameIndex(heads: heads, keys: keys, next: next, mask: mask)
    }

    var nameIndex: NameIndex { nameIndexCell.get { buildIndex(essential: false) } }
    var essentialNameIndex: NameIndex { essentialIndexCell.get { buildIndex(essential: true) } }

    /// This blob's own ids whose key equals `bytes`.
    func ownIDs(key bytes: UnsafeRawBufferPointer, essential: Bool) -> [UInt32] {
        guard bytes.count > 0, !offsets.isEmpty else { return [] }
        let index = essential ? essentialNameIndex : nameIndex
        let hash = hashBytes(bytes.baseAddress!, bytes.count)
        let key = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(bytes.count)
        var slot = Int(truncatingIfNeeded: hash) & index.mask
        while true {
            let head = index.heads[slot]
            if head == 0 { return [] }
            if index.keys[slot] == key,
               let (other, _) = indexKey(ofOwnIndex: Int(head - firstOwnID), essential: essential),
               memcmp(other, bytes.baseAddress!, bytes.count) == 0 {
                var result: [UInt32] = []
                var id = head
                while id != 0 {
                    result.append(id)
                    id = index.next[Int(id - firstOwnID)]
                }
                return result
            }
            slot = (slot + 1) & index.mask
        }
    }

    func ids(key bytes: UnsafeRawBufferPointer, essential: Bool, includeBase: Bool) -> [UInt32] {
        var result = includeBase ? (base?.ids(key: bytes, essential: essential, includeBase: true) ?? []) : []
        result += ownIDs(key: bytes, essential: essential)
        return result
    }

    /// All type ids named `name` (byte comparison), ascending. Base ids come first in a split graph
    /// unless `includeBase` is false. An empty name matches nothing.
    public func ids(named name: String, includeBase: Bool = true) -> [UInt32] {
        var name = name
        return name.withUTF8 { ids(key: UnsafeRawBufferPointer($0), essential: false, includeBase: includeBase) }
    }

    /// All type ids named by the given bytes (no NUL), ascending, base ids first.
    public func ids(namedBytes bytes: UnsafeRawBufferPointer, includeBase: Bool = true) -> [UInt32] {
        ids(key: bytes, essential: false, includeBase: includeBase)
    }

    /// All type ids whose CO-RE essential name (the name without its last `___flavor` suffix) equals
    /// `essentialName`, ascending, base ids first unless `includeBase` is false. Pass the essential name
    /// of the local type (see ``TypeGraph/essentialName(of:)``); kinds are not filtered.
    public func ids(withEssentialName essentialName: String, includeBase: Bool = true) -> [UInt32] {
        var name = essentialName
        return name.withUTF8 { ids(key: UnsafeRawBufferPointer($0), essential: true, includeBase: includeBase) }
    }

    /// Same as ``ids(withEssentialName:includeBase:)`` with the name given as bytes (no NUL).
    public func ids(withEssentialNameBytes bytes: UnsafeRawBufferPointer, includeBase: Bool = true) -> [UInt32] {
        ids(key: bytes, essential: true, includeBase: includeBase)
    }

    /// The lowest type id named `name` with the given kind, or `nil` (libbpf's `btf__find_by_name_kind`).
    public func firstID(named name: String, kind: BTFKind) -> UInt32? {
        for id in ids(named: name) where (try? self.kind(of: id)) == kind {
            return id
        }
        return nil
    }

    /// The CO-RE essential name: `name` without its last `___flavor` suffix (`task_struct___old` →
    /// `task_struct`), by libbpf's rule (`bpf_core_essential_name_len`).
    public static func essentialName(of name: String) -> Substring {
        var name = name
        let length = name.withUTF8 { bytes in
            bytes.count == 0 ? 0 : essentialLength(UnsafeRawPointer(bytes.baseAddress!), bytes.count)
        }
        return Substring(name.utf8.prefix(length))
    }

    /// Builds the name indexes now instead of on first use (for benchmarks and warm-up).
    public func buildNameIndexes(essential: Bool = true) {
        _ = nameIndex
        if essential { _ = essentialNameIndex }
        base?.buildNameIndexes(essential: essential)
    }
}
