import BPFObject
import CBPF
import SystemPackage

/// How an element update treats an existing element (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`) and whether it
/// takes the value's `bpf_spin_lock` (`BPF_F_LOCK`).
public struct MapUpdateFlags: OptionSet, Sendable, Hashable {
    /// The kernel's `flags` bits.
    public let rawValue: UInt64
    /// Flags from the kernel's bits.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Create the element or replace its value (`BPF_ANY`).
    public static let any: MapUpdateFlags = []
    /// Only create: fails with `EEXIST` when the key exists (`BPF_NOEXIST`).
    public static let noExist = MapUpdateFlags(rawValue: 1)
    /// Only replace: fails with `ENOENT` when the key is missing (`BPF_EXIST`). For queues and stacks:
    /// push even when full, dropping the oldest element.
    public static let exist = MapUpdateFlags(rawValue: 2)
    /// Write the value under its `bpf_spin_lock` (`BPF_F_LOCK`; values with a spin lock only).
    public static let lock = MapUpdateFlags(rawValue: 4)
}

/// Options of an element lookup.
public struct MapLookupFlags: OptionSet, Sendable, Hashable {
    /// The kernel's `flags` bits.
    public let rawValue: UInt64
    /// Flags from the kernel's bits.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Copy the value under its `bpf_spin_lock` (`BPF_F_LOCK`; values with a spin lock only).
    public static let lock = MapLookupFlags(rawValue: 4)
}

// MARK: - Shapes and checks

extension Map {
    /// The bytes one value occupies in user space: ``valueSize``, or for per-CPU maps
    /// ``perCPUValueStride`` times the number of possible CPUs (one slot per CPU, each 8-byte aligned).
    /// - Throws: ``BPFError`` when the possible CPUs cannot be read (per-CPU maps only).
    public var fullValueSize: Int {
        get throws(BPFError) {
            accessTraits.contains(.perCPU) ? perCPUValueStride * (try PossibleCPUs.count()) : valueSize
        }
    }

    /// The type's traits read straight from the table row (``MapType/traits`` copies the whole row, which
    /// costs more than the checks on the element hot paths should).
    @inlinable
    var accessTraits: MapType.Traits {
        let index = Int(type.rawValue)
        guard index < MapType.table.count, MapType.table[index].rawValue == type.rawValue else { return type.traits }
        return MapType.table[index].traits
    }

    /// `BPF_F_RDONLY`: the creation flag that makes a map read-only for user space.
    static let userReadOnlyFlags: UInt32 = 1 << 3

    /// The bytes of one CPU's slot in a per-CPU value: ``valueSize`` rounded up to 8.
    public var perCPUValueStride: Int { (valueSize + 7) & ~7 }

    /// A failure of `what` on this map, named after the map, with the kernel's errno explained where the
    /// map operations give it a specific meaning.
    func failure(_ errno: Errno, _ command: BPFCommand, _ what: String) -> BPFError {
        var error = BPFError(errno: errno, command: command, "map \(name): \(what)")
        switch (command, errno) {
        case (.mapUpdateElement, .argListTooLong), (.mapUpdateBatch, .argListTooLong):
            error.details.append("the map is full (max_entries \(maxEntries))")
        case (_, .fileExists):
            error.details.append("the key exists and the update asked for a new element (noExist)")
        case (.mapUpdateElement, .noSuchFileOrDirectory), (.mapUpdateBatch, .noSuchFileOrDirectory):
            error.details.append("the key does not exist and the update asked to replace (exist)")
        case (_, .notSupported), (_, .kernelNotSupported), (_, .invalidArgument):
            error.details.append("\(type) maps may not support \(command) from user space")
        case (.mapUpdateElement, .notPermitted), (.mapUpdateBatch, .notPermitted), (.mapDeleteElement, .notPermitted),
             (.mapDeleteBatch, .notPermitted), (.mapFreeze, .notPermitted):
            error.details.append(flags & Map.userReadOnlyFlags != 0
                ? "the map was created read-only for user space (BPF_F_RDONLY)"
                : "the map is frozen (read-only for user space), or the process lacks privilege")
        default: break
        }
        return error
    }

