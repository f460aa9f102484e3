#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes the C header of a graph: the ordering and emission passes of a BTF-to-C converter, with the
/// per-type state they share.
///
/// Pass one (``order(_:throughPointer:)``) walks from a type to everything it needs, in dependency order,
/// and queues the named definitions; pass two (``emit(_:container:)``) writes each queued type after
/// writing (or forward-declaring) what it uses. A dependency is *strong* when the used type must be
/// complete (embedded by value, or anonymous and so written inline) and *weak* when a forward declaration
/// does (reached through a pointer and named).
///
/// This file holds the state, record access and the driver; the passes, definitions, declarators, names,
/// output helpers and layout facts live in the `CHeaderEmitter+*.swift` and `CHeaderLayout.swift` files.
struct CHeaderEmitter: ~Copyable {
    // Per-type state bits.
    static let orderMask: UInt8 = 0x03
    static let ordering: UInt8 = 0x01
    static let ordered: UInt8 = 0x02
    static let emitMask: UInt8 = 0x0C
    static let emitting: UInt8 = 0x04
    static let emitted: UInt8 = 0x08
    static let forwardEmitted: UInt8 = 0x10
    static let nameResolved: UInt8 = 0x20
    static let referenced: UInt8 = 0x40

    let graph: TypeGraph
    /// Where the graph's own records start, and each own record's offset from there (the graph's table).
    let ownStart: UnsafeRawPointer
    let ownOffsets: [UInt32]
    let firstOwnID: UInt32
    /// For split BTF, the record of every base id (0 included); `nil` for a base graph.
    let baseRecords: UnsafeMutablePointer<UnsafeRawPointer>?
    /// A zeroed record standing for id 0 (void).
    let zeroRecord: UnsafeMutableRawPointer
    let typeCount: Int
    let swapped: Bool
    /// The pointer size the BTF was made for: from the size of `long`, else 8.
    var pointerSize: Int32 = 8

    var flags: [UInt8]
    /// The `___N` suffix given to a type's name, for the few names used more than once.
    var suffixes: [UInt32: UInt32] = [:]
    /// Cached alignments (`-1`: not computed yet).
    var alignments: [Int8]
    /// Occurrences of struct, union, enum (and int) names.
    var typeNames = NameCounter()
    /// Occurrences of typedef and enumerator names, which share C's ordinary identifier namespace.
    var identifierNames = NameCounter()
    var emitQueue: [UInt32] = []
    /// The declaration chains being written, innermost last: `declarationStack[0..<declarationDepth]`
    /// (the array only grows, so popping a frame is just lowering the depth).
    var declarationStack: [UInt32] = []
    var declarationDepth = 0
    var depth = 0
    var writer: DumpWriter

    init(graph: TypeGraph, sink: @escaping (UnsafeRawBufferPointer) -> Void) throws(BTFError) {
        self.graph = graph
        let count = graph.count
        typeCount = count
        zeroRecord = .allocate(byteCount: 16, alignment: 4)
        zeroRecord.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        ownStart = graph.data.base
        ownOffsets = graph.offsets
        firstOwnID = graph.firstOwnID
        writer = DumpWriter(sink: sink)
        flags = [UInt8](repeating: 0, count: count + 1)
        alignments = [Int8](repeating: -1, count: count + 1)
        swapped = graph.byteOrder != .host
        var orderMismatch = false
        if let base = graph.base {
            let table = UnsafeMutablePointer<UnsafeRawPointer>.allocate(capacity: Int(graph.firstOwnID))
            table[0] = UnsafeRawPointer(zeroRecord)
            var chain: TypeGraph? = base
            while let current = chain {
                let start = current.data.base
                let first = Int(current.firstOwnID)
                for (index, offset) in current.offsets.enumerated() where first + index < Int(graph.firstOwnID) {
                    table[first + index] = start + Int(offset)
                }
                if current.byteOrder != graph.byteOrder { orderMismatch = true }
                chain = current.base
            }
            baseRecords = table
        } else {
            baseRecords = nil
        }
        pointerSize = guessPointerSize()
        flags[0] = Self.ordered | Self.emitted
        if orderMismatch {
            throw BTFError(.sectionOutOfBounds, "split BTF and its base have different byte orders")
        }
    }

    deinit {
        baseRecords?.deallocate()
        zeroRecord.deallocate()
    }

    // MARK: - Record access

