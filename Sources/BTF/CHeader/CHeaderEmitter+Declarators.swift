/// Declarators: a type chain of pointers, modifiers, arrays and function prototypes written around a
/// name in C syntax.
extension CHeaderEmitter {
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