    /// Refuses operations that need elements on maps that have none to look up (ring buffers).
    @usableFromInline
    func requireElements(_ what: String) throws(BPFError) {
        guard !accessTraits.contains(.ringBuffer) else {
            throw BPFError(.unsupported, "map \(name): \(what): a \(type) map has no elements to look up or update; read its records with a ring buffer reader")
        }
    }

    /// Refuses keyed operations on keyless maps (queue, stack, bloom filter, ring buffers).
    @usableFromInline
    func requireKeys(_ what: String) throws(BPFError) {
        try requireElements(what)
        guard keySize > 0 else {
            throw BPFError(.invalidArgument, "map \(name): \(what): a \(type) map has no keys; use push, pop, peek (or mayContain for bloom filters)")
        }
    }

    /// Checks that a key of `actual` bytes fits this map's keys.
    func checkKeySize(_ actual: Int, _ what: String) throws(BPFError) {
        guard actual == keySize else {
            throw BPFError(.invalidArgument, "map \(name): \(what): key of \(actual) bytes, but the map's keys are \(keySize) bytes")
        }
    }

    /// Checks that a value of `actual` bytes is a whole user-space value, and returns that size.
    @discardableResult
    func checkValueSize(_ actual: Int, _ what: String) throws(BPFError) -> Int {
        let expected = try fullValueSize
        guard actual == expected else {
            let perCPU = type.isPerCPU
                ? " (\(perCPUValueStride) bytes for each of \(expected / max(perCPUValueStride, 1)) possible CPUs; use the per-CPU methods to pass one value per CPU)"
                : ""
            throw BPFError(.invalidArgument, "map \(name): \(what): value of \(actual) bytes, but the map's values are \(expected) bytes\(perCPU)")
        }
        return expected
    }

    /// Checks that a Swift type's memory is as large as `expected` bytes: its size or its stride (a C
    /// struct's `sizeof` includes trailing padding that a Swift struct's size leaves out).
    @usableFromInline
    func checkLayout<T>(_: T.Type, expected: Int, _ role: String, _ what: String) throws(BPFError) {
        let size = MemoryLayout<T>.size, stride = MemoryLayout<T>.stride
        guard size == expected || stride == expected else {
            let perCPU = role == "value" && type.isPerCPU && expected != valueSize
                ? " (\(perCPUValueStride) bytes for each possible CPU: the map is per-CPU; use lookupPerCPU/updatePerCPU)"
                : ""
            throw BPFError(.invalidArgument, "map \(name): \(what): \(role) type \(T.self) is \(size) bytes, but the map's \(role)s are \(expected) bytes\(perCPU)")
        }
    }
}

// MARK: - Raw pointers (no checks, no allocation)

extension Map {
    /// Copies the value of the key at `key` into `value`; false when the key does not exist.
    ///
    /// The fastest lookup: no checks and no allocation. `key` must hold ``keySize`` bytes (nil for
    /// keyless maps: peek), `value` must have room for ``fullValueSize`` bytes. The corresponding kernel
    /// command is `BPF_MAP_LOOKUP_ELEM`.
    public func lookup(key: UnsafeRawPointer?, into value: UnsafeMutableRawPointer,
                       flags: MapLookupFlags = []) throws(BPFError) -> Bool {
        switch SystemCall.mapLookupElement(descriptor.rawValue, key: key, value: value, flags: flags.rawValue) {
        case .success: return true
        case .failure(.noSuchFileOrDirectory): return false
        case .failure(let errno): throw failure(errno, .mapLookupElement, "lookup")
        }
    }

    /// Writes the value at `value` for the key at `key` (nil for keyless maps: push).
    ///
    /// No checks and no allocation: `key` must hold ``keySize`` bytes and `value` ``fullValueSize``
    /// bytes. The corresponding kernel command is `BPF_MAP_UPDATE_ELEM`.
    public func update(key: UnsafeRawPointer?, value: UnsafeRawPointer, flags: MapUpdateFlags = .any) throws(BPFError) {
        if case .failure(let errno) = SystemCall.mapUpdateElement(descriptor.rawValue, key: key, value: value, flags: flags.rawValue) {
            throw failure(errno, .mapUpdateElement, "update")
        }
    }

