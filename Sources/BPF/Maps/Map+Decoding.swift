import BTF
import ByteParsing

/// One map entry decoded through the map's BTF: what `bpftool map dump` prints for it.
public struct DecodedMapEntry: Sendable, Hashable {
    /// The key.
    public var key: BTFValue
    /// The value; for per-CPU maps an ``BTFValue/array(_:)`` with one element per possible CPU.
    public var value: BTFValue
}

extension Map {
    /// Decodes key bytes (``keySize`` of them) through the key's BTF type, for printing (``BTFValue/text``)
    /// or JSON (``BTFValue/json``). Without BTF for the key the result is ``BTFValue/bytes(_:)``, printed as
    /// hexadecimal, as bpftool falls back to.
    /// - Throws: ``BPFError`` `.invalidArgument` for bytes of the wrong size or that the type cannot
    ///   describe.
    public func decodeKey(_ bytes: [UInt8], limits: BTFValueLimits = BTFValueLimits()) throws(BPFError) -> BTFValue {
        try checkKeySize(bytes.count, "decoding a key")
        return try decode(bytes, typeID: keyTypeID, role: "key", limits: limits)
    }

    /// Decodes value bytes through the value's BTF type, as ``decodeKey(_:limits:)`` does. For per-CPU maps
    /// `bytes` may be one CPU's value (``valueSize`` bytes) or every CPU's (``fullValueSize``, as lookups
    /// return them); the latter decodes to an ``BTFValue/array(_:)`` with one element per possible CPU.
    /// - Throws: ``BPFError`` `.invalidArgument` for bytes of the wrong size or that the type cannot
    ///   describe.
    public func decodeValue(_ bytes: [UInt8], limits: BTFValueLimits = BTFValueLimits()) throws(BPFError) -> BTFValue {
        if type.isPerCPU, bytes.count != valueSize {
            try checkValueSize(bytes.count, "decoding a value")
            var values: [BTFValue] = []
            for cpuValue in splitPerCPU(bytes) {
                values.append(try decode(cpuValue, typeID: valueTypeID, role: "value", limits: limits))
            }
            return .array(values)
        }
        guard bytes.count == valueSize else {
            throw BPFError(.invalidArgument, "map \(name): decoding a value: \(bytes.count) bytes, but the map's values are \(valueSize) bytes")
        }
        return try decode(bytes, typeID: valueTypeID, role: "value", limits: limits)
    }

    /// Every entry of the map, keys and values decoded through its BTF (``decodeKey(_:limits:)``,
    /// ``decodeValue(_:limits:)``), in the kernel's order. The corresponding kernel commands are
    /// `BPF_MAP_GET_NEXT_KEY` and `BPF_MAP_LOOKUP_ELEM`.
    /// - Throws: ``BPFError`` when the walk fails (keyless maps have no entries to walk) or an entry
    ///   cannot be decoded.
    public func decodedEntries(limits: BTFValueLimits = BTFValueLimits()) throws(BPFError) -> [DecodedMapEntry] {
        var decoded: [DecodedMapEntry] = []
        for (key, value) in try entries().collect() {
            decoded.append(DecodedMapEntry(key: try decodeKey(key, limits: limits), value: try decodeValue(value, limits: limits)))
        }
        return decoded
    }

    private func decode(_ bytes: [UInt8], typeID: UInt32, role: String, limits: BTFValueLimits) throws(BPFError) -> BTFValue {
        guard let btf, typeID != 0 else { return .bytes(bytes) }
        do throws(BTFValueError) {
            return try btf.decode(bytes, as: typeID, byteOrder: .host, limits: limits)
        } catch {
            throw BPFError(.invalidArgument, "map \(name): decoding a \(role) as BTF type [\(typeID)]: \(error)")
        }
    }
}
