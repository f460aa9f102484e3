import CBPF
import SystemPackage

/// Where a batch walk of a map stands: the kernel's opaque batch token, carried from one
/// ``Map/lookupBatch(cursor:maxCount:flags:)`` (or lookup-and-delete) call to the next.
///
/// A fresh cursor starts at the beginning of the map. Use one cursor with one map only.
public struct MapBatchCursor: Sendable {
    /// The kernel's position token (`out_batch` of the last call, `in_batch` of the next): a bucket index
    /// for hash maps, a key for arrays, so it is as large as a key and at least 8 bytes.
    var token: [UInt8] = []
    /// Whether a call has returned a position yet (the first call passes no `in_batch`).
    var started = false

    /// True once the kernel reported the end of the map (`ENOENT`); later calls return nothing.
    public internal(set) var isExhausted = false

    /// A cursor at the beginning of a map.
    public init() {}
}

extension Map {
    // MARK: Lookup (and delete)

    /// Copies up to `keys.count / keySize` elements (limited by the room in `values`, ``fullValueSize``
    /// bytes each) from where `cursor` stands, and advances it; returns how many were copied.
    ///
    /// As in libbpf, the end of the map arrives as `ENOENT` together with the last elements: this returns
    /// their count and marks the cursor exhausted. Hash maps copy whole buckets; when the first bucket
    /// does not fit, the kernel's `ENOSPC` is thrown (the array variant grows its buffers instead). The
    /// corresponding kernel command is `BPF_MAP_LOOKUP_BATCH`.
    public func lookupBatch(cursor: inout MapBatchCursor, keys: UnsafeMutableRawBufferPointer,
                            values: UnsafeMutableRawBufferPointer, flags: MapLookupFlags = []) throws(BPFError) -> Int {
        try lookupBatch(.mapLookupBatch, &cursor, keys, values, flags)
    }

    /// Like ``lookupBatch(cursor:keys:values:flags:)``, and deletes what it copied. The corresponding
    /// kernel command is `BPF_MAP_LOOKUP_AND_DELETE_BATCH`.
    public func lookupAndDeleteBatch(cursor: inout MapBatchCursor, keys: UnsafeMutableRawBufferPointer,
                                     values: UnsafeMutableRawBufferPointer, flags: MapLookupFlags = []) throws(BPFError) -> Int {
        try lookupBatch(.mapLookupAndDeleteBatch, &cursor, keys, values, flags)
    }

    /// Up to `maxCount` elements from where `cursor` stands (fewer at the end of the map: check
    /// ``MapBatchCursor/isExhausted``), advancing it. When a hash bucket holds more than `maxCount`
    /// elements the buffers grow until it fits. The corresponding kernel command is `BPF_MAP_LOOKUP_BATCH`.
    public func lookupBatch(cursor: inout MapBatchCursor, maxCount: Int,
                            flags: MapLookupFlags = []) throws(BPFError) -> [(key: [UInt8], value: [UInt8])] {
        try collectBatch(.mapLookupBatch, &cursor, maxCount, flags)
    }

    /// Like ``lookupBatch(cursor:maxCount:flags:)``, and deletes what it returns. The corresponding kernel
    /// command is `BPF_MAP_LOOKUP_AND_DELETE_BATCH`.
    public func lookupAndDeleteBatch(cursor: inout MapBatchCursor, maxCount: Int,
                                     flags: MapLookupFlags = []) throws(BPFError) -> [(key: [UInt8], value: [UInt8])] {
        try collectBatch(.mapLookupAndDeleteBatch, &cursor, maxCount, flags)
    }

    private func batchName(_ command: BPFCommand) -> String {
        switch command {
        case .mapLookupBatch: "lookup batch"
        case .mapLookupAndDeleteBatch: "lookup and delete batch"
        case .mapUpdateBatch: "update batch"
        default: "delete batch"
        }
    }