    /// Deletes the key at `key` (``keySize`` bytes); false when it did not exist. The corresponding kernel
    /// command is `BPF_MAP_DELETE_ELEM`.
    @discardableResult
    public func delete(key: UnsafeRawPointer) throws(BPFError) -> Bool {
        switch SystemCall.mapDeleteElement(descriptor.rawValue, key: key) {
        case .success: return true
        case .failure(.noSuchFileOrDirectory): return false
        case .failure(let errno): throw failure(errno, .mapDeleteElement, "delete")
        }
    }

    /// Copies the value of the key at `key` into `value` and deletes the element (key nil for queues and
    /// stacks: pop); false when there was none. No checks and no allocation. The corresponding kernel
    /// command is `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    public func lookupAndDelete(key: UnsafeRawPointer?, into value: UnsafeMutableRawPointer,
                                flags: MapLookupFlags = []) throws(BPFError) -> Bool {
        switch SystemCall.mapLookupAndDeleteElement(descriptor.rawValue, key: key, value: value, flags: flags.rawValue) {
        case .success: return true
        case .failure(.noSuchFileOrDirectory): return false
        case .failure(let errno): throw failure(errno, .mapLookupAndDeleteElement, "lookup and delete")
        }
    }
}

// MARK: - Byte arrays

extension Map {
    /// The value of `key`, or nil when the key does not exist. For per-CPU maps the result holds every
    /// possible CPU's value (``fullValueSize`` bytes; see ``lookupPerCPU(key:flags:)``). The corresponding
    /// kernel command is `BPF_MAP_LOOKUP_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` for a key of the wrong size or a keyless map; the
    ///   kernel's refusal otherwise.
    public func lookup(key: [UInt8], flags: MapLookupFlags = []) throws(BPFError) -> [UInt8]? {
        var value: [UInt8] = []
        return try lookup(key: key, reusing: &value, flags: flags) ? value : nil
    }

    /// Looks `key` up into `value`, reusing its storage (resized to ``fullValueSize`` when needed, so a
    /// loop that reuses one array allocates once); false when the key does not exist. The corresponding
    /// kernel command is `BPF_MAP_LOOKUP_ELEM`.
    ///
    /// The label is `reusing:`, not `into:`, on purpose: Swift prefers the raw-pointer
    /// ``lookup(key:into:flags:)`` for `into: &array`, which does no size check.
    public func lookup(key: [UInt8], reusing value: inout [UInt8], flags: MapLookupFlags = []) throws(BPFError) -> Bool {
        try requireKeys("lookup")
        try checkKeySize(key.count, "lookup")
        let size = try fullValueSize
        if value.count != size { value = [UInt8](repeating: 0, count: size) }
        let fd = descriptor.rawValue
        let result = key.withUnsafeBytes { keyBytes in
            value.withUnsafeMutableBytes { valueBytes in
                SystemCall.mapLookupElement(fd, key: keyBytes.baseAddress, value: valueBytes.baseAddress!, flags: flags.rawValue)
            }
        }
        switch result {
        case .success: return true
        case .failure(.noSuchFileOrDirectory): return false
        case .failure(let errno): throw failure(errno, .mapLookupElement, "lookup")
        }
    }

    /// Calls `body` with the value of `key`, read into temporary memory (on the stack for small values),
    /// and returns its result; nil when the key does not exist. The value bytes are valid only inside
    /// `body`. The corresponding kernel command is `BPF_MAP_LOOKUP_ELEM`.
    public func withLookup<Result>(key: [UInt8], flags: MapLookupFlags = [],
                                   _ body: (UnsafeRawBufferPointer) -> Result) throws(BPFError) -> Result? {
        try requireKeys("lookup")
        try checkKeySize(key.count, "lookup")
        return try key.bpfWithBytes { keyBytes throws(BPFError) in
            try withLookup(keyPointer: keyBytes.baseAddress, flags: flags, body)
        }
    }

