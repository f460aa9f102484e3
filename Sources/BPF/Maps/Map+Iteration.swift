import SystemPackage

/// How the last walk of a ``MapKeySequence`` or ``MapEntrySequence`` ended: shared by a sequence and the
/// iterators it makes, so the caller can ask after a `for` loop whether the walk was complete.
final class MapWalkOutcome: @unchecked Sendable {
    var error: BPFError?
    init(error: BPFError? = nil) { self.error = error }
}

/// The key walk behind both sequences: `BPF_MAP_GET_NEXT_KEY` one key ahead of the caller.
///
/// The key after the one handed out is fetched before handing it out, so deleting the current key
/// during iteration (a drain, or a filter) never makes the kernel restart the walk: for hash maps a
/// missing key makes `GET_NEXT_KEY` start again from the first key. Other concurrent deletions can still
/// cause such a restart and repeated keys; the walk is bounded, as cilium/ebpf's `MapIterator` is, by the
/// map's `max_entries` fetched keys, after which it stops with an error instead of looping for ever.
struct MapKeyWalk {
    let map: Map
    let outcome: MapWalkOutcome
    private var pending: [UInt8]?
    private var started = false
    private var finished = false
    private var fetched = 0

    init(map: Map, outcome: MapWalkOutcome) {
        self.map = map
        self.outcome = outcome
        outcome.error = nil
        if let error = Self.refusal(map) {
            outcome.error = error
            finished = true
        }
    }

    private static func refusal(_ map: Map) -> BPFError? {
        do throws(BPFError) { try map.requireKeys("iterate") } catch { return error }
        return nil
    }

    /// The next key, or nil at the end (or after a failure recorded in the outcome).
    mutating func next() -> [UInt8]? {
        guard !finished else { return nil }
        if !started {
            started = true
            pending = fetch(after: nil)
        }
        guard let current = pending else {
            finished = true
            return nil
        }
        pending = fetch(after: current)
        return current
    }

    /// Records a failure and ends the walk.
    mutating func fail(_ error: BPFError) {
        outcome.error = error
        finished = true
        pending = nil
    }

    private mutating func fetch(after key: [UInt8]?) -> [UInt8]? {
        var next = [UInt8](repeating: 0, count: map.keySize)
        let fd = map.descriptor.rawValue
        let result = next.withUnsafeMutableBytes { nextBytes in
            if let key {
                return key.withUnsafeBytes { SystemCall.mapGetNextKey(fd, key: $0.baseAddress, nextKey: nextBytes.baseAddress!) }
            }
            return SystemCall.mapGetNextKey(fd, key: nil, nextKey: nextBytes.baseAddress!)
        }
        switch result {
        case .success:
            fetched += 1
            if fetched > max(Int(map.maxEntries), 1) {
                fail(BPFError(.kernel, "map \(map.name): iteration aborted after \(fetched - 1) keys: the map changed under the walk (concurrent deletions restart BPF_MAP_GET_NEXT_KEY) more often than max_entries (\(map.maxEntries)) allows"))
                return nil
            }
            return next
        case .failure(.noSuchFileOrDirectory):
            return nil
        case .failure(let errno):
            fail(map.failure(errno, .mapGetNextKey, "iterate"))
            return nil
        }
    }
}

/// The keys of a map, in the kernel's order (`BPF_MAP_GET_NEXT_KEY`), each converted to `Key`.
///
/// Deleting the key just returned is safe during iteration. A failure ends the iteration early; ``error``
/// then says why (check it after the loop, or use ``collect()``).
public struct MapKeySequence<Key>: Sequence {
    let map: Map
    let decode: ([UInt8]) -> Key
    let outcome = MapWalkOutcome()

    /// Why the most recent iteration ended early, or nil when it reached the end of the map.
    public var error: BPFError? { outcome.error }

    /// Walks the map from its first key.
    public func makeIterator() -> Iterator { Iterator(walk: MapKeyWalk(map: map, outcome: outcome), decode: decode) }

    /// Every key, or the error that ended the walk.
    public func collect() throws(BPFError) -> [Key] {
        let keys = Array(self)
        if let error { throw error }
        return keys
    }

    /// The walk's position.
    public struct Iterator: IteratorProtocol {
        var walk: MapKeyWalk
        let decode: ([UInt8]) -> Key