    private func lookupBatch(_ command: BPFCommand, _ cursor: inout MapBatchCursor, _ keys: UnsafeMutableRawBufferPointer,
                             _ values: UnsafeMutableRawBufferPointer, _ flags: MapLookupFlags) throws(BPFError) -> Int {
        let what = batchName(command)
        try requireKeys(what)
        if cursor.isExhausted { return 0 }
        let full = try fullValueSize
        let capacity = min(keys.count / keySize, values.count / max(full, 1), Int(UInt32.max))
        guard capacity > 0, let keyBase = keys.baseAddress, let valueBase = values.baseAddress else {
            throw BPFError(.invalidArgument, "map \(name): \(what): the buffers hold no element (\(keys.count) key bytes for \(keySize)-byte keys, \(values.count) value bytes for \(full)-byte values)")
        }
        let tokenSize = max(keySize, 8)
        if cursor.token.count < tokenSize { cursor.token = [UInt8](repeating: 0, count: tokenSize) }
        let started = cursor.started
        var attr = cbpf_map_batch_attr()
        attr.map_fd = UInt32(bitPattern: descriptor.rawValue)
        attr.keys = kernelPointer(keyBase)
        attr.values = kernelPointer(valueBase)
        attr.count = UInt32(capacity)
        attr.elem_flags = flags.rawValue
        let result = cursor.token.withUnsafeMutableBytes { token in
            // One buffer serves as in_batch and out_batch: the kernel reads the former before writing the latter.
            attr.in_batch = started ? kernelPointer(token.baseAddress) : 0
            attr.out_batch = kernelPointer(token.baseAddress)
            return SystemCall.mapBatch(command, &attr)
        }
        let count = Int(attr.count)
        switch result {
        case .success:
            cursor.started = true
            return count
        case .failure(.noSuchFileOrDirectory):
            cursor.started = true
            cursor.isExhausted = true
            return count
        case .failure(let errno):
            var error = failure(errno, command, what)
            if errno == .noSpace {
                error.details.append("a hash bucket holds more than \(capacity) elements: pass room for more")
            }
            throw error
        }
    }

    private func collectBatch(_ command: BPFCommand, _ cursor: inout MapBatchCursor, _ maxCount: Int,
                              _ flags: MapLookupFlags) throws(BPFError) -> [(key: [UInt8], value: [UInt8])] {
        try requireKeys(batchName(command))
        let full = try fullValueSize
        var room = max(maxCount, 1)
        while true {
            var keys = [UInt8](repeating: 0, count: room * keySize)
            var values = [UInt8](repeating: 0, count: room * full)
            let count: Int
            do throws(BPFError) {
                count = try keys.bpfWithMutableBytes { keyBytes throws(BPFError) in
                    try values.bpfWithMutableBytes { valueBytes throws(BPFError) in
                        try lookupBatch(command, &cursor, keyBytes, valueBytes, flags)
                    }
                }
            } catch where error.errno == .noSpace && room < max(Int(maxEntries), 1) {
                room = min(room * 2, max(Int(maxEntries), 1))
                continue
            }
            return (0..<count).map { index in
                (Array(keys[index * keySize ..< (index + 1) * keySize]), Array(values[index * full ..< (index + 1) * full]))
            }
        }
    }

    // MARK: Update and delete

    /// Writes `count` elements: keys packed in `keys` (``keySize`` bytes each), values in `values`
    /// (``fullValueSize`` bytes each); returns how many were written (all of them, or it throws).
    /// - Throws: ``BPFError`` at the first element the kernel refuses; its details say how many elements
    ///   before it were written. The corresponding kernel command is `BPF_MAP_UPDATE_BATCH`.
    @discardableResult
    public func updateBatch(keys: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer, count: Int,
                            flags: MapUpdateFlags = .any) throws(BPFError) -> Int {
        try requireKeys("update batch")
        let full = try fullValueSize
        guard count >= 0, count <= UInt32.max, keys.count >= count * keySize, values.count >= count * full else {
            throw BPFError(.invalidArgument, "map \(name): update batch: \(count) elements need \(count * keySize) key bytes and \(count * full) value bytes, got \(keys.count) and \(values.count)")
        }
        guard count > 0 else { return 0 }
        var attr = cbpf_map_batch_attr()
        attr.map_fd = UInt32(bitPattern: descriptor.rawValue)
        attr.keys = kernelPointer(keys.baseAddress)
        attr.values = kernelPointer(values.baseAddress)
        attr.count = UInt32(count)
        attr.elem_flags = flags.rawValue
        if case .failure(let errno) = SystemCall.mapBatch(.mapUpdateBatch, &attr) {
            var error = failure(errno, .mapUpdateBatch, "update batch")
            error.details.append("\(attr.count) of \(count) elements were written before the failure")
            throw error
        }
        return Int(attr.count)
    }

