extension TypeGraph {
    /// Writes a compilable C header declaring every type of the graph (base types included for split
    /// BTF): the text `bpftool btf dump file FILE format c` prints (bpftool 7.1 with its libbpf), byte for
    /// byte. This is how `vmlinux.h` is made for CO-RE programs.
    ///
    /// The header is guarded by `__VMLINUX_H__` and wraps the types in clang's `preserve_access_index`
    /// attribute unless `BPF_NO_PRESERVE_ACCESS_INDEX` is defined. Types come in id order, each after what
    /// it needs to compile: types it embeds are defined first, types it only points to may be declared
    /// ahead (`struct foo;`). Names used twice for different types get `___2`, `___3`… suffixes, as
    /// libbpf gives them; anonymous types are written inline where they are used; padding the compiler
    /// would not add by itself is spelled out (`long: 64;`); structs that need it are
    /// `__attribute__((packed))`. Functions, variables, data sections and declaration tags are not written.
    ///
    /// The text is handed to `sink` in chunks, each valid only during the call.
    /// - Throws: ``BTFError/Code/resolutionTooDeep`` when the types form a loop C cannot express (an
    ///   anonymous struct containing itself, a pointer or typedef that leads back to itself) or nest deeper
    ///   than ``cHeaderNestingLimit``. What was written before the error has been handed to `sink`.
    public func writeCHeader(to sink: @escaping (UnsafeRawBufferPointer) -> Void) throws(BTFError) {
        try withExtendedLifetime(self) { () throws(BTFError) in
            var emitter = try CHeaderEmitter(graph: self, sink: sink)
            // What was written is handed over on failure too.
            defer { emitter.writer.finish() }
            try emitter.writeHeader()
        }
    }

    /// The C header of ``writeCHeader(to:)``, as bytes.
    /// - Throws: as ``writeCHeader(to:)``.
    public func cHeader() throws(BTFError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count * 40)
        try writeCHeader { result.append(contentsOf: $0) }
        return result
    }

    /// How deeply the C header writer follows types into one another (members, pointers, typedefs,
    /// prototypes) before deciding the types loop: real BTF nests a few dozen levels at most.
    public static let cHeaderNestingLimit = 1024
}
