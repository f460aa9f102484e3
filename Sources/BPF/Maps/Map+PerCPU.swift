import BPFObject
import SystemPackage

/// Per-CPU maps (`PERCPU_HASH`, `PERCPU_ARRAY`, `LRU_PERCPU_HASH`, `PERCPU_CGROUP_STORAGE`): one value per
/// possible CPU. The kernel copies them as one buffer of ``Map/perCPUValueStride`` bytes per CPU in CPU
/// order; these methods split and join that buffer.
extension Map {
    /// Refuses per-CPU access on maps with one value per key.
    func requirePerCPU(_ what: String) throws(BPFError) {
        guard type.isPerCPU else {
            throw BPFError(.invalidArgument, "map \(name): \(what): a \(type) map is not per-CPU; use lookup/update")
        }
    }

    /// Splits a full per-CPU buffer into one ``valueSize``-byte value per possible CPU.
    func splitPerCPU(_ bytes: [UInt8]) -> [[UInt8]] {
        let stride = perCPUValueStride
        guard stride > 0 else { return [] }
        return (0..<(bytes.count / stride)).map { Array(bytes[$0 * stride ..< $0 * stride + valueSize]) }
    }

    /// The value of `key` on every possible CPU (index `i` holds the `i`-th possible CPU's value,
    /// ``valueSize`` bytes each); nil when the key does not exist. The corresponding kernel command is
    /// `BPF_MAP_LOOKUP_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` for a map that is not per-CPU or a key of the wrong size.
    public func lookupPerCPU(key: [UInt8], flags: MapLookupFlags = []) throws(BPFError) -> [[UInt8]]? {
        try requirePerCPU("lookupPerCPU")
        return try lookup(key: key, flags: flags).map(splitPerCPU)
    }

    /// Sets the value of `key` on every possible CPU: `values` holds one ``valueSize``-byte value per
    /// possible CPU, in CPU order. The corresponding kernel command is `BPF_MAP_UPDATE_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` naming the expected and actual counts and sizes.
    public func updatePerCPU(key: [UInt8], values: [[UInt8]], flags: MapUpdateFlags = .any) throws(BPFError) {
        try requirePerCPU("updatePerCPU")
        let buffer = try joinPerCPU(values, "updatePerCPU")
        try update(key: key, value: buffer, flags: flags)
    }

    /// One full per-CPU buffer from one value per possible CPU, checking count and sizes.
    func joinPerCPU(_ values: [[UInt8]], _ what: String) throws(BPFError) -> [UInt8] {
        let cpus = try PossibleCPUs.count()
        guard values.count == cpus else {
            throw BPFError(.invalidArgument, "map \(name): \(what): \(values.count) values, but the map needs one per possible CPU (\(cpus))")
        }
        let stride = perCPUValueStride
        var buffer = [UInt8](repeating: 0, count: stride * cpus)
        for (cpu, value) in values.enumerated() {
            guard value.count == valueSize else {
                throw BPFError(.invalidArgument, "map \(name): \(what): value for CPU slot \(cpu) is \(value.count) bytes, but the map's values are \(valueSize) bytes")
            }
            buffer.replaceSubrange(cpu * stride ..< cpu * stride + valueSize, with: value)
        }
        return buffer
    }

    /// The value of `key` on every possible CPU as `Value`s (a plain type of ``valueSize`` bytes); nil when
    /// the key does not exist. The corresponding kernel command is `BPF_MAP_LOOKUP_ELEM`.
    public func lookupPerCPU<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        _ key: Key, as _: Value.Type = Value.self, flags: MapLookupFlags = []) throws(BPFError) -> [Value]? {
        try requirePerCPU("lookupPerCPU")
        try requireKeys("lookupPerCPU")
        try checkLayout(Key.self, expected: keySize, "key", "lookupPerCPU")
        try checkLayout(Value.self, expected: valueSize, "value", "lookupPerCPU")
        var bytes = [UInt8](repeating: 0, count: try fullValueSize)
        let found = try withKeyBytes(key) { keyPointer throws(BPFError) in
            try bytes.bpfWithMutableBytes { buffer throws(BPFError) in
                try lookup(key: keyPointer, into: buffer.baseAddress!, flags: flags)
            }
        }
        guard found else { return nil }
        let stride = perCPUValueStride
        return bytes.withUnsafeBytes { buffer in
            (0..<(buffer.count / stride)).map { buffer.loadUnaligned(fromByteOffset: $0 * stride, as: Value.self) }
        }
    }

    /// Sets the value of `key` on every possible CPU from one `Value` per possible CPU, in CPU order. The
    /// corresponding kernel command is `BPF_MAP_UPDATE_ELEM`.
    public func updatePerCPU<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        _ key: Key, _ values: [Value], flags: MapUpdateFlags = .any) throws(BPFError) {
        try requirePerCPU("updatePerCPU")
        try requireKeys("updatePerCPU")
        try checkLayout(Key.self, expected: keySize, "key", "updatePerCPU")
        try checkLayout(Value.self, expected: valueSize, "value", "updatePerCPU")
        let cpus = try PossibleCPUs.count()
        guard values.count == cpus else {
            throw BPFError(.invalidArgument, "map \(name): updatePerCPU: \(values.count) values, but the map needs one per possible CPU (\(cpus))")
        }
        let stride = perCPUValueStride
        var buffer = [UInt8](repeating: 0, count: stride * cpus)
        buffer.withUnsafeMutableBytes { raw in
            for (cpu, value) in values.enumerated() {
                withUnsafeBytes(of: value) { bytes in
                    raw.baseAddress!.advanced(by: cpu * stride).copyMemory(from: bytes.baseAddress!, byteCount: min(bytes.count, valueSize))
                }
            }
        }
        try withKeyBytes(key) { keyPointer throws(BPFError) in
            try buffer.bpfWithBytes { bytes throws(BPFError) in try update(key: keyPointer, value: bytes.baseAddress!, flags: flags) }
        }
    }
}