    /// Writes one element per key: `keys[i]` gets `values[i]` (for per-CPU maps, every CPU's value in one
    /// ``fullValueSize``-byte array). Returns how many were written (all of them, or it throws). The
    /// corresponding kernel command is `BPF_MAP_UPDATE_BATCH`.
    /// - Throws: ``BPFError`` `.invalidArgument` for mismatched counts or sizes; the kernel's refusal at the
    ///   first element it refuses, with the number written before it in the details.
    @discardableResult
    public func updateBatch(keys: [[UInt8]], values: [[UInt8]], flags: MapUpdateFlags = .any) throws(BPFError) -> Int {
        try requireKeys("update batch")
        guard keys.count == values.count else {
            throw BPFError(.invalidArgument, "map \(name): update batch: \(keys.count) keys but \(values.count) values")
        }
        var packedKeys: [UInt8] = []
        var packedValues: [UInt8] = []
        packedKeys.reserveCapacity(keys.count * keySize)
        packedValues.reserveCapacity(values.count * (try fullValueSize))
        for (key, value) in zip(keys, values) {
            try checkKeySize(key.count, "update batch")
            try checkValueSize(value.count, "update batch")
            packedKeys += key
            packedValues += value
        }
        return try packedKeys.bpfWithBytes { keyBytes throws(BPFError) in
            try packedValues.bpfWithBytes { valueBytes throws(BPFError) in
                try updateBatch(keys: keyBytes, values: valueBytes, count: keys.count, flags: flags)
            }
        }
    }

    /// Deletes the `count` keys packed in `keys` (``keySize`` bytes each); returns how many existed and
    /// were deleted.
    ///
    /// The kernel stops a batch at the first key that does not exist (`ENOENT`, with the count before
    /// it); this skips that key and goes on with the rest, so every existing key is deleted. The
    /// corresponding kernel command is `BPF_MAP_DELETE_BATCH`.
    @discardableResult
    public func deleteBatch(keys: UnsafeRawBufferPointer, count: Int) throws(BPFError) -> Int {
        try requireKeys("delete batch")
        guard count >= 0, count <= UInt32.max, keys.count >= count * keySize else {
            throw BPFError(.invalidArgument, "map \(name): delete batch: \(count) keys need \(count * keySize) bytes, got \(keys.count)")
        }
        var done = 0, deleted = 0
        while done < count {
            var attr = cbpf_map_batch_attr()
            attr.map_fd = UInt32(bitPattern: descriptor.rawValue)
            attr.keys = kernelPointer(keys.baseAddress! + done * keySize)
            attr.count = UInt32(count - done)
            let result = SystemCall.mapBatch(.mapDeleteBatch, &attr)
            deleted += Int(attr.count)
            switch result {
            case .success:
                return deleted
            case .failure(.noSuchFileOrDirectory):
                done += Int(attr.count) + 1 // the missing key
            case .failure(let errno):
                var error = failure(errno, .mapDeleteBatch, "delete batch")
                error.details.append("\(deleted) keys were deleted before the failure")
                throw error
            }
        }
        return deleted
    }

    /// Deletes `keys`; returns how many existed and were deleted (missing keys are skipped). The
    /// corresponding kernel command is `BPF_MAP_DELETE_BATCH`.
    /// - Throws: ``BPFError`` `.invalidArgument` for a key of the wrong size; the kernel's refusal
    ///   otherwise (arrays have no deletion).
    @discardableResult
    public func deleteBatch(keys: [[UInt8]]) throws(BPFError) -> Int {
        try requireKeys("delete batch")
        var packed: [UInt8] = []
        packed.reserveCapacity(keys.count * keySize)
        for key in keys {
            try checkKeySize(key.count, "delete batch")
            packed += key
        }
        return try packed.bpfWithBytes { bytes throws(BPFError) in try deleteBatch(keys: bytes, count: keys.count) }
    }
}
