extension BTFImage {
    /// The name of the INT that replaced ENUM64s' members point to (libbpf's name, so that a kernel log
    /// reads the same).
    public static let enum64PlaceholderName = "enum64_placeholder"

    /// Rewrites, in place, the kinds a kernel lacks into kinds it knows, as libbpf's
    /// `bpf_object__sanitize_btf` does; every type id stays valid.
    ///
    /// - Without ``BTFKernelSupport/dataSections``: a VAR becomes a one-byte INT keeping its name; a
    ///   DATASEC a STRUCT of the same size whose members are its variables (name, type id, bit offset),
    ///   and its name has `.` and `?` replaced by `_`.
    /// - Without ``BTFKernelSupport/questionMarkDataSections``: a DATASEC name's leading `?` becomes `_`.
    /// - Without ``BTFKernelSupport/functions``: a FUNC_PROTO becomes a 4-byte ENUM whose enumerators are
    ///   its parameters; a FUNC a TYPEDEF of it.
    /// - Without ``BTFKernelSupport/globalFunctions``: every FUNC becomes static.
    /// - Without ``BTFKernelSupport/floats``: a FLOAT becomes an anonymous empty STRUCT of its size.
    /// - Without ``BTFKernelSupport/declTags``: a DECL_TAG becomes a one-byte INT keeping its name.
    /// - Without ``BTFKernelSupport/typeTags``: a TYPE_TAG becomes an anonymous CONST of its type.
    /// - Without ``BTFKernelSupport/enum64``: an ENUM loses its kind flag (signedness); an ENUM64 becomes a
    ///   UNION of its size whose members (the enumerator names) are all an INT named
    ///   ``enum64PlaceholderName``, appended once.
    ///
    /// - Throws: ``BTFError`` only when the placeholder INT cannot be appended (BTF size limits).
    public mutating func sanitize(for support: BTFKernelSupport) throws(BTFError) {
        if support.isComplete { return }
        var placeholder: UInt32 = 0
        // `starts` may grow (the placeholder); it is an INT and needs nothing.
        var index = 0
        while index < starts.count {
            defer { index += 1 }
            let s = starts[index]
            let info = words[s + 1]
            let kind = Self.kind(ofInfo: info)
            let vlen = info & 0xFFFF
            switch kind {
            case .variable where !support.dataSections, .declTag where !support.declTags:
                // One byte: a larger INT could fail validation where the variable was smaller.
                words[s + 1] = Self.info(.int)
                words[s + 2] = 1
                words[s + 3] = 8  // encoding 0, bit offset 0, 8 bits
            case .dataSection where !support.dataSections:
                words[s] = try underscoreName(at: words[s], onlyLeadingQuestionMark: false)
                words[s + 1] = Self.info(.struct, vlen: vlen)
                for j in 0..<Int(vlen) {
                    // A secinfo (type, offset, size) becomes a member (name, type, bit offset).
                    let e = s + 3 + 3 * j
                    let type = words[e]
                    let offset = words[e + 1]
                    words[e + 2] = offset &* 8
                    words[e + 1] = type
                    words[e] = (try? nameOffset(of: type)) ?? 0
                }
            case .dataSection where !support.questionMarkDataSections:
                words[s] = try underscoreName(at: words[s], onlyLeadingQuestionMark: true)
            case .functionProto where !support.functions:
                // Parameters (name, type) read as enumerators (name, value).
                words[s + 1] = Self.info(.enum, vlen: vlen)
                words[s + 2] = 4  // the kernel requires a 4-byte enum
            case .function where !support.functions:
                words[s + 1] = Self.info(.typedef)
            case .function where !support.globalFunctions:
                words[s + 1] = Self.info(.function)  // static linkage, whatever it was
            case .float where !support.floats:
                words[s] = 0  // `float` is no valid struct name
                words[s + 1] = Self.info(.struct)
            case .typeTag where !support.typeTags:
                words[s] = 0
                words[s + 1] = Self.info(.const)
            case .enum where !support.enum64:
                words[s + 1] = Self.info(.enum, vlen: vlen)
            case .enum64 where !support.enum64:
                if placeholder == 0 {
                    placeholder = try addInt(named: Self.enum64PlaceholderName, size: 1)
                }
                words[s + 1] = Self.info(.union, vlen: vlen)
                for j in 0..<Int(vlen) {
                    // (name, low 32 bits, high 32 bits) becomes (name, placeholder, bit offset 0).
                    let e = s + 3 + 3 * j
                    words[e + 1] = placeholder
                    words[e + 2] = 0
                }
            default:
                break
            }
        }
    }
}

extension BTFImage {
    /// The features this image asks of a kernel, as a feature set: a feature is in it (`true`) when the
    /// image has a type that ``sanitize(for:)`` would rewrite on a kernel without it. A loader need only
    /// probe these (each probe is a `BPF_BTF_LOAD`); the others change nothing and may be taken as
    /// supported.
    public var neededFeatures: BTFKernelSupport {
        var needed = BTFKernelSupport.none
        for s in starts {
            let info = words[s + 1]
            switch Self.kind(ofInfo: info) {
            case .variable: needed.dataSections = true
            case .dataSection:
                needed.dataSections = true
                if nameStartsWithQuestionMark(words[s]) { needed.questionMarkDataSections = true }
            case .functionProto: needed.functions = true
            case .function:
                needed.functions = true
                if info & 0xFFFF != 0 { needed.globalFunctions = true }  // linkage global or extern
            case .float: needed.floats = true
            case .declTag: needed.declTags = true
            case .typeTag: needed.typeTags = true
            case .enum: if info & 0x8000_0000 != 0 { needed.enum64 = true }  // signed: the kind flag
            case .enum64: needed.enum64 = true
            default: break
            }
        }
        return needed
    }

    /// Whether the string at `offset` (own or base) starts with `?`.
    private func nameStartsWithQuestionMark(_ offset: UInt32) -> Bool {
        if offset < stringBase { return base?.string(at: offset)?.utf8.first == UInt8(ascii: "?") }
        let local = Int(offset - stringBase)
        return local < strings.count && strings[local] == UInt8(ascii: "?")
    }
}

extension TypeGraph {
    /// The raw blob to load into a kernel with the given features: this graph's own types and strings,
    /// in host byte order, sanitised (see ``BTFImage/sanitize(for:)``). With every feature supported the
    /// type and string sections are this graph's, unchanged.
    ///
    /// An object's BTF first needs the fix-ups that depend on its ELF file (DATASEC sizes and offsets,
    /// externs); `ObjectSpec.kernelBTF(support:)` does both.
    /// - Throws: ``BTFError`` when the placeholder type needed for ENUM64 cannot be added.
    public func kernelImage(for support: BTFKernelSupport) throws(BTFError) -> [UInt8] {
        var image = BTFImage(self)
        try image.sanitize(for: support)
        return image.bytes()
    }
}