    /// ``withLookup(key:flags:_:)`` with a key of any plain type (``keySize`` bytes, no padding).
    @inlinable
    public func withLookup<Key: BitwiseCopyable, Result>(_ key: Key, flags: MapLookupFlags = [],
                                                        _ body: (UnsafeRawBufferPointer) -> Result) throws(BPFError) -> Result? {
        try requireKeys("lookup")
        try checkLayout(Key.self, expected: keySize, "key", "lookup")
        return try withKeyBytes(key) { keyPointer throws(BPFError) in
            try withLookup(keyPointer: keyPointer, flags: flags, body)
        }
    }

    @usableFromInline
    func withLookup<Result>(keyPointer: UnsafeRawPointer?, flags: MapLookupFlags,
                                    _ body: (UnsafeRawBufferPointer) -> Result) throws(BPFError) -> Result? {
        let size = try fullValueSize
        let fd = descriptor.rawValue
        let outcome: Swift.Result<Result?, Errno> = withUnsafeTemporaryAllocation(byteCount: max(size, 1), alignment: 16) { buffer in
            switch SystemCall.mapLookupElement(fd, key: keyPointer, value: buffer.baseAddress!, flags: flags.rawValue) {
            case .success: return .success(body(UnsafeRawBufferPointer(rebasing: buffer[..<size])))
            case .failure(.noSuchFileOrDirectory): return .success(nil)
            case .failure(let errno): return .failure(errno)
            }
        }
        switch outcome {
        case .success(let result): return result
        case .failure(let errno): throw failure(errno, .mapLookupElement, "lookup")
        }
    }

    /// Creates or replaces the value of `key` (per `flags`). For per-CPU maps `value` holds every possible
    /// CPU's value (see ``updatePerCPU(key:values:flags:)``). The corresponding kernel command is
    /// `BPF_MAP_UPDATE_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` for a key or value of the wrong size; the kernel's
    ///   refusal otherwise (`EEXIST` with ``MapUpdateFlags/noExist``, `ENOENT` with
    ///   ``MapUpdateFlags/exist``, `E2BIG` when the map is full).
    public func update(key: [UInt8], value: [UInt8], flags: MapUpdateFlags = .any) throws(BPFError) {
        try requireKeys("update")
        try checkKeySize(key.count, "update")
        try checkValueSize(value.count, "update")
        let fd = descriptor.rawValue
        let result = key.withUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                SystemCall.mapUpdateElement(fd, key: keyBytes.baseAddress, value: valueBytes.baseAddress!, flags: flags.rawValue)
            }
        }
        if case .failure(let errno) = result { throw failure(errno, .mapUpdateElement, "update") }
    }

    /// Deletes `key`; false when it did not exist. The corresponding kernel command is
    /// `BPF_MAP_DELETE_ELEM`.
    /// - Throws: ``BPFError`` for a key of the wrong size, or when the map type has no deletion (arrays).
    @discardableResult
    public func delete(key: [UInt8]) throws(BPFError) -> Bool {
        try requireKeys("delete")
        try checkKeySize(key.count, "delete")
        return try key.bpfWithBytes { keyBytes throws(BPFError) in try delete(key: keyBytes.baseAddress!) }
    }

    /// The value of `key`, deleted from the map in the same step; nil when the key does not exist. The
    /// corresponding kernel command is `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    public func lookupAndDelete(key: [UInt8], flags: MapLookupFlags = []) throws(BPFError) -> [UInt8]? {
        try requireKeys("lookup and delete")
        try checkKeySize(key.count, "lookup and delete")
        var value = [UInt8](repeating: 0, count: try fullValueSize)
        let fd = descriptor.rawValue
        let result = key.withUnsafeBytes { keyBytes in
            value.withUnsafeMutableBytes { valueBytes in
                SystemCall.mapLookupAndDeleteElement(fd, key: keyBytes.baseAddress, value: valueBytes.baseAddress!, flags: flags.rawValue)
            }
        }
        switch result {
        case .success: return value
        case .failure(.noSuchFileOrDirectory): return nil
        case .failure(let errno): throw failure(errno, .mapLookupAndDeleteElement, "lookup and delete")
        }
    }

    /// Makes the map read-only for user space from now on (programs may still write it): later updates
    /// from user space fail with `EPERM`. The corresponding kernel command is `BPF_MAP_FREEZE`.
    /// - Throws: ``BPFError`` when the kernel refuses (already frozen: `EPERM`; mapped writable: `EBUSY`).
    public func freeze() throws(BPFError) {
        if case .failure(let errno) = SystemCall.mapFreeze(descriptor.rawValue) {
            var error = failure(errno, .mapFreeze, "freeze")
            if errno == .resourceBusy { error.details.append("the map is mapped writable, or already frozen") }
            throw error
        }
    }
}

