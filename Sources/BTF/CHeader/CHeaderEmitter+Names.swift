#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Type names as the header spells them: libbpf's de-duplication gives the Nth type using a name the
/// suffix `___N`.
extension CHeaderEmitter {
    /// The name a struct, union, enum, forward declaration or int is written with.
    @inline(__always)
    mutating func typeName(_ id: UInt32) -> CName { resolveName(id, identifier: false) }

    /// The name a typedef is written with.
    @inline(__always)
    mutating func identifierName(_ id: UInt32) -> CName { resolveName(id, identifier: true) }

    /// A type's name, with a `___N` suffix when it is the Nth type to use that name (counted on first
    /// use, in writing order). Forward declarations and empty enums keep their names: they may share
    /// them with their definitions.
    mutating func resolveName(_ id: UInt32, identifier: Bool) -> CName {
        let r = record(id)
        let offset = load(r, 0)
        if offset == 0 { return .empty }
        var name = rawName(offset)
        let state = flags[Int(id)]
        if state & Self.nameResolved != 0 {
            name.suffix = suffixes[id] ?? 0
            return name
        }
        flags[Int(id)] = state | Self.nameResolved
        let info = load(r, 4)
        let kind = (info >> 24) & 0x1F
        if kind == RawKind.forward || (kind == RawKind.enum && info & 0xFFFF == 0) { return name }
        let occurrences = identifier ? identifierNames.increment(name) : typeNames.increment(name)
        if occurrences > 1 {
            suffixes[id] = occurrences
            name.suffix = occurrences
        }
        return name
    }

    /// A name as the header spells it: bytes from the string section, plus the `___N` suffix that tells
    /// apart types sharing a name (`suffix` 0: none).
    struct CName {
        var pointer: UnsafeRawPointer?
        var length: Int
        var suffix: UInt32

        static var empty: CName { CName(pointer: nil, length: 0, suffix: 0) }

        var isEmpty: Bool { length == 0 }

        /// Whether the spelled name (suffix included) equals `text`.
        func equals(_ text: StaticString) -> Bool {
            guard suffix == 0, length == text.utf8CodeUnitCount, let pointer else { return false }
            return memcmp(pointer, text.utf8Start, length) == 0
        }
    }

    /// Counts how many times each name has been used, by name bytes (not string offsets: equal names may
    /// sit at different offsets). Open addressing over a power-of-two table of 16-byte slots; names stay in
    /// the string section.
    struct NameCounter {
        private struct Slot {
            var pointer: UnsafeRawPointer?
            var length: UInt32
            /// Uses so far; 0 marks an empty slot.
            var count: UInt32
        }

        private var slots: [Slot] = []
        private var used = 0

        /// Adds one use of `name` and returns its number of uses so far (1 the first time).
        mutating func increment(_ name: CName) -> UInt32 {
            if used * 2 >= slots.count { grow() }
            let pointer = name.pointer
            let length = UInt32(truncatingIfNeeded: name.length)
            let mask = slots.count - 1
            var index = Int(truncatingIfNeeded: Self.hash(pointer, name.length)) & mask
            while slots[index].count != 0 {
                if slots[index].length == length
                    && (length == 0 || memcmp(slots[index].pointer!, pointer!, Int(length)) == 0) {
                    slots[index].count += 1
                    return slots[index].count
                }
                index = (index + 1) & mask
            }
            slots[index] = Slot(pointer: pointer, length: length, count: 1)
            used += 1
            return 1
        }

        /// Makes room for `names` distinct names without regrowing.
        mutating func reserve(_ names: Int) {
            var capacity = 4096
            while capacity < names * 2 + 2 { capacity *= 2 }
            if capacity > slots.count { grow(to: capacity) }
        }

        private mutating func grow() { grow(to: max(4096, slots.count * 2)) }

        private mutating func grow(to capacity: Int) {
            let old = slots
            slots = [Slot](repeating: Slot(pointer: nil, length: 0, count: 0), count: capacity)
            let mask = capacity - 1
            for slot in old where slot.count != 0 {
                var index = Int(truncatingIfNeeded: Self.hash(slot.pointer, Int(slot.length))) & mask
                while slots[index].count != 0 { index = (index + 1) & mask }
                slots[index] = slot
            }
        }

        /// A 64-bit hash of the bytes, eight at a time.
        @inline(__always)
        static func hash(_ pointer: UnsafeRawPointer?, _ length: Int) -> UInt64 {
            guard let pointer else { return 0x9E37_79B9_7F4A_7C15 }
            var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(truncatingIfNeeded: length)
            var i = 0
            while i + 8 <= length {
                let w = pointer.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < length {
                tail |= UInt64(pointer.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            return h
        }
    }
}
