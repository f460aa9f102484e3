#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Name lookups for one blob's own types, built in one pass over the types by hashing name bytes in
/// place (no `String`, no copies).
///
/// - `entries`: one per named type, the name hash's top 32 bits above the type's own index
///   (`id - firstOwnID`), sorted (radix sort, stable, so equal hashes keep ascending ids). A lookup is a
///   binary search and a byte comparison. A sorted array instead of a hash table: the build streams
///   through memory instead of missing the cache on every insert, and it is half the size.
///
/// The essential-name lookup needs, besides, the few types whose name carries a CO-RE `___flavor` suffix
/// (``FlavoredName``, built on first use): types without a flavor have their full name as essential
/// name, so the essential lookup is the exact lookup plus this small list.
struct NameIndex: Sendable {
    var entries: [UInt64]
}

/// A type whose name has a CO-RE `___flavor` suffix, keyed by the hash of its essential name.
struct FlavoredName: Sendable {
    var hash: UInt64
    var id: UInt32
    var essentialLength: UInt32
}

private let ones: UInt64 = 0x0101_0101_0101_0101
private let highs: UInt64 = 0x8080_8080_8080_8080
private let underscores: UInt64 = 0x5F5F_5F5F_5F5F_5F5F
private let hashMultiplier: UInt64 = 0x9E37_79B9_7F4A_7C15

@inline(__always)
private func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
    let x = (h ^ w) &* hashMultiplier
    return x ^ (x >> 32)
}

@inline(__always)
private func finalize(_ h: UInt64, _ length: Int) -> UInt64 {
    var x = (h ^ UInt64(truncatingIfNeeded: length)) &* 0xBF58_476D_1CE4_E5B9
    x ^= x >> 31
    return x
}

/// Bytes of `w` equal to `_`, as the high bit of each byte (exact, no false positives).
@inline(__always)
private func underscoreMask(_ w: UInt64) -> UInt64 {
    let x = w ^ underscores
    return ~(((x & ~highs) &+ ~highs) | x) & highs
}

/// Stable LSD radix sort of `values` by their high 32 bits (three passes of 11, 11 and 10 bits). Small
/// inputs (an object's own BTF) are insertion-sorted in place instead: the radix passes' 48 KB of counters
/// cost more in fresh pages than sorting a few hundred entries.
func radixSortByHighHalf(_ values: inout [UInt64]) {
    let n = values.count
    guard n > 1 else { return }
    if n <= 256 {
        values.withUnsafeMutableBufferPointer { values in
            for i in 1..<n {
                let v = values[i]
                var j = i
                while j > 0 && values[j - 1] >> 32 > v >> 32 {
                    values[j] = values[j - 1]
                    j -= 1
                }
                values[j] = v
            }
        }
        return
    }
    var scratch = [UInt64](repeating: 0, count: n)
    let digits: [(shift: UInt64, bits: Int)] = [(32, 11), (43, 11), (54, 10)]
    var counts = [Int](repeating: 0, count: 3 << 11)
    values.withUnsafeBufferPointer { source in
        counts.withUnsafeMutableBufferPointer { counts in
            for v in source {
                counts[Int((v >> 32) & 0x7FF)] += 1
                counts[2048 + Int((v >> 43) & 0x7FF)] += 1
                counts[4096 + Int(v >> 54)] += 1
            }
        }
    }
    for (pass, digit) in digits.enumerated() {
        let base = pass << 11
        var total = 0
        for d in 0..<(1 << digit.bits) {
            let c = counts[base + d]
            counts[base + d] = total
            total += c
        }
        let mask = UInt64((1 << digit.bits) - 1)
        values.withUnsafeBufferPointer { source in
            scratch.withUnsafeMutableBufferPointer { target in
                counts.withUnsafeMutableBufferPointer { counts in
                    for v in source {
                        let d = base + Int((v >> digit.shift) & mask)
                        target[counts[d]] = v
                        counts[d] += 1
                    }
                }
            }
        }
        swap(&values, &scratch)
    }
}