// MARK: - Typed keys and values

extension Map {
    /// Calls `body` with the bytes of `key` in zeroed temporary memory of ``keySize`` bytes (trailing
    /// padding of a Swift type is then zero, as hash maps compare every key byte).
    ///
    /// The temporary buffers here have a constant alignment so that they stay on the stack even in
    /// unspecialised generic code; the bytes are stored and loaded unaligned, so any type fits.
    @inlinable
    func withKeyBytes<Key: BitwiseCopyable, Result, Failure: Error>(
        _ key: Key, _ body: (UnsafeRawPointer) throws(Failure) -> Result) throws(Failure) -> Result {
        try withValueBytes(key, size: keySize, body)
    }

    /// Calls `body` with the bytes of `value` in zeroed temporary memory of at least `size` bytes.
    @inlinable
    func withValueBytes<Value: BitwiseCopyable, Result, Failure: Error>(
        _ value: Value, size: Int, _ body: (UnsafeRawPointer) throws(Failure) -> Result) throws(Failure) -> Result {
        let count = max(size, MemoryLayout<Value>.size, 1)
        let outcome: Swift.Result<Result, Failure> = withUnsafeTemporaryAllocation(byteCount: count, alignment: 16) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.storeBytes(of: value, as: Value.self)
            do throws(Failure) { return .success(try body(UnsafeRawPointer(buffer.baseAddress!))) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// Reads a value of type `Value` through `fill`, which writes at most `size` bytes into the buffer it
    /// gets and says whether it found anything.
    @inlinable
    func readValue<Value: BitwiseCopyable>(_: Value.Type, size: Int,
                                          _ fill: (UnsafeMutableRawPointer) throws(BPFError) -> Bool) throws(BPFError) -> Value? {
        let count = max(size, MemoryLayout<Value>.size, 1)
        let outcome: Swift.Result<Value?, BPFError> = withUnsafeTemporaryAllocation(byteCount: count, alignment: 16) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            do throws(BPFError) {
                guard try fill(buffer.baseAddress!) else { return .success(nil) }
                return .success(buffer.loadUnaligned(as: Value.self))
            } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// The value of `key` as a `Value`, or nil when the key does not exist. `Key` and `Value` must be
    /// plain types of the map's key and value sizes (size or stride) without interior padding. The
    /// corresponding kernel command is `BPF_MAP_LOOKUP_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` naming the expected and actual sizes when they differ.
    @inlinable
    public func lookup<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        _ key: Key, as _: Value.Type = Value.self, flags: MapLookupFlags = []) throws(BPFError) -> Value? {
        try requireKeys("lookup")
        try checkLayout(Key.self, expected: keySize, "key", "lookup")
        let size = try fullValueSize
        try checkLayout(Value.self, expected: size, "value", "lookup")
        return try withKeyBytes(key) { keyPointer throws(BPFError) in
            try readValue(Value.self, size: size) { valuePointer throws(BPFError) in
                try lookup(key: keyPointer, into: valuePointer, flags: flags)
            }
        }
    }

    /// Creates or replaces the value of `key` (per `flags`). `Key` and `Value` must be plain types of the
    /// map's key and value sizes (size or stride) without interior padding. The corresponding kernel
    /// command is `BPF_MAP_UPDATE_ELEM`.
    /// - Throws: ``BPFError`` `.invalidArgument` naming the expected and actual sizes when they differ.
    @inlinable
    public func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        _ key: Key, _ value: Value, flags: MapUpdateFlags = .any) throws(BPFError) {
        try requireKeys("update")
        try checkLayout(Key.self, expected: keySize, "key", "update")
        let size = try fullValueSize
        try checkLayout(Value.self, expected: size, "value", "update")
        try withKeyBytes(key) { keyPointer throws(BPFError) in
            try withValueBytes(value, size: size) { valuePointer throws(BPFError) in
                try update(key: keyPointer, value: valuePointer, flags: flags)
            }
        }
    }

    /// Deletes `key`; false when it did not exist. The corresponding kernel command is
    /// `BPF_MAP_DELETE_ELEM`.
    @discardableResult
    @inlinable
    public func delete<Key: BitwiseCopyable>(_ key: Key) throws(BPFError) -> Bool {
        try requireKeys("delete")
        try checkLayout(Key.self, expected: keySize, "key", "delete")
        return try withKeyBytes(key) { keyPointer throws(BPFError) in try delete(key: keyPointer) }
    }

    /// The value of `key` as a `Value`, deleted from the map in the same step; nil when the key does not
    /// exist. The corresponding kernel command is `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    @inlinable
    public func lookupAndDelete<Key: BitwiseCopyable, Value: BitwiseCopyable>(
        _ key: Key, as _: Value.Type = Value.self, flags: MapLookupFlags = []) throws(BPFError) -> Value? {
        try requireKeys("lookup and delete")
        try checkLayout(Key.self, expected: keySize, "key", "lookup and delete")
        let size = try fullValueSize
        try checkLayout(Value.self, expected: size, "value", "lookup and delete")
        return try withKeyBytes(key) { keyPointer throws(BPFError) in
            try readValue(Value.self, size: size) { valuePointer throws(BPFError) in
                try lookupAndDelete(key: keyPointer, into: valuePointer, flags: flags)
            }
        }
    }
}

// MARK: - Keyless maps: queue, stack, bloom filter

extension Map {
    /// Refuses keyless operations on maps with keys.
    @usableFromInline
    func requireKeyless(_ what: String) throws(BPFError) {
        try requireElements(what)
        guard keySize == 0 else {
            throw BPFError(.invalidArgument, "map \(name): \(what): a \(type) map has keys; push, pop and peek are for queues, stacks and bloom filters")
        }
    }

