/// The two passes: ordering (which named definitions a type needs, and in what order) and emission
/// (writing each after, or forward-declaring, what it uses).
extension CHeaderEmitter {
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
}
