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

    // MARK: - Pass one: ordering

    /// Queues the named definitions `id` depends on, then `id` itself when it is a definition; returns
    /// whether the link that led here is strong (the type must be complete where it is used).
    mutating func order(_ id: UInt32, throughPointer: Bool) throws(BTFError) -> Bool {
        let state = flags[Int(id)] & Self.orderMask
        if state == Self.ordered { return true }
        let r = record(id)
        let info = load(r, 4)
        let kind = (info >> 24) & 0x1F
        let named = load(r, 0) != 0
        if state == Self.ordering {
            // A loop is fine when it goes through a pointer to a named struct: a forward declaration
            // breaks it.
            if (kind == RawKind.struct || kind == RawKind.union) && throughPointer && named { return false }
            throw loop(id, "it contains itself (an unsatisfiable type cycle)")
        }
        try enter(id)
        defer { depth -= 1 }
        switch kind {
        case RawKind.int, RawKind.float:
            setOrder(id, Self.ordered)
            return false
        case RawKind.pointer:
            let strong = try order(load(r, 8), throughPointer: true)
            setOrder(id, Self.ordered)
            return strong
        case RawKind.array:
            return try order(load(r, 12), throughPointer: false)
        case RawKind.struct, RawKind.union:
            // Only an embedded or anonymous (inline) struct needs its members' definitions first.
            if throughPointer && named { return false }
            setOrder(id, Self.ordering)
            let vlen = Int(info & 0xFFFF)
            for i in 0..<vlen {
                _ = try order(load(r, 12 + i * 12 + 4), throughPointer: false)
            }
            if named { emitQueue.append(id) }
            setOrder(id, Self.ordered)
            return true
        case RawKind.enum, RawKind.enum64, RawKind.forward:
            if named || flags[Int(id)] & Self.referenced == 0 { emitQueue.append(id) }
            setOrder(id, Self.ordered)
            return true
        case RawKind.typedef:
            let strong = try order(load(r, 8), throughPointer: throughPointer)
            if throughPointer && !strong { return false }
            emitQueue.append(id)
            setOrder(id, Self.ordered)
            return true
        case RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.typeTag:
            return try order(load(r, 8), throughPointer: throughPointer)
        case RawKind.functionProto:
            var strong = try order(load(r, 8), throughPointer: throughPointer)
            let vlen = Int(info & 0xFFFF)
            for i in 0..<vlen {
                if try order(load(r, 12 + i * 8 + 4), throughPointer: throughPointer) { strong = true }
            }
            return strong
        case RawKind.function, RawKind.variable, RawKind.dataSection, RawKind.declTag:
            setOrder(id, Self.ordered)
            return false
        default:
            throw loop(id, "kind \(kind) has no C spelling")
        }
    }

    @inline(__always)
    mutating func setOrder(_ id: UInt32, _ state: UInt8) {
        flags[Int(id)] = flags[Int(id)] & ~Self.orderMask | state
    }

    @inline(__always)
    mutating func setEmit(_ id: UInt32, _ state: UInt8) {
        flags[Int(id)] = flags[Int(id)] & ~Self.emitMask | state
    }

    // MARK: - Pass two: emission

    /// Writes `id` if it is a top-level definition (`container` 0), after what it uses; inside a
    /// definition (`container` is the enclosing named struct), writes only what must come before it:
    /// forward declarations of named structs and the definitions of typedefs.
    mutating func emit(_ id: UInt32, container: UInt32) throws(BTFError) {
        let state = flags[Int(id)]
        if state & Self.emitMask == Self.emitted { return }
        let r = record(id)
        let info = load(r, 4)
        let kind = (info >> 24) & 0x1F
        let named = load(r, 0) != 0
        let topLevel = container == 0

        if state & Self.emitMask == Self.emitting {
            // Reached again while being written: a forward declaration (or, for a typedef, its definition,
            // usable through pointers) resolves the loop.
            if state & Self.forwardEmitted != 0 { return }
            switch kind {
            case RawKind.struct, RawKind.union:
                if id == container || !named { return }
                writeStructForward(id, r)
                writer.literal(";\n\n")
                flags[Int(id)] |= Self.forwardEmitted
            case RawKind.typedef:
                if !isBuiltinVaList(r) {
                    try writeTypedef(id, r, level: 0)
                    writer.literal(";\n\n")
                }
                flags[Int(id)] |= Self.forwardEmitted
            default:
                break
            }
            return
        }

        try enter(id)
        defer { depth -= 1 }
        switch kind {
        case RawKind.int:
            writeMissingAlias(id)
            setEmit(id, Self.emitted)
        case RawKind.enum, RawKind.enum64:
            if topLevel {
                writeEnumDefinition(id, r, level: 0)
                writer.literal(";\n\n")
            }
            setEmit(id, Self.emitted)
        case RawKind.pointer, RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.typeTag:
            try emit(load(r, 8), container: container)
        case RawKind.array:
            try emit(load(r, 12), container: container)
        case RawKind.forward:
            writeForward(id, r)
            writer.literal(";\n\n")
            setEmit(id, Self.emitted)
        case RawKind.typedef:
            setEmit(id, Self.emitting)
            try emit(load(r, 8), container: id)
            if flags[Int(id)] & Self.forwardEmitted == 0 && !isBuiltinVaList(r) {
                try writeTypedef(id, r, level: 0)
                writer.literal(";\n\n")
            }
            setEmit(id, Self.emitted)
        case RawKind.struct, RawKind.union:
            setEmit(id, Self.emitting)
            if topLevel || !named {
                // The members will be written out: what they use must be declared first.
                let inner = named ? id : container
                let vlen = Int(info & 0xFFFF)
                for i in 0..<vlen {
                    try emit(load(r, 12 + i * 12 + 4), container: inner)
                }
            } else if flags[Int(id)] & Self.forwardEmitted == 0 && id != container {
                writeStructForward(id, r)
                writer.literal(";\n\n")
                flags[Int(id)] |= Self.forwardEmitted
            }
            if topLevel {
                try writeStructDefinition(id, r, level: 0)
                writer.literal(";\n\n")
                setEmit(id, Self.emitted)
            } else {
                setEmit(id, 0)
            }
        case RawKind.functionProto:
            try emit(load(r, 8), container: container)
            let vlen = Int(info & 0xFFFF)
            for i in 0..<vlen {
                try emit(load(r, 12 + i * 8 + 4), container: container)
            }
        default:
            break
        }
    }

    /// `__builtin_va_list` is the compiler's own: a typedef of it is not written.
    func isBuiltinVaList(_ r: UnsafeRawPointer) -> Bool {
        let offset = load(r, 0)
        return offset != 0 && rawName(offset).equals("__builtin_va_list")
    }

    // MARK: - Names

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

    /// Writes a name; a suffixed name is cut at 255 bytes as libbpf's fixed buffer cuts it.
    mutating func write(_ name: CName) {
        guard let pointer = name.pointer, name.length > 0 else { return }
        if name.suffix == 0 {
            writer.bytes(pointer, name.length)
            return
        }
        let digits = Self.decimalLength(UInt64(name.suffix))
        if name.length + 3 + digits <= 255 {
            writer.bytes(pointer, name.length)
            writer.literal("___")
            writer.decimal(name.suffix)
            return
        }
        var spelled = [UInt8](UnsafeRawBufferPointer(start: pointer, count: name.length))
        spelled += [0x5F, 0x5F, 0x5F]
        spelled += Array(String(name.suffix).utf8)
        spelled.withUnsafeBytes { writer.bytes($0.baseAddress!, min(255, $0.count)) }
    }

    /// Writes `count` tabs (at most 13, libbpf's deepest indent).
    @inline(__always)
    mutating func indent(_ level: Int) {
        let n = min(level, 13)
        if n > 0 { writer.literal("\t\t\t\t\t\t\t\t\t\t\t\t\t", prefix: n) }
    }

    // MARK: - Definitions

    /// GCC's ARM SIMD `__PolyN_t` base types have no C spelling: they are typedef'd to plain integers.
    mutating func writeMissingAlias(_ id: UInt32) {
        let name = typeName(id)
        guard name.suffix == 0, name.length >= 9, let pointer = name.pointer,
              memcmp(pointer, "__Poly", 6) == 0 else { return }
        let target: StaticString
        if name.equals("__Poly8_t") {
            target = "unsigned char"
        } else if name.equals("__Poly16_t") {
            target = "unsigned short"
        } else if name.equals("__Poly64_t") {
            target = "unsigned long long"
        } else if name.equals("__Poly128_t") {
            target = "unsigned __int128"
        } else {
            return
        }
        writer.literal("typedef ")
        writer.literal(target)
        writer.byte(0x20)
        write(name)
        writer.literal(";\n\n")
    }

    /// `struct name` / `union name`.
    mutating func writeStructForward(_ id: UInt32, _ r: UnsafeRawPointer) {
        writer.literal((load(r, 4) >> 24) & 0x1F == RawKind.struct ? "struct" : "union")
        if load(r, 0) != 0 { writer.byte(0x20) }
        write(typeName(id))
    }

    /// `struct name` / `union name` for a FWD.
    mutating func writeForward(_ id: UInt32, _ r: UnsafeRawPointer) {
        let name = typeName(id)
        writer.literal(load(r, 4) >> 31 != 0 ? "union " : "struct ")
        write(name)
    }

    /// `typedef <declaration of name>`.
    mutating func writeTypedef(_ id: UInt32, _ r: UnsafeRawPointer, level: Int) throws(BTFError) {
        let name = identifierName(id)
        let target = load(r, 8)
        if target == 0 && name.equals("__gnuc_va_list") {
            // Old GCC wrote this typedef to void; the compiler builtin is what it means.
            writer.literal("typedef __builtin_va_list __gnuc_va_list")
            return
        }
        writer.literal("typedef ")
        try writeDeclaration(target, name: name, level: level)
    }

    /// `enum name { A = 1, ... }` (just `enum name` without enumerators).
    mutating func writeEnumDefinition(_ id: UInt32, _ r: UnsafeRawPointer, level: Int) {
        let info = load(r, 4)
        let vlen = Int(info & 0xFFFF)
        let name = typeName(id)
        writer.literal("enum")
        if load(r, 0) != 0 { writer.byte(0x20) }
        write(name)
        if vlen == 0 { return }
        writer.literal(" {")
        let isSigned = info >> 31 != 0
        let is64 = (info >> 24) & 0x1F == RawKind.enum64
        let stride = is64 ? 12 : 8
        for i in 0..<vlen {
            let e = 12 + i * stride
            let valueName = rawName(load(r, e))
            let occurrences = identifierNames.increment(valueName)
            writer.byte(0x0A)
            indent(level + 1)
            write(valueName)
            if occurrences > 1 {
                writer.literal("___")
                writer.decimal(UInt64(occurrences))
            }
            writer.literal(" = ")
            if is64 {
                let value = UInt64(load(r, e + 8)) << 32 | UInt64(load(r, e + 4))
                if isSigned {
                    writer.signedDecimal(Int64(bitPattern: value))
                    writer.literal("LL,")
                } else {
                    writer.decimal(value)
                    writer.literal("ULL,")
                }
            } else {
                let value = load(r, e + 4)
                if isSigned {
                    writer.signedDecimal(Int64(Int32(bitPattern: value)))
                } else {
                    writer.decimal(value)
                }
                writer.byte(0x2C)
            }
        }
        writer.byte(0x0A)
        indent(level)
        writer.byte(0x7D)
    }

    /// `struct name { members }`, with explicit padding where the natural layout would differ and
    /// `__attribute__((packed))` when the members are not naturally aligned.
    mutating func writeStructDefinition(_ id: UInt32, _ r: UnsafeRawPointer, level: Int) throws(BTFError) {
        let info = load(r, 4)
        let vlen = Int(info & 0xFFFF)
        let isStruct = (info >> 24) & 0x1F == RawKind.struct
        let bitfields = info >> 31 != 0
        let size = load(r, 8)
        let structAlignment = try alignment(of: id)
        let packed = isStruct ? try isPacked(r) : false

        writer.literal(isStruct ? "struct" : "union")
        if load(r, 0) != 0 { writer.byte(0x20) }
        write(typeName(id))
        writer.literal(" {")

        var offset: Int32 = 0
        var previousWasBitfield = false
        for i in 0..<vlen {
            let m = 12 + i * 12
            let memberName = rawName(load(r, m))
            let memberType = load(r, m + 4)
            let packedOffset = load(r, m + 8)
            var bitSize = Int32(bitfields ? packedOffset >> 24 : 0)
            let bitOffset = Int32(truncatingIfNeeded: bitfields ? packedOffset & 0xFF_FFFF : packedOffset)
            let memberAlignment = packed ? 1 : try alignment(of: memberType)
            let inBitfield = previousWasBitfield && bitSize != 0
            writePadding(from: offset, to: bitOffset, nextAlignment: memberAlignment, inBitfield: inBitfield,
                         level: level + 1)
            writer.byte(0x0A)
            indent(level + 1)
            try writeDeclaration(memberType, name: memberName, level: level + 1)
            if bitSize != 0 {
                writer.literal(": ")
                writer.decimal(UInt64(bitSize))
                offset = bitOffset &+ bitSize
                previousWasBitfield = true
            } else {
                bitSize = Int32(truncatingIfNeeded: max(0, resolvedSize(memberType)))
                offset = bitOffset &+ bitSize &* 8
                previousWasBitfield = false
            }
            writer.byte(0x3B)
        }
        if isStruct {
            writePadding(from: offset, to: Int32(truncatingIfNeeded: size &* 8), nextAlignment: structAlignment,
                         inBitfield: false, level: level + 1)
        }
        if vlen != 0 || size != 0 {
            writer.byte(0x0A)
            indent(level)
        }
        writer.byte(0x7D)
        if packed { writer.literal(" __attribute__((packed))") }
    }

    // MARK: - Declarations

    /// Writes the declaration of `name` with type `id` (`const char *name`, `int (*name)(void)`,
    /// `struct { ... } name[4]`): the chain of pointers, modifiers, arrays and prototypes down to a named
    /// or inline type, turned inside out into C's declarator syntax.
    mutating func writeDeclaration(_ id: UInt32, name: CName, level: Int) throws(BTFError) {
        try enter(id)
        defer { depth -= 1 }
        let start = declarationDepth
        var current = id
        var steps = 0
        chain: while true {
            if declarationDepth == declarationStack.count {
                declarationStack.append(current)
            } else {
                declarationStack[declarationDepth] = current
            }
            declarationDepth += 1
            if current == 0 { break }
            steps += 1
            if steps > TypeGraph.cHeaderNestingLimit {
                declarationDepth = start
                throw loop(id, "its declaration never reaches a named type (a reference loop)")
            }
            let r = record(current)
            switch (load(r, 4) >> 24) & 0x1F {
            case RawKind.pointer, RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.functionProto,
                 RawKind.typeTag:
                current = load(r, 8)
            case RawKind.array:
                current = load(r, 12)
            default:
                break chain
            }
        }
        var view = DeclarationView(start: start, count: declarationDepth - start)
        do throws(BTFError) {
            try writeChain(&view, name: name, level: level)
        } catch {
            declarationDepth = start
            throw error
        }
        declarationDepth = start
    }

    /// A frame of the shared declaration stack: `count` ids from `start`, innermost on top.
    struct DeclarationView {
        var start: Int
        var count: Int
    }

    @inline(__always)
    func top(_ view: DeclarationView) -> UInt32 { declarationStack[view.start + view.count - 1] }

    /// Writes `const `/`volatile `/`restrict ` for the modifiers directly above the base type.
    mutating func writeLeadingModifiers(_ view: inout DeclarationView) {
        while view.count > 0 {
            switch kind(top(view)) {
            case RawKind.volatile: writer.literal("volatile ")
            case RawKind.const: writer.literal("const ")
            case RawKind.restrict: writer.literal("restrict ")
            default: return
            }
            view.count -= 1
        }
    }

    /// Drops the modifiers (and type tags) on top: C has no spelling for a const array or a volatile
    /// function (GCC emits them).
    mutating func dropModifiers(_ view: inout DeclarationView) {
        while view.count > 0 {
            switch kind(top(view)) {
            case RawKind.volatile, RawKind.const, RawKind.restrict, RawKind.typeTag: view.count -= 1
            default: return
            }
        }
    }

    @inline(__always)
    mutating func writeDeclaredName(_ name: CName, afterPointer: Bool) {
        if !name.isEmpty && !afterPointer { writer.byte(0x20) }
        write(name)
    }

    /// Writes the declaration chain in `view` (consumed from the top, the base type first).
    mutating func writeChain(_ view: inout DeclarationView, name: CName, level: Int) throws(BTFError) {
        try enter(0)
        defer { depth -= 1 }
        // Pointer stars stick together (`int **p`) and to a parenthesized name (`(*f)`).
        var afterPointer = true
        while view.count > 0 {
            let id = top(view)
            view.count -= 1
            if id == 0 {
                writeLeadingModifiers(&view)
                writer.literal("void")
                afterPointer = false
                continue
            }
            let r = record(id)
            let info = load(r, 4)
            let kind = (info >> 24) & 0x1F
            switch kind {
            case RawKind.int, RawKind.float:
                writeLeadingModifiers(&view)
                write(rawName(load(r, 0)))
            case RawKind.struct, RawKind.union:
                writeLeadingModifiers(&view)
                if load(r, 0) == 0 {
                    try writeStructDefinition(id, r, level: level)
                } else {
                    writeStructForward(id, r)
                }
            case RawKind.enum, RawKind.enum64:
                writeLeadingModifiers(&view)
                if load(r, 0) == 0 {
                    writeEnumDefinition(id, r, level: level)
                } else {
                    writer.literal("enum ")
                    write(typeName(id))
                }
            case RawKind.forward:
                writeLeadingModifiers(&view)
                writeForward(id, r)
            case RawKind.typedef:
                writeLeadingModifiers(&view)
                write(identifierName(id))
            case RawKind.pointer:
                if afterPointer { writer.byte(0x2A) } else { writer.literal(" *") }
            case RawKind.volatile:
                writer.literal(" volatile")
            case RawKind.const:
                writer.literal(" const")
            case RawKind.restrict:
                writer.literal(" restrict")
            case RawKind.typeTag:
                writeLeadingModifiers(&view)
                writer.literal(" __attribute__((btf_type_tag(\"")
                write(rawName(load(r, 0)))
                writer.literal("\")))")
            case RawKind.array:
                let elements = load(r, 12 + 8)
                dropModifiers(&view)
                if view.count == 0 {
                    writeDeclaredName(name, afterPointer: afterPointer)
                    writeArrayBound(elements)
                    return
                }
                // Arrays of arrays chain their bounds; an array of pointers or functions needs parentheses.
                let multidimensional = self.kind(top(view)) == RawKind.array
                if !name.isEmpty && !afterPointer { writer.byte(0x20) }
                if !multidimensional { writer.byte(0x28) }
                try writeChain(&view, name: name, level: level)
                if !multidimensional { writer.byte(0x29) }
                writeArrayBound(elements)
                return
            case RawKind.functionProto:
                dropModifiers(&view)
                if view.count > 0 {
                    writer.literal(" (")
                    try writeChain(&view, name: name, level: level)
                    writer.byte(0x29)
                } else {
                    writeDeclaredName(name, afterPointer: afterPointer)
                }
                writer.byte(0x28)
                let vlen = Int(info & 0xFFFF)
                // No parameters, or clang's single void parameter: `(void)`.
                if vlen == 0 || (vlen == 1 && load(r, 12 + 4) == 0) {
                    writer.literal("void)")
                    return
                }
                for i in 0..<vlen {
                    if i > 0 { writer.literal(", ") }
                    let p = 12 + i * 8
                    let parameterType = load(r, p + 4)
                    // A last parameter of type void is `...`.
                    if i == vlen - 1 && parameterType == 0 {
                        writer.literal("...")
                        break
                    }
                    try writeDeclaration(parameterType, name: rawName(load(r, p)), level: level)
                }
                writer.byte(0x29)
                return
            default:
                // Functions, variables, sections and declaration tags have no place in a declaration.
                return
            }
            afterPointer = kind == RawKind.pointer
        }
        writeDeclaredName(name, afterPointer: afterPointer)
    }

    @inline(__always)
    mutating func writeArrayBound(_ elements: UInt32) {
        writer.byte(0x5B)
        writer.decimal(elements)
        writer.byte(0x5D)
    }
}

extension DumpWriter {
    /// The first `prefix` bytes of a literal.
    @inline(__always)
    mutating func literal(_ text: StaticString, prefix: Int) {
        let n = min(prefix, text.utf8CodeUnitCount)
        reserve(n)
        memcpy(buffer + count, text.utf8Start, n)
        count += n
    }
}

extension CHeaderEmitter {
    /// Raw BTF kind     numbers, compared against the `info` word without building a ``BTFKind``.
    enum RawKind {
        static let void: UInt32 = 0
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

    /// Number of decimal digits of `value`.
    @inline(__always)
    static func decimalLength(_ value: UInt64) -> Int {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        return digits
    }
}