    /// Adds `value` to a queue, stack or bloom filter. With ``MapUpdateFlags/exist`` a full queue or stack
    /// drops its oldest element instead of failing. The corresponding kernel command is
    /// `BPF_MAP_UPDATE_ELEM` with no key.
    public func push(_ value: [UInt8], flags: MapUpdateFlags = .any) throws(BPFError) {
        try requireKeyless("push")
        try checkValueSize(value.count, "push")
        try value.bpfWithBytes { bytes throws(BPFError) in try update(key: nil, value: bytes.baseAddress!, flags: flags) }
    }

    /// Removes and returns the next element of a queue (oldest) or stack (newest); nil when empty. The
    /// corresponding kernel command is `BPF_MAP_LOOKUP_AND_DELETE_ELEM` with no key.
    public func pop() throws(BPFError) -> [UInt8]? {
        try requireKeyless("pop")
        var value = [UInt8](repeating: 0, count: valueSize)
        let found = try value.bpfWithMutableBytes { bytes throws(BPFError) in
            try lookupAndDelete(key: nil, into: bytes.baseAddress!)
        }
        return found ? value : nil
    }

    /// The next element of a queue or stack without removing it; nil when empty. The corresponding kernel
    /// command is `BPF_MAP_LOOKUP_ELEM` with no key.
    public func peek() throws(BPFError) -> [UInt8]? {
        try requireKeyless("peek")
        guard type != .bloomFilter else {
            throw BPFError(.invalidArgument, "map \(name): peek: a bloom filter has no next element; use mayContain(_:) to test a value")
        }
        var value = [UInt8](repeating: 0, count: valueSize)
        let found = try value.bpfWithMutableBytes { bytes throws(BPFError) in try lookup(key: nil, into: bytes.baseAddress!) }
        return found ? value : nil
    }