/// Hash of `count` known bytes; equals what ``hashName`` computes for the same NUL-terminated bytes.
func hashKey(_ pointer: UnsafeRawPointer, _ count: Int) -> UInt64 {
    var h: UInt64 = 0
    var i = 0
    while i + 8 <= count {
        h = mix(h, UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
        i += 8
    }
    if i < count {
        var w: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            w |= UInt64(pointer.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        h = mix(h, w)
    }
    return finalize(h, count)
}

/// Length and hash of the NUL-terminated string at `pointer` (the NUL lies before `limit`), eight bytes at
/// a time; equals ``hashKey`` of the same bytes.
@inline(__always)
func hashName(_ pointer: UnsafeRawPointer, limit: UnsafeRawPointer) -> (hash: UInt64, length: Int) {
    var h: UInt64 = 0
    var i = 0
    while pointer + i + 8 <= limit {
        let w = UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let zero = (w &- ones) & ~w & highs
        if zero != 0 {
            let bytes = zero.trailingZeroBitCount >> 3
            if bytes > 0 { h = mix(h, w & (~UInt64(0) >> UInt64(64 - 8 * bytes))) }
            return (finalize(h, i + bytes), i + bytes)
        }
        h = mix(h, w)
        i += 8
    }
    // Near the end of the section: byte by byte.
    var length = i
    while pointer.load(fromByteOffset: length, as: UInt8.self) != 0 { length += 1 }
    return (hashKey(pointer, length), length)
}

/// Length of the NUL-terminated string at `pointer` (the NUL lies before `limit`) if it contains `___`
/// (a possible CO-RE flavor separator), else `nil`; eight bytes at a time.
@inline(__always)
func lengthIfTripleUnderscore(_ pointer: UnsafeRawPointer, limit: UnsafeRawPointer) -> Int? {
    var i = 0
    var previous: UInt64 = 0
    var triple: UInt64 = 0
    while pointer + i + 8 <= limit {
        let w = UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let zero = (w &- ones) & ~w & highs
        var u = underscoreMask(w)
        var bytes = 8
        if zero != 0 {
            bytes = zero.trailingZeroBitCount >> 3
            u &= bytes == 0 ? 0 : ~UInt64(0) >> UInt64(64 - 8 * bytes)
        }
        let window = (previous >> 48) | (u << 16)
        triple |= (u & (u >> 8) & (u >> 16)) | (window & (window >> 8) & (window >> 16))
        previous = u
        if bytes < 8 { return triple != 0 ? i + bytes : nil }
        i += 8
    }
    var length = i
    while pointer.load(fromByteOffset: length, as: UInt8.self) != 0 { length += 1 }
    var run = 0
    for j in 0..<length {
        run = pointer.load(fromByteOffset: j, as: UInt8.self) == 0x5F ? run + 1 : 0
        if run >= 3 { return length }
    }
    return triple != 0 ? length : nil
}

extension TypeGraph {
    func buildIndex() -> NameIndex {
        let n = offsets.count
        var entries: [UInt64] = []
        entries.reserveCapacity(n)
        offsets.withUnsafeBufferPointer { offsets in
            for index in 0..<n {
                let nameOffset = reader.u32(Int(offsets[index]))
                guard nameOffset != 0, let (pointer, limit) = stringSpan(at: nameOffset) else { continue }
                let (hash, length) = hashName(pointer, limit: limit)
                if length > 0 { entries.append(hash & 0xFFFF_FFFF_0000_0000 | UInt64(index)) }
            }
        }
        radixSortByHighHalf(&entries)
        return NameIndex(entries: entries)
    }

    /// The types whose name has a CO-RE flavor suffix (built on the first essential-name query only).
    func buildFlavoredNames() -> [FlavoredName] {
        var flavored: [FlavoredName] = []
        for index in 0..<offsets.count {
            let nameOffset = reader.u32(Int(offsets[index]))
            guard nameOffset != 0, let (pointer, limit) = stringSpan(at: nameOffset),
                  let length = lengthIfTripleUnderscore(pointer, limit: limit) else { continue }
            let essential = essentialLength(pointer, length)
            if essential < length {
                flavored.append(FlavoredName(hash: hashKey(pointer, essential), id: firstOwnID + UInt32(index),
                                             essentialLength: UInt32(essential)))
            }
        }
        flavored.sort { ($0.hash, $0.id) < ($1.hash, $1.id) }
        return flavored
    }

    /// Whether two of this blob's own types have the same name bytes.
    func sameName(_ a: UInt32, _ b: UInt32) -> Bool {
        guard let oa = recordOffset(a), let ob = recordOffset(b) else { return false }
        let na = reader.u32(oa)
        let nb = reader.u32(ob)
        if na == nb { return true }
        guard let (pa, _) = stringSpan(at: na), let (pb, _) = stringSpan(at: nb) else { return false }
        return strcmp(pa.assumingMemoryBound(to: CChar.self), pb.assumingMemoryBound(to: CChar.self)) == 0
    }

    /// Whether type `id`'s name is exactly the `length` bytes at `bytes`.
    @inline(__always)
    func nameMatches(_ id: UInt32, _ bytes: UnsafeRawPointer, _ length: Int) -> Bool {
        guard let o = recordOffset(id), let (pointer, limit) = stringSpan(at: reader.u32(o)),
              limit - pointer > length else { return false }
        return memcmp(pointer, bytes, length) == 0 && pointer.load(fromByteOffset: length, as: UInt8.self) == 0
    }

    var nameIndex: NameIndex { nameIndexCell.get { buildIndex() } }
    var flavoredNames: [FlavoredName] { flavoredCell.get { buildFlavoredNames() } }

    /// This blob's own ids named exactly `bytes`, ascending.
    func ownIDs(named bytes: UnsafeRawBufferPointer) -> [UInt32] {
        guard bytes.count > 0, !offsets.isEmpty, let start = bytes.baseAddress else { return [] }
        let entries = nameIndex.entries
        let key = hashKey(start, bytes.count) >> 32
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid] >> 32 < key { low = mid + 1 } else { high = mid }
        }
        var result: [UInt32] = []
        while low < entries.count && entries[low] >> 32 == key {
            let id = firstOwnID + UInt32(truncatingIfNeeded: entries[low])
            if nameMatches(id, start, bytes.count) { result.append(id) }
            low += 1
        }
        return result
    }

    /// This blob's own ids whose essential name is exactly `bytes`, ascending.
    func ownIDs(withEssentialName bytes: UnsafeRawBufferPointer) -> [UInt32] {
        guard bytes.count > 0, !offsets.isEmpty, let start = bytes.baseAddress else { return [] }
        // Types named exactly `bytes` have it as essential name unless it carries a flavor itself.
        var result = essentialLength(start, bytes.count) == bytes.count ? ownIDs(named: bytes) : []
        let flavored = flavoredNames
        guard !flavored.isEmpty else { return result }
        let hash = hashKey(start, bytes.count)
        var low = 0
        var high = flavored.count
        while low < high {
            let mid = (low + high) / 2
            if flavored[mid].hash < hash { low = mid + 1 } else { high = mid }
        }
        var added = false
        while low < flavored.count && flavored[low].hash == hash {
            let entry = flavored[low]
            if Int(entry.essentialLength) == bytes.count, let o = recordOffset(entry.id),
               let (pointer, _) = stringSpan(at: reader.u32(o)), memcmp(pointer, start, bytes.count) == 0 {
                result.append(entry.id)
                added = true
            }
            low += 1
        }
        if added { result.sort() }
        return result
    }

    func ids(key bytes: UnsafeRawBufferPointer, essential: Bool, includeBase: Bool) -> [UInt32] {
        var result = includeBase ? (base?.ids(key: bytes, essential: essential, includeBase: true) ?? []) : []
        result += essential ? ownIDs(withEssentialName: bytes) : ownIDs(named: bytes)
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

    /// Builds the name index (and, with `essential`, the flavored-name list of essential-name lookups)
    /// now, base included, instead of on first use: for benchmarks and warm-up.
    public func buildNameIndex(essential: Bool = false) {
        _ = nameIndex
        if essential { _ = flavoredNames }
        base?.buildNameIndex(essential: essential)
    }
}