        /// The next key, or nil at the end or after a failure.
        public mutating func next() -> Key? { walk.next().map(decode) }
    }
}

/// The keys and values of a map, in the kernel's order: `BPF_MAP_GET_NEXT_KEY` then `BPF_MAP_LOOKUP_ELEM`
/// for each key, converted to `Key` and `Value`.
///
/// A key that vanishes between the two commands (deleted concurrently; an empty slot of a program or
/// map-in-map array) is skipped. Deleting the entry just returned is safe. A failure ends the iteration
/// early; ``error`` then says why (check it after the loop, or use ``collect()``).
public struct MapEntrySequence<Key, Value>: Sequence {
    let map: Map
    let decodeKey: ([UInt8]) -> Key
    let decodeValue: ([UInt8]) -> Value
    let outcome = MapWalkOutcome()

    /// Why the most recent iteration ended early, or nil when it reached the end of the map.
    public var error: BPFError? { outcome.error }

    /// Walks the map from its first key.
    public func makeIterator() -> Iterator {
        Iterator(walk: MapKeyWalk(map: map, outcome: outcome), decodeKey: decodeKey, decodeValue: decodeValue)
    }

    /// Every entry, or the error that ended the walk.
    public func collect() throws(BPFError) -> [(key: Key, value: Value)] {
        let entries = Array(self)
        if let error { throw error }
        return entries
    }

    /// The walk's position.
    public struct Iterator: IteratorProtocol {
        var walk: MapKeyWalk
        let decodeKey: ([UInt8]) -> Key
        let decodeValue: ([UInt8]) -> Value
        var value: [UInt8] = []

        /// The next entry, or nil at the end or after a failure.
        public mutating func next() -> (key: Key, value: Value)? {
            while let key = walk.next() {
                do throws(BPFError) {
                    // A fresh array per entry: the previous value was handed out.
                    value = []
                    if try walk.map.lookup(key: key, reusing: &value) { return (decodeKey(key), decodeValue(value)) }
                } catch {
                    walk.fail(error)
                    return nil
                }
            }
            return nil
        }
    }
}

extension Map {
    /// The map's keys as bytes (``keySize`` each). See ``MapKeySequence`` for what deletion during the
    /// walk does. The corresponding kernel command is `BPF_MAP_GET_NEXT_KEY`.
    public func keys() -> MapKeySequence<[UInt8]> { MapKeySequence(map: self, decode: { $0 }) }

    /// The map's keys as `Key`s (a plain type of ``keySize`` bytes). The corresponding kernel command is
    /// `BPF_MAP_GET_NEXT_KEY`.
    /// - Throws: ``BPFError`` `.invalidArgument` when `Key`'s size is not the map's key size.
    public func keys<Key: BitwiseCopyable>(as _: Key.Type) throws(BPFError) -> MapKeySequence<Key> {
        try checkLayout(Key.self, expected: keySize, "key", "iterate")
        return MapKeySequence(map: self, decode: { $0.withUnsafeBytes { $0.loadUnaligned(as: Key.self) } })
    }

    /// The map's entries as bytes (values ``fullValueSize`` bytes: every CPU's value for per-CPU maps).
    /// See ``MapEntrySequence`` for what deletion during the walk does. The corresponding kernel commands
    /// are `BPF_MAP_GET_NEXT_KEY` and `BPF_MAP_LOOKUP_ELEM`.
    public func entries() -> MapEntrySequence<[UInt8], [UInt8]> {
        MapEntrySequence(map: self, decodeKey: { $0 }, decodeValue: { $0 })
    }

    /// The map's entries as `Key`s and `Value`s (plain types of the map's key and value sizes). The
    /// corresponding kernel commands are `BPF_MAP_GET_NEXT_KEY` and `BPF_MAP_LOOKUP_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` when a type's size is not the map's.
    public func entries<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        as _: Key.Type, _: Value.Type) throws(BPFError) -> MapEntrySequence<Key, Value> {
        try checkLayout(Key.self, expected: keySize, "key", "iterate")
        try checkLayout(Value.self, expected: try fullValueSize, "value", "iterate")
        return MapEntrySequence(map: self, decodeKey: { $0.withUnsafeBytes { $0.loadUnaligned(as: Key.self) } },
                                decodeValue: { $0.withUnsafeBytes { $0.loadUnaligned(as: Value.self) } })
    }
}