    /// Whether a bloom filter may contain `value`: false means certainly not, true means probably (false
    /// positives happen, false negatives do not). The corresponding kernel command is
    /// `BPF_MAP_LOOKUP_ELEM` with no key (the bloom filter's peek).
    public func mayContain(_ value: [UInt8]) throws(BPFError) -> Bool {
        try requireBloomFilter()
        try checkValueSize(value.count, "mayContain")
        var copy = value
        return try copy.bpfWithMutableBytes { bytes throws(BPFError) in try lookup(key: nil, into: bytes.baseAddress!) }
    }

    @usableFromInline
    func requireBloomFilter() throws(BPFError) {
        guard type == .bloomFilter else {
            throw BPFError(.invalidArgument, "map \(name): mayContain: a \(type) map is not a bloom filter")
        }
    }

    /// Adds `value` (a plain type of the map's value size) to a queue, stack or bloom filter. The
    /// corresponding kernel command is `BPF_MAP_UPDATE_ELEM` with no key.
    @inlinable
    public func push<Value: BitwiseCopyable>(_ value: Value, flags: MapUpdateFlags = .any) throws(BPFError) {
        try requireKeyless("push")
        try checkLayout(Value.self, expected: valueSize, "value", "push")
        try withValueBytes(value, size: valueSize) { pointer throws(BPFError) in try update(key: nil, value: pointer, flags: flags) }
    }

    /// Removes and returns the next element of a queue or stack as a `Value`; nil when empty. The
    /// corresponding kernel command is `BPF_MAP_LOOKUP_AND_DELETE_ELEM` with no key.
    @inlinable
    public func pop<Value: BitwiseCopyable>(as _: Value.Type) throws(BPFError) -> Value? {
        try requireKeyless("pop")
        try checkLayout(Value.self, expected: valueSize, "value", "pop")
        return try readValue(Value.self, size: valueSize) { pointer throws(BPFError) in try lookupAndDelete(key: nil, into: pointer) }
    }

    /// The next element of a queue or stack as a `Value`, not removed; nil when empty. The corresponding
    /// kernel command is `BPF_MAP_LOOKUP_ELEM` with no key.
    @inlinable
    public func peek<Value: BitwiseCopyable>(as _: Value.Type) throws(BPFError) -> Value? {
        try requireKeyless("peek")
        guard type != .bloomFilter else {
            throw BPFError(.invalidArgument, "map \(name): peek: a bloom filter has no next element; use mayContain(_:) to test a value")
        }
        try checkLayout(Value.self, expected: valueSize, "value", "peek")
        return try readValue(Value.self, size: valueSize) { pointer throws(BPFError) in try lookup(key: nil, into: pointer) }
    }

    /// Whether a bloom filter may contain `value` (a plain type of the map's value size). The
    /// corresponding kernel command is `BPF_MAP_LOOKUP_ELEM` with no key.
    @inlinable
    public func mayContain<Value: BitwiseCopyable>(_ value: Value) throws(BPFError) -> Bool {
        try requireBloomFilter()
        try checkLayout(Value.self, expected: valueSize, "value", "mayContain")
        return try withValueBytes(value, size: valueSize) { pointer throws(BPFError) in
            try lookup(key: nil, into: UnsafeMutableRawPointer(mutating: pointer))
        }
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for bodies that throw ``BPFError`` (the standard one rethrows untyped).
    @inline(__always)
    func bpfWithBytes<Result>(_ body: (UnsafeRawBufferPointer) throws(BPFError) -> Result) throws(BPFError) -> Result {
        let outcome: Swift.Result<Result, BPFError> = withUnsafeBytes { bytes in
            do throws(BPFError) { return .success(try body(bytes)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// `withUnsafeMutableBytes` for bodies that throw ``BPFError``.
    @inline(__always)
    mutating func bpfWithMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws(BPFError) -> Result) throws(BPFError) -> Result {
        let outcome: Swift.Result<Result, BPFError> = withUnsafeMutableBytes { bytes in
            do throws(BPFError) { return .success(try body(bytes)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }
}
