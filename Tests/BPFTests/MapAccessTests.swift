import BPFObject
import BTF
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

#if canImport(Glibc)
import Glibc
#endif

/// Kernel-side helpers for the live map and program tests.
enum LiveObjectTestSupport {
    /// Skips (or, in CI, fails) unless the process can call `bpf()`.
    static func requireRoot() throws {
        try require(geteuid() == 0, "live map and program tests need root for bpf()")
    }

    /// Mounts bpffs at /sys/fs/bpf when missing (once per process: a second mount would hide the first's pins).
    private static let bpffsReady: Bool = {
        (try? BPFFileSystem.prepare("/sys/fs/bpf")) != nil
    }()

    /// A bpffs directory to pin into (mounting bpffs at /sys/fs/bpf when it is missing), or a skip.
    static func pinDirectory() throws -> String {
        try require(bpffsReady, "bpffs is not mounted at /sys/fs/bpf and could not be mounted")
        return "/sys/fs/bpf"
    }

    /// A fresh pin path for this process.
    static func pinPath(_ label: String) throws -> String {
        "\(try pinDirectory())/swift-load-test-\(getpid())-\(label)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The ids of the maps and programs this process holds descriptors for, from `/proc/self/fdinfo`.
    static func openObjectIDs() -> (maps: Set<UInt32>, programs: Set<UInt32>) {
        var maps: Set<UInt32> = [], programs: Set<UInt32> = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fdinfo")) ?? []
        for name in names {
            guard let text = try? String(contentsOfFile: "/proc/self/fdinfo/" + name, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let id = UInt32(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
                if parts[0] == "map_id" { maps.insert(id) }
                if parts[0] == "prog_id" { programs.insert(id) }
            }
        }
        return (maps, programs)
    }

    /// Whether the kernel still has an object of `kind` with `id`.
    static func kernelHas(_ kind: KernelObjectKind, id: UInt32) -> Bool {
        switch SystemCall.descriptor(of: kind, id: id) {
        case .success(let fd):
            close(Int32(fd))
            return true
        case .failure:
            return false
        }
    }
}

/// Encodes one instruction as the `[UInt64]` that `Program.load(type:instructions:)` takes.
func instruction(_ opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) -> UInt64 {
    UInt64(opcode) | UInt64(dst & 0xf | (src & 0xf) << 4) << 8 | UInt64(UInt16(bitPattern: offset)) << 16
        | UInt64(UInt32(bitPattern: imm)) << 32
}

/// Catches the ``BPFError`` `body` throws; records an issue when it throws none.
func expectBPFError(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () throws(BPFError) -> Void) -> BPFError? {
    do throws(BPFError) {
        try body()
    } catch {
        return error
    }
    Issue.record(comment ?? "expected a BPFError", sourceLocation: sourceLocation)
    return nil
}

@Suite struct PossibleCPUsTests {
    @Test func parsesKernelLists() {
        #expect(PossibleCPUs.parse("0-3,5\n") == [0, 1, 2, 3, 5])
        #expect(PossibleCPUs.parse("0") == [0])
        #expect(PossibleCPUs.parse("0-1\n") == [0, 1])
        #expect(PossibleCPUs.parse("0,2-3") == [0, 2, 3])
        for bad in ["", "\n", "a", "3-1", "0,0", "1,0", "0-", "-1", "0-99999999", "0-65536", "0,,1", " 0", "0-3,2"] {
            #expect(PossibleCPUs.parse(bad) == nil, "\(bad.debugDescription) should be refused")
        }
    }

    @Test func readsThisMachine() throws {
        let cpus = try PossibleCPUs.cpus()
        #expect(!cpus.isEmpty)
        #expect(try PossibleCPUs.count() == cpus.count)
        #expect(try PossibleCPUs.indexLimit() >= cpus.count)
        #expect(cpus.count >= Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

@Suite struct MapAccessTests {
    @Test func hashMap() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "test_hash")
        #expect(try map.lookup(UInt32(1), as: UInt64.self) == nil)
        try map.update(UInt32(1), UInt64(100))
        #expect(try map.lookup(UInt32(1), as: UInt64.self) == 100)
        #expect(try map.lookup(key: [1, 0, 0, 0]) == [100, 0, 0, 0, 0, 0, 0, 0])
        try map.update(key: [2, 0, 0, 0], value: [7, 0, 0, 0, 0, 0, 0, 0])
        #expect(try map.lookup(UInt32(2), as: UInt64.self) == 7)

        // Flags: noExist refuses an existing key, exist refuses a missing one.
        let exists = expectBPFError { () throws(BPFError) in try map.update(UInt32(1), UInt64(5), flags: .noExist) }
        #expect(exists?.errno == .fileExists)
        let missing = expectBPFError { () throws(BPFError) in try map.update(UInt32(9), UInt64(5), flags: .exist) }
        #expect(missing?.errno == .noSuchFileOrDirectory)
        try map.update(UInt32(1), UInt64(101), flags: .exist)
        #expect(try map.lookup(UInt32(1), as: UInt64.self) == 101)

        // Reusable buffer, closure, raw pointers.
        var buffer: [UInt8] = []
        #expect(try map.lookup(key: [2, 0, 0, 0], reusing: &buffer))
        #expect(buffer == [7, 0, 0, 0, 0, 0, 0, 0])
        #expect(try !map.lookup(key: [3, 0, 0, 0], reusing: &buffer))
        #expect(try map.withLookup(UInt32(1)) { $0.loadUnaligned(as: UInt64.self) } == 101)
        #expect(try map.withLookup(key: [8, 0, 0, 0]) { $0.count } == nil)
        var key: UInt32 = 2, value: UInt64 = 0
        #expect(try map.lookup(key: &key, into: &value))
        #expect(value == 7)
        value = 77
        try map.update(key: &key, value: &value)
        #expect(try map.lookup(UInt32(2), as: UInt64.self) == 77)

        // Full map.
        try map.update(UInt32(3), UInt64(3))
        try map.update(UInt32(4), UInt64(4))
        let full = expectBPFError { () throws(BPFError) in try map.update(UInt32(5), UInt64(5)) }
        #expect(full?.errno == .argListTooLong)
        #expect(full?.details.contains { $0.contains("full") } == true)

        // Delete, lookup-and-delete.
        #expect(try map.delete(UInt32(4)))
        #expect(try !map.delete(UInt32(4)))
        #expect(try map.delete(key: [3, 0, 0, 0]))
        #expect(try map.lookupAndDelete(UInt32(2), as: UInt64.self) == 77)
        #expect(try map.lookupAndDelete(UInt32(2), as: UInt64.self) == nil)
        #expect(try map.lookupAndDelete(key: [1, 0, 0, 0]) == [101, 0, 0, 0, 0, 0, 0, 0])
        #expect(try map.keys().collect().isEmpty)
    }

    @Test func wrongSizesAreNamed() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "test_sizes")
        let key = expectBPFError { () throws(BPFError) in _ = try map.lookup(key: [1, 2]) }
        #expect(key?.code == .invalidArgument)
        #expect(key?.message.contains("key of 2 bytes") == true)
        #expect(key?.message.contains("4 bytes") == true)
        let typedKey = expectBPFError { () throws(BPFError) in _ = try map.lookup(UInt64(1), as: UInt64.self) }
        #expect(typedKey?.code == .invalidArgument)
        #expect(typedKey?.message.contains("UInt64 is 8 bytes") == true)
        let typedValue = expectBPFError { () throws(BPFError) in try map.update(UInt32(1), UInt32(1)) }
        #expect(typedValue?.code == .invalidArgument)
        #expect(typedValue?.message.contains("value type UInt32 is 4 bytes, but the map's values are 8 bytes") == true)
        let value = expectBPFError { () throws(BPFError) in try map.update(key: [1, 0, 0, 0], value: [1]) }
        #expect(value?.message.contains("value of 1 bytes") == true)
        let keyless = expectBPFError { () throws(BPFError) in try map.push(UInt64(1)) }
        #expect(keyless?.code == .invalidArgument)
        let notPerCPU = expectBPFError { () throws(BPFError) in _ = try map.lookupPerCPU(key: [1, 0, 0, 0]) }
        #expect(notPerCPU?.message.contains("not per-CPU") == true)
    }