    @inline(__always)
    func load(_ pointer: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        let v = pointer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    /// The record of a type id the graph validated (id 0: a zeroed record).
    @inline(__always)
    func record(_ id: UInt32) -> UnsafeRawPointer {
        if id >= firstOwnID { return ownStart + Int(ownOffsets[Int(id &- firstOwnID)]) }
        if let baseRecords { return UnsafeRawPointer(baseRecords[Int(id)]) }
        return UnsafeRawPointer(zeroRecord)
    }
    /// The raw kind of a type id.
    @inline(__always) func kind(_ id: UInt32) -> UInt32 { (load(record(id), 4) >> 24) & 0x1F }

    /// Bytes of the string at `offset` (empty when out of range, which the graph's validation excludes).
    @inline(__always)
    func rawName(_ offset: UInt32) -> CName {
        if offset == 0 { return .empty }
        guard let (pointer, length) = graph.stringPointer(at: offset) else { return .empty }
        return CName(pointer: pointer, length: length, suffix: 0)
    }

    /// libbpf's guess: the size of the first integer named like `long` (4 or 8 bytes), else 8.
    func guessPointerSize() -> Int32 {
        let aliases: [StaticString] = [
            "long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
            "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
            "int long unsigned",
        ]
        guard typeCount > 0 else { return 8 }
        for id in 1...UInt32(typeCount) {
            let r = record(id)
            guard (load(r, 4) >> 24) & 0x1F == RawKind.int else { continue }
            let size = load(r, 8)
            guard size == 4 || size == 8, let (pointer, length) = graph.stringPointer(at: load(r, 0)) else { continue }
            for alias in aliases where alias.utf8CodeUnitCount == length
                && memcmp(pointer, alias.utf8Start, length) == 0 {
                return Int32(size)
            }
        }
        return 8
    }

    // MARK: - Errors and nesting

    func loop(_ id: UInt32, _ what: String) -> BTFError {
        BTFError(.resolutionTooDeep, "type \(id) cannot be written in C: \(what)", typeID: id)
    }

    @inline(__always)
    mutating func enter(_ id: UInt32) throws(BTFError) {
        depth += 1
        if depth > TypeGraph.cHeaderNestingLimit {
            throw loop(id, "types nest more than \(TypeGraph.cHeaderNestingLimit) levels deep (a reference loop?)")
        }
    }

    // MARK: - Driver

    /// The whole header: guard, attribute push, every type in id order, attribute pop.
    mutating func writeHeader() throws(BTFError) {
        writer.literal("""
            #ifndef __VMLINUX_H__
            #define __VMLINUX_H__

            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
            #endif


            """)
        markReferenced()
        if typeCount > 0 {
            for id in 1...UInt32(typeCount) {
                try dump(id)
            }
        }
        writer.literal("""
            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute pop
            #endif

            #endif /* __VMLINUX_H__ */

            """)
    }

    /// Writes one type and whatever it needs that was not written yet.
    mutating func dump(_ id: UInt32) throws(BTFError) {
        emitQueue.removeAll(keepingCapacity: true)
        _ = try order(id, throughPointer: false)
        var index = 0
        while index < emitQueue.count {
            try emit(emitQueue[index], container: 0)
            index += 1
        }
    }

    /// Marks every type some other type refers to: an anonymous enum nobody refers to is a top-level
    /// declaration of constants, one that is referred to is written inline where it is used.
    /// Also sizes the name counters for the names that may be counted.
    mutating func markReferenced() {
        guard typeCount > 0 else { return }
        var typeNameCount = 0
        var identifierCount = 0
        for id in 1...UInt32(typeCount) {
            let r = record(id)
            let info = load(r, 4)
            let vlen = Int(info & 0xFFFF)
            let kind = (info >> 24) & 0x1F
            switch kind {
            case RawKind.int, RawKind.struct, RawKind.union, RawKind.enum, RawKind.enum64:
                typeNameCount += 1
            case RawKind.typedef:
                identifierCount += 1
            default:
                break
            }
            if kind == RawKind.enum || kind == RawKind.enum64 { identifierCount += vlen }
            switch kind {
            case RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.pointer, RawKind.typedef,
                 RawKind.function, RawKind.variable, RawKind.declTag, RawKind.typeTag:
                flags[Int(load(r, 8))] |= Self.referenced
            case RawKind.array:
                flags[Int(load(r, 16))] |= Self.referenced
                flags[Int(load(r, 12))] |= Self.referenced
            case RawKind.struct, RawKind.union:
                for i in 0..<vlen { flags[Int(load(r, 12 + i * 12 + 4))] |= Self.referenced }
            case RawKind.functionProto:
                for i in 0..<vlen { flags[Int(load(r, 12 + i * 8 + 4))] |= Self.referenced }
            case RawKind.dataSection:
                for i in 0..<vlen { flags[Int(load(r, 12 + i * 12))] |= Self.referenced }
            default:
                break
            }
        }
        typeNames.reserve(typeNameCount)
        identifierNames.reserve(identifierCount)
    }
}

extension CHeaderEmitter {
    /// Raw BTF kind numbers, compared against the `info` word without building a ``BTFKind``.
    enum RawKind {
        static let int: UInt32 = 1
        static let pointer: UInt32 = 2
        static let array: UInt32 = 3
        static let `struct`: UInt32 = 4
        static let union: UInt32 = 5
        static let `enum`: UInt32 = 6
        static let forward: UInt32 = 7
        static let typedef: UInt32 = 8
        static let volatile: UInt32 = 9
        static let const: UInt32 = 10
        static let restrict: UInt32 = 11
        static let function: UInt32 = 12
        static let functionProto: UInt32 = 13
        static let variable: UInt32 = 14
        static let dataSection: UInt32 = 15
        static let float: UInt32 = 16
        static let declTag: UInt32 = 17
        static let typeTag: UInt32 = 18
        static let enum64: UInt32 = 19
    }
}