    @Test func arrayMapAndFreeze() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .array, keySize: 4, valueSize: 4, maxEntries: 8, name: "test_array")
        #expect(try map.lookup(UInt32(3), as: UInt32.self) == 0)
        #expect(try map.lookup(UInt32(8), as: UInt32.self) == nil)
        for index in UInt32(0)..<8 { try map.update(index, index * 10) }
        let entries = try map.entries(as: UInt32.self, UInt32.self).collect()
        #expect(entries.map(\.key) == Array(0..<8))
        #expect(entries.map(\.value) == (0..<8).map { $0 * 10 })
        let delete = expectBPFError { () throws(BPFError) in _ = try map.delete(UInt32(1)) }
        #expect(delete?.errno == .invalidArgument)
        try map.freeze()
        #expect(try map.lookup(UInt32(5), as: UInt32.self) == 50)
        let frozen = expectBPFError { () throws(BPFError) in try map.update(UInt32(5), UInt32(1)) }
        #expect(frozen?.errno == .notPermitted)
        #expect(frozen?.details.contains { $0.contains("frozen") } == true)
        let twice = expectBPFError { () throws(BPFError) in try map.freeze() }
        #expect(twice?.errno == .notPermitted)
    }

    @Test(arguments: [MapType.percpuHash, .percpuArray, .lruPercpuHash])
    func perCPUMaps(type: MapType) throws {
        try LiveObjectTestSupport.requireRoot()
        let cpus = try PossibleCPUs.count()
        let map = try Map.create(type: type, keySize: 4, valueSize: 4, maxEntries: 16, name: "test_percpu")
        #expect(map.perCPUValueStride == 8)
        #expect(try map.fullValueSize == 8 * cpus)
        let values = (0..<cpus).map { UInt32($0 * 3 + 1) }
        try map.updatePerCPU(UInt32(2), values)
        #expect(try map.lookupPerCPU(UInt32(2), as: UInt32.self) == values)
        let raw = try #require(try map.lookupPerCPU(key: [2, 0, 0, 0]))
        #expect(raw == values.map { withUnsafeBytes(of: $0) { Array($0) } })
        #expect(try map.lookup(key: [2, 0, 0, 0])?.count == 8 * cpus)
        try map.updatePerCPU(key: [3, 0, 0, 0], values: (0..<cpus).map { [UInt8($0), 0, 0, 9] })
        #expect(try map.lookupPerCPU(UInt32(3), as: UInt32.self) == (0..<cpus).map { UInt32($0) | 9 << 24 })
        let count = expectBPFError { () throws(BPFError) in try map.updatePerCPU(UInt32(2), [UInt32(1)] + values) }
        #expect(count?.message.contains("one per possible CPU (\(cpus))") == true)
        let single = expectBPFError { () throws(BPFError) in _ = try map.lookup(UInt32(2), as: UInt32.self) }
        #expect(single?.message.contains("per-CPU") == true)
        let entries = try map.entries().collect()
        #expect(entries.allSatisfy { $0.value.count == 8 * cpus })
        if type != .percpuArray {
            #expect(entries.count == 2)
            #expect(try map.delete(UInt32(2)))
            #expect(try map.lookupPerCPU(UInt32(2), as: UInt32.self) == nil)
        }
    }

    @Test func lruHashEvicts() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .lruHash, keySize: 4, valueSize: 4, maxEntries: 32, name: "test_lru")
        for key in UInt32(0)..<200 { try map.update(key, key) }
        let keys = try map.keys(as: UInt32.self).collect()
        #expect(!keys.isEmpty && keys.count <= 32)
        #expect(Set(keys).count == keys.count)
        #expect(try map.lookup(UInt32(199), as: UInt32.self) == 199)
    }

    @Test func queueAndStack() throws {
        try LiveObjectTestSupport.requireRoot()
        let queue = try Map.create(type: .queue, keySize: 0, valueSize: 4, maxEntries: 3, name: "test_queue")
        #expect(try queue.pop() == nil)
        #expect(try queue.peek() == nil)
        for value in UInt32(1)...3 { try queue.push(value) }
        let full = expectBPFError { () throws(BPFError) in try queue.push(UInt32(4)) }
        #expect(full?.errno == .argListTooLong)
        try queue.push(UInt32(4), flags: .exist) // drops the oldest (1)
        #expect(try queue.peek(as: UInt32.self) == 2)
        #expect(try queue.pop(as: UInt32.self) == 2)
        #expect(try queue.pop() == [3, 0, 0, 0])
        #expect(try queue.pop(as: UInt32.self) == 4)
        #expect(try queue.pop(as: UInt32.self) == nil)
        let keyed = expectBPFError { () throws(BPFError) in _ = try queue.lookup(key: []) }
        #expect(keyed?.message.contains("no keys") == true)

        let stack = try Map.create(type: .stack, keySize: 0, valueSize: 4, maxEntries: 3, name: "test_stack")
        try stack.push([1, 0, 0, 0])
        try stack.push(UInt32(2))
        #expect(try stack.peek(as: UInt32.self) == 2)
        #expect(try stack.pop(as: UInt32.self) == 2)
        #expect(try stack.pop(as: UInt32.self) == 1)
        #expect(try stack.pop() == nil)
    }

    @Test func bloomFilter() throws {
        try LiveObjectTestSupport.requireRoot()
        let bloom = try Map.create(type: .bloomFilter, keySize: 0, valueSize: 4, maxEntries: 64, name: "test_bloom")
        #expect(try !bloom.mayContain(UInt32(42)))
        try bloom.push(UInt32(42))
        try bloom.push([7, 0, 0, 0])
        #expect(try bloom.mayContain(UInt32(42)))
        #expect(try bloom.mayContain([7, 0, 0, 0]))
        let peek = expectBPFError { () throws(BPFError) in _ = try bloom.peek() }
        #expect(peek?.message.contains("mayContain") == true)
        let notBloom = try Map.create(type: .queue, keySize: 0, valueSize: 4, maxEntries: 1)
        let contains = expectBPFError { () throws(BPFError) in _ = try notBloom.mayContain(UInt32(1)) }
        #expect(contains?.message.contains("not a bloom filter") == true)
    }

    @Test func ringBufferRefusesLookups() throws {
        try LiveObjectTestSupport.requireRoot()
        let ring = try Map.create(type: .ringbuf, keySize: 0, valueSize: 0, maxEntries: UInt32(getpagesize()) * 4, name: "test_ring")
        for error in [
            expectBPFError { () throws(BPFError) in _ = try ring.lookup(key: []) },
            expectBPFError { () throws(BPFError) in _ = try ring.peek() },
            expectBPFError { () throws(BPFError) in try ring.push([]) },
        ] {
            #expect(error?.code == .unsupported)
            #expect(error?.message.contains("ring buffer reader") == true)
        }
        let keys = ring.keys()
        #expect(Array(keys).isEmpty)
        #expect(keys.error?.code == .unsupported)
    }

    @Test func batchOperations() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .hash, keySize: 4, valueSize: 8, maxEntries: 128, name: "test_batch")
        let keys = (UInt32(0)..<100).map { withUnsafeBytes(of: $0) { Array($0) } }
        let values = (UInt64(0)..<100).map { withUnsafeBytes(of: $0 * 2) { Array($0) } }
        #expect(try map.updateBatch(keys: keys, values: values) == 100)

        var cursor = MapBatchCursor()
        var seen: [[UInt8]: [UInt8]] = [:]
        var calls = 0
        while !cursor.isExhausted {
            for (key, value) in try map.lookupBatch(cursor: &cursor, maxCount: 7) {
                #expect(seen.updateValue(value, forKey: key) == nil, "key \(key) returned twice")
            }
            calls += 1
            try #require(calls < 100)
        }
        #expect(seen.count == 100)
        #expect(zip(keys, values).allSatisfy { seen[$0.0] == $0.1 })
        #expect(try map.lookupBatch(cursor: &cursor, maxCount: 7).isEmpty)

        // Missing keys are skipped: 50 exist among these 60.
        let doomed = Array(keys[0..<50]) + (UInt32(1000)..<1010).map { withUnsafeBytes(of: $0) { Array($0) } }
        #expect(try map.deleteBatch(keys: doomed.shuffled()) == 50)
        #expect(try map.keys().collect().count == 50)

        var drain = MapBatchCursor()
        var drained = 0
        while !drain.isExhausted { drained += try map.lookupAndDeleteBatch(cursor: &drain, maxCount: 16).count }
        #expect(drained == 50)
        #expect(try map.keys().collect().isEmpty)

        // Raw buffers: an array map read in one call, ENOENT at the end arriving with the elements.
        let array = try Map.create(type: .array, keySize: 4, valueSize: 4, maxEntries: 10, name: "test_barray")
        let arrayKeys = (UInt32(0)..<10).flatMap { withUnsafeBytes(of: $0) { Array($0) } }
        let arrayValues = (UInt32(0)..<10).flatMap { withUnsafeBytes(of: $0 + 5) { Array($0) } }
        let written = try arrayKeys.withUnsafeBytes { k in
            try arrayValues.withUnsafeBytes { v in try array.updateBatch(keys: k, values: v, count: 10) }
        }
        #expect(written == 10)
        var outKeys = [UInt32](repeating: 0, count: 16), outValues = [UInt32](repeating: 0, count: 16)
        var arrayCursor = MapBatchCursor()
        let count = try outKeys.withUnsafeMutableBytes { k in
            try outValues.withUnsafeMutableBytes { v in try array.lookupBatch(cursor: &arrayCursor, keys: k, values: v) }
        }
        #expect(count == 10)
        #expect(arrayCursor.isExhausted)
        #expect(Array(outValues[..<10]) == (0..<10).map { $0 + 5 })
        let arrayDelete = expectBPFError { () throws(BPFError) in _ = try array.deleteBatch(keys: [[0, 0, 0, 0]]) }
        #expect(arrayDelete?.command == .mapDeleteBatch)

        // A refused element stops an update batch and says how far it got.
        let small = try Map.create(type: .hash, keySize: 4, valueSize: 8, maxEntries: 3, name: "test_bsmall")
        let overflow = expectBPFError { () throws(BPFError) in _ = try small.updateBatch(keys: Array(keys[0..<5]), values: Array(values[0..<5])) }
        #expect(overflow?.details.contains("3 of 5 elements were written before the failure") == true)
    }

    @Test func perCPUBatch() throws {
        try LiveObjectTestSupport.requireRoot()
        let cpus = try PossibleCPUs.count()
        let map = try Map.create(type: .percpuHash, keySize: 4, valueSize: 4, maxEntries: 16, name: "test_bpercpu")
        let keys = (UInt32(0)..<5).map { withUnsafeBytes(of: $0) { Array($0) } }
        let values: [[UInt8]] = (0..<5).map { (key: Int) -> [UInt8] in
            (0..<cpus).flatMap { (cpu: Int) -> [UInt8] in [UInt8(key), UInt8(cpu), 0, 0, 0, 0, 0, 0] }
        }
        try map.updateBatch(keys: keys, values: values)
        var cursor = MapBatchCursor()
        let entries = try map.lookupBatch(cursor: &cursor, maxCount: 100)
        #expect(cursor.isExhausted)
        #expect(entries.count == 5)
        for (key, value) in entries {
            #expect(map.splitPerCPU(value) == (0..<cpus).map { [key[0], UInt8($0), 0, 0] })
        }
    }

    @Test func iterationWhileDeleting() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .hash, keySize: 4, valueSize: 4, maxEntries: 64, name: "test_iter")
        for key in UInt32(0)..<50 { try map.update(key, key + 1) }

        // Deleting every other key returned: every key is still seen exactly once.
        var seen: [UInt32] = []
        let keys = try map.keys(as: UInt32.self)
        for key in keys {
            seen.append(key)
            if key % 2 == 0 { #expect(try map.delete(key)) }
        }
        #expect(keys.error == nil)
        #expect(seen.sorted() == Array(0..<50))
        #expect(try map.keys(as: UInt32.self).collect().sorted() == (0..<50).filter { $0 % 2 == 1 })

        // Draining through entries: each entry once, with its value, and nothing left.
        var drained: [UInt32: UInt32] = [:]
        let entries = try map.entries(as: UInt32.self, UInt32.self)
        for (key, value) in entries {
            #expect(drained.updateValue(value, forKey: key) == nil)
            #expect(try map.delete(key))
        }
        #expect(entries.error == nil)
        #expect(drained.count == 25)
        #expect(drained.allSatisfy { $0.value == $0.key + 1 })
        #expect(try map.keys().collect().isEmpty)

        // Deleting the rest under the walk: it restarts but ends, and never loops for ever.
        for key in UInt32(0)..<50 { try map.update(key, key) }
        var steps = 0
        let walk = map.entries()
        for (key, _) in walk {
            steps += 1
            if steps == 1 {
                for other in UInt32(0)..<50 where other != key.withUnsafeBytes({ $0.load(as: UInt32.self) }) {
                    try map.delete(other)
                }
            }
        }
        #expect(steps <= 64)
        #expect(walk.error == nil)
    }

    @Test func infoPinAndOpen() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .hash, keySize: 4, valueSize: 8, maxEntries: 10, flags: 1, name: "test-info!x")
        #expect(map.name == "test-info!x")
        let info = try map.info()
        #expect(info.id != 0)
        #expect(info.type == .hash)
        #expect(info.keySize == 4 && info.valueSize == 8 && info.maxEntries == 10 && info.flags == 1)
        #expect(info.name == "test_info_x")
        #expect(info.btfID == 0)
        try map.update(UInt32(1), UInt64(11))

        let byID = try Map.open(id: info.id)
        #expect(try byID.info().id == info.id)
        #expect(byID.name == "test_info_x" && byID.type == .hash && byID.keySize == 4 && byID.valueSize == 8)
        #expect(byID.maxEntries == 10 && byID.flags == 1)
        #expect(try byID.lookup(UInt32(1), as: UInt64.self) == 11)

        let path = try LiveObjectTestSupport.pinPath("map")
        try map.pin(at: path)
        defer { unlink(path) }
        #expect(map.pinnedPath == path)
        #expect(FileManager.default.fileExists(atPath: path))
        let again = expectBPFError { () throws(BPFError) in try byID.pin(at: path) }
        #expect(again?.code == .pinning)
        #expect(again?.errno == .fileExists)
        let pinned = try Map.open(pinnedAt: path)
        #expect(pinned.pinnedPath == path)
        #expect(try pinned.info().id == info.id)
        try pinned.update(UInt32(2), UInt64(22))
        #expect(try map.lookup(UInt32(2), as: UInt64.self) == 22)

        try pinned.unpin()
        #expect(pinned.pinnedPath == nil)
        #expect(!FileManager.default.fileExists(atPath: path))
        try pinned.unpin() // not pinned: nothing to do
        let gone = expectBPFError { () throws(BPFError) in _ = try Map.open(pinnedAt: path) }
        #expect(gone?.code == .notFound)
        let noID = expectBPFError { () throws(BPFError) in _ = try Map.open(id: UInt32.max) }
        #expect(noID?.code == .notFound)

        // A pinned program is not a map.
        let program = try Program.load(type: .socketFilter, instructions: [instruction(0xb7), instruction(0x95)])
        let programPath = try LiveObjectTestSupport.pinPath("prog")
        try program.pin(at: programPath)
        defer { try? program.unpin() }
        let wrongKind = expectBPFError { () throws(BPFError) in _ = try Map.open(pinnedAt: programPath) }
        #expect(wrongKind?.message.contains("not a bpf-map") == true)
    }

    /// A map created with BTF (hand-built: `int` and `struct pair { int a; int b; }`), reopened by id so its
    /// BTF is read back from the kernel, decodes its keys and values.
    @Test func btfDecoding() throws {
        try LiveObjectTestSupport.requireRoot()
        let btf = try Self.loadPairBTF()
        func create(_ type: MapType, valueTypeID: UInt32, valueSize: UInt32) throws -> Map {
            var attr = cbpf_map_create_attr()
            attr.map_type = type.rawValue
            attr.key_size = 4
            attr.value_size = valueSize
            attr.max_entries = 4
            attr.btf_fd = UInt32(btf.rawValue)
            attr.btf_key_type_id = 1
            attr.btf_value_type_id = valueTypeID
            let fd = try OwnedFileDescriptor(adopting: Int32(try SystemCall.mapCreate(&attr).get()))
            return try Map.open(id: try Map(descriptor: fd, name: "btf", type: type, keySize: 4, valueSize: Int(valueSize),
                                            maxEntries: 4, flags: 0).info().id)
        }
        let map = try create(.hash, valueTypeID: 2, valueSize: 8)
        #expect(map.btf != nil && map.keyTypeID == 1 && map.valueTypeID == 2)
        try map.update(Int32(-1), (Int32(2), Int32(3)))
        let entries = try map.decodedEntries()
        #expect(entries == [DecodedMapEntry(key: .int(-1), value: .structure([BTFField(name: "a", value: .int(2)),
                                                                             BTFField(name: "b", value: .int(3))]))])
        #expect(try map.decodeValue([5, 0, 0, 0, 6, 0, 0, 0])[field: "b"] == .int(6))
        let short = expectBPFError { () throws(BPFError) in _ = try map.decodeValue([1, 2]) }
        #expect(short?.code == .invalidArgument)

        let cpus = try PossibleCPUs.count()
        let perCPU = try create(.percpuHash, valueTypeID: 1, valueSize: 4)
        try perCPU.updatePerCPU(Int32(7), (0..<cpus).map { Int32($0 * 10) })
        let decoded = try perCPU.decodedEntries()
        #expect(decoded == [DecodedMapEntry(key: .int(7), value: .array((0..<cpus).map { .int(Int64($0 * 10)) }))])
        #expect(try perCPU.decodeValue([9, 0, 0, 0]) == .int(9))

        // Without BTF, bytes.
        let plain = try Map.create(type: .hash, keySize: 2, valueSize: 1, maxEntries: 1)
        try plain.update(key: [1, 2], value: [3])
        #expect(try plain.decodedEntries() == [DecodedMapEntry(key: .bytes([1, 2]), value: .bytes([3]))])
    }

    /// Loads `[1] int` (signed, 4 bytes) and `[2] struct pair { int a; int b; }` into the kernel.
    static func loadPairBTF() throws -> OwnedFileDescriptor {
        let strings = Array("\0int\0pair\0a\0b\0".utf8)
        let types: [UInt32] = [
            1, 0x0100_0000, 4, 0x0100_0020,                  // [1] INT int, signed 32 bits
            5, 0x0400_0002, 8, 10, 1, 0, 12, 1, 32,          // [2] STRUCT pair { a at 0, b at 32 bits }
        ]
        var blob: [UInt8] = [0x9f, 0xeb, 1, 0]
        for word in [24, 0, UInt32(types.count * 4), UInt32(types.count * 4), UInt32(strings.count)] as [UInt32] {
            blob += withUnsafeBytes(of: word.littleEndian) { Array($0) }
        }
        for word in types { blob += withUnsafeBytes(of: word.littleEndian) { Array($0) } }
        blob += strings
        let fd = try blob.withUnsafeBytes { bytes in
            var attr = cbpf_btf_load_attr()
            attr.btf = UInt64(UInt(bitPattern: bytes.baseAddress))
            attr.btf_size = UInt32(bytes.count)
            return try SystemCall.btfLoad(&attr).get()
        }
        return try OwnedFileDescriptor(adopting: Int32(fd))
    }

    /// Everything a map or program holds closes when the last reference goes: no descriptor of this
    /// process refers to the objects afterwards, and the kernel has freed their ids.
    @Test func everythingCloses() throws {
        try LiveObjectTestSupport.requireRoot()
        var mapIDs: Set<UInt32> = [], programIDs: Set<UInt32> = []
        for _ in 0..<20 {
            try inScope {
                let maps = [
                    try Map.create(type: .hash, keySize: 4, valueSize: 4, maxEntries: 4),
                    try Map.create(type: .percpuArray, keySize: 4, valueSize: 4, maxEntries: 4),
                    try Map.create(type: .queue, keySize: 0, valueSize: 4, maxEntries: 4),
                    try Map.create(type: .ringbuf, keySize: 0, valueSize: 0, maxEntries: UInt32(getpagesize())),
                ]
                try maps[0].update(UInt32(1), UInt32(1))
                _ = try maps[0].entries().collect()
                var cursor = MapBatchCursor()
                _ = try maps[0].lookupBatch(cursor: &cursor, maxCount: 4)
                let reopened = try Map.open(id: try maps[0].info().id)
                let program = try Program.load(type: .xdp, instructions: [instruction(0xb7, imm: 7), instruction(0x95)])
                _ = try program.testRun(input: [UInt8](repeating: 0, count: 64))
                let programAgain = try Program.open(id: try program.info().id)
                let stats = try Program.enableStatistics()
                _ = stats
                for map in maps + [reopened] { mapIDs.insert(try map.info().id) }
                programIDs.insert(try programAgain.info().id)
                let open = LiveObjectTestSupport.openObjectIDs()
                #expect(Set(try maps.map { try $0.info().id }).isSubset(of: open.maps))
                #expect(open.programs.contains(try program.info().id))
                // Failures leave nothing behind either.
                _ = try? Program.load(type: .xdp, instructions: [instruction(0x95)], logSize: 4096)
                _ = try? Map.create(type: .hash, keySize: 0, valueSize: 4, maxEntries: 4)
            }
        }
        let open = LiveObjectTestSupport.openObjectIDs()
        #expect(open.maps.isDisjoint(with: mapIDs))
        #expect(open.programs.isDisjoint(with: programIDs))
        #expect(mapIDs.allSatisfy { !LiveObjectTestSupport.kernelHas(.map, id: $0) })
        #expect(programIDs.allSatisfy { !LiveObjectTestSupport.kernelHas(.program, id: $0) })
    }
}

/// Runs `body` in its own scope so that everything it creates is released when it returns.
func inScope<Result>(_ body: () throws -> Result) rethrows -> Result { try body() }
