import ByteParsing
import Testing

@testable import BTF

// Expected values below are worked out by hand from libbpf's rules (src/relo_core.c: bpf_core_parse_spec,
// bpf_core_spec_match, bpf_core_calc_field_relo, bpf_core_format_spec; src/libbpf.c: bpf_core_add_cands,
// bpf_core_essential_name_len). Type ids are the builder's, in order of creation.

private func graph(_ builder: BTFBuilder) throws -> TypeGraph { try TypeGraph(data: builder.view()) }

/// A relocator of `local` against `target`, which stands for vmlinux.
private func relocator(_ local: BTFBuilder, _ target: BTFBuilder) throws -> CoreRelocator {
    CoreRelocator(local: try graph(local), targets: CoreTargets(primary: CoreTargetBTF(try graph(target), name: "vmlinux")))
}

extension CoreRelocator {
    /// Decides a relocation of `kind` on local type `id`.
    fileprivate func run(_ id: UInt32, _ access: String,
                         _ kind: BTFCoreRelocationKind) throws(CoreRelocationError) -> CoreRelocationResult {
        try relocate(BTFCoreRelocation(instructionOffset: 0, typeID: id, accessStringOffset: 0, kind: kind.rawValue),
                     accessString: access)
    }

    /// The error the relocation throws, or `nil` when it succeeds.
    fileprivate func failure(_ id: UInt32, _ access: String, _ kind: BTFCoreRelocationKind) -> CoreRelocationError? {
        do {
            _ = try run(id, access, kind)
            return nil
        } catch {
            return error
        }
    }

    /// (local value, target value), failing the test on poison.
    fileprivate func values(_ id: UInt32, _ access: String, _ kind: BTFCoreRelocationKind,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt64] {
        let result = try run(id, access, kind)
        #expect(!result.poison, "\(kind) \(access) poisoned", sourceLocation: sourceLocation)
        return [result.originalValue, result.newValue]
    }

    fileprivate func candidateIDs(_ id: UInt32) -> [UInt32]? { candidates(for: id)?.map(\.id) }
}

@Suite struct CoreRelocatorTests {
    // MARK: Essential names and candidates

    @Test func essentialNames() {
        #expect(TypeGraph.essentialName(of: "foo___v1") == "foo")
        #expect(TypeGraph.essentialName(of: "foo") == "foo")
        // Four underscores: the separator must sit between two non-underscores.
        #expect(TypeGraph.essentialName(of: "foo____x") == "foo____x")
        #expect(TypeGraph.essentialName(of: "a___b___c") == "a___b")
        #expect(TypeGraph.essentialName(of: "foo___") == "foo___")
        #expect(TypeGraph.essentialName(of: "___x") == "___x")
        #expect(TypeGraph.essentialName(of: "_a___b") == "_a")
        #expect(TypeGraph.essentialName(of: "foo___bar___") == "foo")
        #expect(TypeGraph.essentialName(of: "") == "")
    }

    @Test func candidatesByEssentialName() throws {
        var t = BTFBuilder()
        let tInt = t.int("int", size: 4, encoding: 1)
        for name in ["foo", "foo___v2", "bar____x", "bar", "a___b", "a___b___d", "a"] {
            _ = t.record(name, size: 4, [("a", tInt, 0)])
        }
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let fooV1 = l.record("foo___v1", size: 4, [("a", lInt, 0)])
        let foo = l.record("foo", size: 4, [("a", lInt, 0)])
        let barX = l.record("bar____x", size: 4, [("a", lInt, 0)])
        let abc = l.record("a___b___c", size: 4, [("a", lInt, 0)])
        let bar1 = l.record("bar___1", size: 4, [("a", lInt, 0)])

        let r = try relocator(l, t)
        for id in [fooV1, foo, barX, abc, bar1] {
            #expect(try r.values(id, "0", .typeExists) == [1, 1])
        }
        #expect(r.candidateIDs(fooV1) == [2, 3])      // foo, foo___v2
        #expect(r.candidateIDs(foo) == [2, 3])
        #expect(r.candidateIDs(barX) == [4])          // not bar
        #expect(r.candidateIDs(abc) == [7])           // a___b___d only: a___b's essential name is a
        #expect(r.candidateIDs(bar1) == [5])          // bar; bar____x's essential name is itself

        let fresh = try relocator(l, t)
        let result = try fresh.run(fooV1, "0:0", .fieldByteOffset)
        #expect(result.searchLog + result.log == [
            "CO-RE relocating [2] struct foo___v1: found target candidate [2] struct foo in [vmlinux]",
            "CO-RE relocating [2] struct foo___v1: found target candidate [3] struct foo___v2 in [vmlinux]",
            "<byte_off> [2] struct foo___v1.a (0:0 @ offset 0)",
            "matching candidate #0 <byte_off> [2] struct foo.a (0:0 @ offset 0)",
            "matching candidate #1 <byte_off> [3] struct foo___v2.a (0:0 @ offset 0)",
        ])
        // Two flavors give two different target ids: libbpf's "relocation decision ambiguity".
        #expect(fresh.failure(fooV1, "0", .targetTypeID)?.code == .ambiguous)
    }

    @Test func candidateKinds() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 4, [("a", lInt, 0)])
        let e = l.enumeration("e", values: [("A", 1)])
        let s2 = l.record("s2", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        let typedefT = l.typedef("t", s2)
        let anonymous = l.record(nil, size: 4, [("a", lInt, 0)])
        let e64 = l.enum64("e64", values: [("X", 1)])
        let u = l.record("u", union: true, size: 4, [("a", lInt, 0)])

        var t = BTFBuilder()
        let tInt = t.int("int", size: 4, encoding: 1)
        _ = t.record("s", union: true, size: 4, [("a", tInt, 0)])                    // 2
        _ = t.enum64("e", values: [("A", 5)])                                         // 3
        _ = t.record("t", size: 4, [("a", tInt, 0)])                                  // 4
        let tt = t.record("tt", size: 12, [("x", tInt, 0), ("a", tInt, 32), ("b", tInt, 64)])
        _ = t.typedef("t", tt)                                                        // 6
        _ = t.enumeration("e64", values: [("X", 9)])                                  // 7
        _ = t.record("u", size: 4, [("a", tInt, 0)])                                  // 8

        let r = try relocator(l, t)
        // struct vs union: no candidate, existence is 0 (not poison).
        let missing = try r.run(s, "0", .typeExists)
        #expect(!missing.poison && missing.newValue == 0 && missing.targetSpec == nil)
        #expect(r.candidateIDs(s) == [])
        #expect(try r.values(u, "0", .typeExists) == [1, 0])
        // enum and enum64 stand for each other.
        #expect(try r.values(e, "0", .enumValue) == [1, 5])
        #expect(r.candidateIDs(e) == [3])
        #expect(try r.values(e64, "0", .enumValue) == [1, 9])
        #expect(try r.values(e, "0", .typeExists) == [1, 1])
        // Typedef roots: candidates are typedefs; the field walk starts behind them.
        #expect(try r.values(typedefT, "0", .typeExists) == [1, 1])
        #expect(r.candidateIDs(typedefT) == [6])
        #expect(try r.values(typedefT, "0", .typeSize) == [8, 12])
        let field = try r.run(typedefT, "0:1", .fieldByteOffset)
        #expect([field.originalValue, field.newValue] == [4, 8])
        #expect(field.localSpec.description == "[5] typedef t.b (0:1 @ offset 4)")
        #expect(field.targetSpec?.description == "[6] typedef t.b (0:2 @ offset 8)")
        // Anonymous local roots: only local_type_id.
        #expect(r.failure(anonymous, "0:0", .fieldByteOffset)?.code == .anonymousType)
        #expect(r.failure(anonymous, "0", .typeExists)?.code == .anonymousType)
        let local = try r.run(anonymous, "0", .localTypeID)
        #expect(local.originalValue == UInt64(anonymous) && local.newValue == UInt64(anonymous) && !local.validate)
        #expect(local.log == ["<local_type_id> [6] struct <anon>"])
    }

    @Test func modulesAreSearchedOnlyWithoutPrimaryCandidates() throws {
        var base = BTFBuilder()
        let int = base.int("int", size: 4, encoding: 1)
        _ = base.record("present", size: 4, [("a", int, 0)])
        let baseGraph = try graph(base)
        func module(_ bOffset: UInt32) throws -> TypeGraph {
            var m = BTFBuilder(splitOnBaseCount: 2, baseStringLength: base.strings.count)
            _ = m.record("foo", size: 16, [("a", int, 0), ("b", int, bOffset)])
            return try TypeGraph(splitData: m.view(), base: baseGraph)
        }
        let modules = [CoreTargetBTF(try module(32), name: "mod_a"), CoreTargetBTF(try module(64), name: "mod_b")]
        final class Calls: @unchecked Sendable { var count = 0 }
        let calls = Calls()
        let targets = CoreTargets(primary: CoreTargetBTF(baseGraph, name: "vmlinux")) {
            calls.count += 1
            return modules
        }

        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let present = l.record("present", size: 4, [("a", lInt, 0)])
        let foo = l.record("foo", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        let r = CoreRelocator(local: try graph(l), targets: targets)

        #expect(try r.values(present, "0:0", .fieldByteOffset) == [0, 0])
        #expect(calls.count == 0)
        // Every module's candidates are gathered (libbpf's loop over btf_modules does not stop at the first
        // module with candidates), so two modules disagreeing on the offset are ambiguous.
        #expect(try r.values(foo, "0:0", .fieldByteOffset) == [0, 0])
        #expect(calls.count == 1)
        #expect(r.candidates(for: foo)?.map { [$0.target, Int($0.id)] } == [[1, 3], [2, 3]])
        #expect(r.failure(foo, "0:1", .fieldByteOffset)?.code == .ambiguous)
        #expect(r.target(2).name == "mod_b")
        _ = r.failure(foo, "0", .typeExists)
        #expect(calls.count == 1)
    }

    // MARK: Field offsets

    @Test func nestedNamedMembers() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let lInner = l.record("inner", size: 8, [("x", lInt, 0), ("y", lInt, 32)])
        let outer = l.record("outer", size: 12, [("pad", lInt, 0), ("in", lInner, 32)])
        var t = BTFBuilder()
        let tInt = t.int("int", size: 4, encoding: 1)
        let tLong = t.int("long", size: 8, encoding: 1)
        let tInner = t.record("inner", size: 8, [("y", tInt, 0), ("x", tInt, 32)])
        _ = t.record("outer", size: 24, [("pad", tLong, 0), ("z", tInt, 64), ("in", tInner, 128)])

        let r = try relocator(l, t)
        let y = try r.run(outer, "0:1:1", .fieldByteOffset)
        #expect([y.originalValue, y.newValue] == [8, 16])
        #expect(y.localSpec.description == "[3] struct outer.in.y (0:1:1 @ offset 8)")
        #expect(y.targetSpec?.description == "[4] struct outer.in.y (0:2:0 @ offset 16)")
        #expect(y.originalSize == 4 && y.newSize == 4 && !y.failsMemorySizeAdjustment && y.validate)
        let inner = try r.run(outer, "0:1", .fieldByteOffset)
        #expect([inner.originalValue, inner.newValue, UInt64(inner.originalSize), UInt64(inner.newSize)] == [4, 16, 8, 8])
        #expect(try r.values(outer, "0:0", .fieldByteSize) == [4, 8])
        // int → long: signed, so a load cannot simply be widened.
        let pad = try r.run(outer, "0:0", .fieldByteOffset)
        #expect(pad.originalSize == 4 && pad.newSize == 8 && pad.failsMemorySizeAdjustment)
        #expect(try r.values(outer, "0:1:0", .fieldSigned) == [1, 1])
        #expect(try r.values(outer, "0:1:0", .fieldExists) == [1, 1])
        // Root index 1 is the second object behind the pointer.
        let second = try r.run(outer, "1:1:1", .fieldByteOffset)
        #expect([second.originalValue, second.newValue] == [20, 40])
        #expect(second.localSpec.description == "[3] struct outer[1].in.y (1:1:1 @ offset 20)")
        #expect(second.targetSpec?.description == "[4] struct outer[1].in.y (1:2:0 @ offset 40)")
    }

    @Test func anonymousMembersOnEitherSide() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 16, [("a", lInt, 0), ("b", lInt, 32), ("c", lInt, 64), ("d", lInt, 96)])
        let lLong = l.int("long", size: 8, encoding: 1)
        let lUnion = l.record(nil, union: true, size: 8, [("b", lInt, 0), ("c", lLong, 0)])
        let v = l.record("v", size: 16, [("a", lInt, 0), (nil, lUnion, 64)])
        var t = BTFBuilder()
        let tInt = t.int("int", size: 4, encoding: 1)
        let tAnon = t.record(nil, size: 12, [("b", tInt, 0), ("c", tInt, 32), ("d", tInt, 64)])
        _ = t.record("s", size: 20, [("a", tInt, 0), (nil, tAnon, 64)])
        let tLong = t.int("long", size: 8, encoding: 1)
        _ = t.record("v", size: 16, [("a", tInt, 0), ("pad", tInt, 32), ("c", tLong, 64)])

        let r = try relocator(l, t)
        let d = try r.run(s, "0:3", .fieldByteOffset)
        #expect([d.originalValue, d.newValue] == [12, 16])
        #expect(d.localSpec.description == "[2] struct s.d (0:3 @ offset 12)")
        #expect(d.targetSpec?.description == "[3] struct s.d (0:1:2 @ offset 16)")
        #expect(d.targetSpec?.rawIndices == [0, 1, 2])
        #expect(d.targetSpec?.accessors.count == 2)
        let a = try r.run(s, "0:0", .fieldByteOffset)
        #expect(a.targetSpec?.description == "[3] struct s.a (0:0 @ offset 0)")
        // Anonymous on the local side: raw steps there, not in the target.
        let c = try r.run(v, "0:1:1", .fieldByteOffset)
        #expect([c.originalValue, c.newValue] == [8, 8])
        #expect(c.localSpec.description == "[5] struct v.c (0:1:1 @ offset 8)")
        #expect(c.targetSpec?.description == "[5] struct v.c (0:2 @ offset 8)")
    }

    @Test func arrayElements() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let lArray = l.array(lInt, index: lInt, count: 8)
        let s = l.record("s", size: 40, [("a", lInt, 0), ("b", lInt, 32), ("arr", lArray, 64)])
        var t = BTFBuilder()
        let tInt = t.int("int", size: 4, encoding: 1)
        let tLong = t.int("long", size: 8, encoding: 1)
        let tArray = t.array(tLong, index: tInt, count: 4)
        _ = t.record("s", size: 48, [("a", tInt, 0), ("arr", tArray, 128)])

        let r = try relocator(l, t)
        let element = try r.run(s, "0:2:3", .fieldByteOffset)
        #expect([element.originalValue, element.newValue] == [20, 40])
        #expect(element.localSpec.description == "[3] struct s.arr[3] (0:2:3 @ offset 20)")
        #expect(element.targetSpec?.description == "[4] struct s.arr[3] (0:1:3 @ offset 40)")
        #expect(element.originalSize == 4 && element.newSize == 8 && element.failsMemorySizeAdjustment)
        #expect(try r.values(s, "0:2:3", .fieldByteSize) == [4, 8])
        #expect(try r.values(s, "0:2", .fieldByteSize) == [32, 32])
        #expect(try r.values(s, "0:2", .fieldByteOffset) == [8, 16])
        // Other field kinds do not apply to array elements.
        #expect(r.failure(s, "0:2:3", .fieldSigned)?.code == .unsupportedKind)
        // Index 5 fits the local array (8) but not the target's (4): no match.
        let past = try r.run(s, "0:2:5", .fieldByteOffset)
        #expect(past.poison && past.targetSpec == nil)
        #expect(past.log.last == "no matching targets found")
        #expect(try r.values(s, "0:2:5", .fieldExists) == [1, 0])
        // Past the local array's end: the access string itself is wrong.
        #expect(r.failure(s, "0:2:8", .fieldByteOffset)?.code == .invalidAccessString)
    }

    @Test func flexibleArrays() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let lFlex = l.array(lInt, index: lInt, count: 0)
        let s = l.record("s", size: 4, [("n", lInt, 0), ("data", lFlex, 32)])
        let notLast = l.record("notlast", size: 4, [("data", lFlex, 0), ("n", lInt, 0)])
        let lFixed = l.array(lInt, index: lInt, count: 2)
        let fixed = l.record("fixed", size: 12, [("n", lInt, 0), ("data", lFixed, 32)])

        var flex = BTFBuilder()
        let fInt = flex.int("int", size: 4, encoding: 1)
        let fLong = flex.int("long", size: 8, encoding: 1)
        let fArray = flex.array(fInt, index: fInt, count: 0)
        _ = flex.record("s", size: 8, [("n", fLong, 0), ("data", fArray, 64)])
        var sized = BTFBuilder()
        let sInt = sized.int("int", size: 4, encoding: 1)
        let sArray = sized.array(sInt, index: sInt, count: 2)
        _ = sized.record("s", size: 12, [("n", sInt, 0), ("data", sArray, 32)])

        let toFlex = try relocator(l, flex).run(s, "0:1:5", .fieldByteOffset)
        #expect([toFlex.originalValue, toFlex.newValue] == [24, 28])
        #expect(toFlex.localSpec.description == "[3] struct s.data[5] (0:1:5 @ offset 24)")
        #expect(toFlex.targetSpec?.description == "[4] struct s.data[5] (0:1:5 @ offset 28)")
        // A sized target array is not flexible: index 5 is past its end.
        let r = try relocator(l, sized)
        #expect(try r.run(s, "0:1:5", .fieldByteOffset).poison)
        #expect(try r.values(s, "0:1:5", .fieldExists) == [1, 0])
        #expect(try r.values(s, "0:1:1", .fieldByteOffset) == [8, 8])
        // Zero-length but not the last member: not flexible.
        #expect(r.failure(notLast, "0:0:1", .fieldByteOffset)?.code == .invalidAccessString)
        #expect(r.failure(fixed, "0:1:2", .fieldByteOffset)?.code == .invalidAccessString)
    }

    @Test func specLengthLimit() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 4, [("x", lInt, 0)])
        // Target s wraps x in `depth` anonymous structs.
        func nested(_ depth: Int) -> BTFBuilder {
            var t = BTFBuilder()
            let tInt = t.int("int", size: 4, encoding: 1)
            var inner = t.record(nil, size: 4, [("x", tInt, 0)])
            for _ in 1..<depth { inner = t.record(nil, size: 4, [(nil, inner, 0)]) }
            _ = t.record("s", size: 4, [(nil, inner, 0)])
            return t
        }
        let r = try relocator(l, nested(1))
        let text = { (count: Int) in Array(repeating: "0", count: count).joined(separator: ":") }
        #expect(r.failure(s, text(65), .fieldByteOffset)?.code == .specTooDeep)
        // 64 steps pass the length check (and fail on the types: step 3 indexes into an int).
        #expect(r.failure(s, text(64), .fieldByteOffset)?.code == .invalidAccessString)
        // Target spec: root + 62 anonymous levels + x = 64 raw steps is the most there can be.
        let deepest = try relocator(l, nested(62)).run(s, "0:0", .fieldByteOffset)
        #expect(deepest.targetSpec?.rawIndices.count == 64 && deepest.newValue == 0)
        #expect(try relocator(l, nested(63)).failure(s, "0:0", .fieldByteOffset)?.code == .specTooDeep)
    }

    // MARK: Field compatibility

    /// field_exists of `s.f` with the given local and target member types.
    private func fieldExists(local: (inout BTFBuilder) -> UInt32, target: (inout BTFBuilder) -> UInt32) throws -> UInt64 {
        var l = BTFBuilder()
        let lType = local(&l)
        let s = l.record("s", size: 64, [("f", lType, 0)])
        var t = BTFBuilder()
        let tType = target(&t)
        _ = t.record("s", size: 64, [("f", tType, 0)])
        let result = try relocator(l, t).run(s, "0:0", .fieldExists)
        return result.newValue
    }

    @Test func fieldCompatibility() throws {
        let int: (inout BTFBuilder) -> UInt32 = { $0.int("int", size: 4, encoding: 1) }
        let long: (inout BTFBuilder) -> UInt32 = { $0.int("unsigned long", size: 8) }
        let intPointer: (inout BTFBuilder) -> UInt32 = { $0.pointer($0.int("int", size: 4, encoding: 1)) }
        func enumeration(_ name: String?) -> (inout BTFBuilder) -> UInt32 {
            { $0.enumeration(name, values: [("R", 0)]) }
        }
        func array(_ element: @escaping (inout BTFBuilder) -> UInt32, _ count: UInt32) -> (inout BTFBuilder) -> UInt32 {
            { b in let e = element(&b); return b.array(e, index: e, count: count) }
        }
        #expect(try fieldExists(local: int, target: long) == 1)                       // sizes and sign free
        #expect(try fieldExists(local: int, target: intPointer) == 0)
        #expect(try fieldExists(local: intPointer, target: { $0.pointer($0.record("x", size: 4, [])) }) == 1)
        #expect(try fieldExists(local: int, target: enumeration("color")) == 0)
        #expect(try fieldExists(local: enumeration("color"), target: enumeration("color___v2")) == 1)
        #expect(try fieldExists(local: enumeration("color___v1"), target: enumeration("color")) == 1)
        #expect(try fieldExists(local: enumeration("color"), target: enumeration("shade")) == 0)
        #expect(try fieldExists(local: enumeration("color"), target: enumeration(nil)) == 1)
        #expect(try fieldExists(local: enumeration(nil), target: enumeration("shade")) == 1)
        #expect(try fieldExists(local: enumeration("color"), target: { $0.enum64("color", values: [("R", 0)]) }) == 1)
        #expect(try fieldExists(local: array(int, 4), target: array(int, 10)) == 1)
        #expect(try fieldExists(local: array(int, 4), target: array(long, 1)) == 1)
        #expect(try fieldExists(local: array(int, 4), target: array(intPointer, 4)) == 0)
        #expect(try fieldExists(local: array(int, 4), target: int) == 0)
        #expect(try fieldExists(local: { $0.record("x", size: 4, []) },
                                target: { $0.record("y", union: true, size: 8, []) }) == 1)
        #expect(try fieldExists(local: { $0.const($0.int("int", size: 4, encoding: 1)) },
                                target: { $0.typedef("s32", $0.int("int", size: 4, encoding: 1)) }) == 1)
        // A bitfield-like int (non-zero offset in its encoding) is refused.
        #expect(try fieldExists(local: int, target: { $0.int("int", size: 4, encoding: 1, bits: 7, offset: 1) }) == 0)
        #expect(try fieldExists(local: { $0.type("float", kind: 16, sizeOrType: 4) },
                                target: { $0.type("double", kind: 16, sizeOrType: 8) }) == 1)
        #expect(try fieldExists(local: int, target: { $0.type("float", kind: 16, sizeOrType: 4) }) == 0)
        #expect(try fieldExists(local: { $0.forward("f") }, target: { $0.forward("f___2") }) == 1)
        #expect(try fieldExists(local: { $0.forward("f") }, target: { $0.forward("g") }) == 0)
    }

    /// Whether a load of the field may change size (bpf_core_calc_relo): only unsigned ints and pointers.
    @Test func memorySizeAdjustmentDecision() throws {
        func decision(local: (inout BTFBuilder) -> UInt32, target: (inout BTFBuilder) -> UInt32,
                      targetBitfield: UInt32 = 0) throws -> (sizes: [UInt32], fails: Bool) {
            var l = BTFBuilder()
            let lType = local(&l)
            let s = l.record("s", size: 16, [("pad", lType, 0), ("f", lType, 64)])
            var t = BTFBuilder()
            let tType = target(&t)
            _ = t.composite("s", size: 16, members: [("f", tType, 64, targetBitfield)], kindFlag: targetBitfield > 0)
            let result = try relocator(l, t).run(s, "0:1", .fieldByteOffset)
            #expect(!result.poison)
            return ([result.originalSize, result.newSize], result.failsMemorySizeAdjustment)
        }
        let u32: (inout BTFBuilder) -> UInt32 = { $0.int("unsigned int", size: 4) }
        let u64: (inout BTFBuilder) -> UInt32 = { $0.int("unsigned long", size: 8) }
        let u16: (inout BTFBuilder) -> UInt32 = { $0.int("unsigned short", size: 2) }
        let s32: (inout BTFBuilder) -> UInt32 = { $0.int("int", size: 4, encoding: 1) }
        let s64: (inout BTFBuilder) -> UInt32 = { $0.int("long", size: 8, encoding: 1) }
        let bool: (inout BTFBuilder) -> UInt32 = { $0.int("_Bool", size: 1, encoding: 4) }
        let e32: (inout BTFBuilder) -> UInt32 = { $0.enumeration("e", values: [("A", 1)]) }
        let e64: (inout BTFBuilder) -> UInt32 = { $0.enum64("e", values: [("A", 1)]) }
        #expect(try decision(local: u32, target: u64) == ([4, 8], false))
        #expect(try decision(local: u64, target: u16) == ([8, 2], false))
        #expect(try decision(local: u32, target: bool) == ([4, 1], false))     // BOOL is not SIGNED
        #expect(try decision(local: u32, target: s32) == ([4, 4], false))      // same size: nothing to adjust
        #expect(try decision(local: s32, target: s64) == ([4, 8], true))
        #expect(try decision(local: u32, target: s64) == ([4, 8], true))
        #expect(try decision(local: e32, target: e64) == ([4, 8], true))
        // A target bitfield has no load size (0).
        #expect(try decision(local: u32, target: u32, targetBitfield: 3) == ([4, 0], true))
    }

    @Test func longNamesAreCutLikeLibbpfsBuffer() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let name = String(repeating: "n", count: 300)
        let s = b.record(name, size: 4, [("a", int, 0)])
        let result = try relocator(b, b).run(s, "0:0", .fieldByteOffset)
        // libbpf formats "<kind> spec" into a 256-byte buffer: 255 characters survive.
        let line = "<byte_off> " + result.localSpec.description
        #expect(line.utf8.count == 255)
        #expect(line.hasPrefix("<byte_off> [2] struct nnnn") && line.hasSuffix("nnnn"))
        #expect(result.log.contains(line))
    }

    // MARK: Bitfields

    /// Member indices: a 0, f 1, g 2, h 3, c 4, s 5, u 6, w 7; the struct is id 6.
    private static func bitfields(order: ByteOrder, fOffset: UInt32 = 3) -> BTFBuilder {
        var b = BTFBuilder(order: order)
        let int = b.int("int", size: 4, encoding: 1)
        let uint = b.int("unsigned int", size: 4)
        let uchar = b.int("unsigned char", size: 1)
        let signedEnum = b.enumeration("se", signed: true, values: [("A", -1)])
        let unsignedEnum = b.enumeration("ue", values: [("B", 1)])
        _ = b.composite("bf", size: 20, members: [
            ("a", int, 0, 3), ("f", int, fOffset, 5), ("g", uint, 28, 10), ("h", uint, 60, 10),
            ("c", uchar, 73, 4), ("s", signedEnum, 96, 4), ("u", unsignedEnum, 100, 4), ("w", int, 128, 0),
        ], kindFlag: true)
        return b
    }

    @Test(arguments: [ByteOrder.little, .big])
    func bitfieldValues(order: ByteOrder) throws {
        let b = Self.bitfields(order: order)
        let r = try relocator(b, b)
        let little = order == .little
        // f: bits 3..7 of an int: one 4-byte load at 0.
        #expect(try r.values(6, "0:1", .fieldByteOffset) == [0, 0])
        #expect(try r.values(6, "0:1", .fieldByteSize) == [4, 4])
        #expect(try r.values(6, "0:1", .fieldLShiftU64) == (little ? [56, 56] : [35, 35]))
        #expect(try r.values(6, "0:1", .fieldRShiftU64) == [59, 59])
        #expect(try r.values(6, "0:1", .fieldSigned) == [1, 1])
        // g: bits 28..37 cross the 4-byte unit: the load doubles to 8 bytes.
        #expect(try r.values(6, "0:2", .fieldByteOffset) == [0, 0])
        #expect(try r.values(6, "0:2", .fieldByteSize) == [8, 8])
        #expect(try r.values(6, "0:2", .fieldLShiftU64) == (little ? [26, 26] : [28, 28]))
        #expect(try r.values(6, "0:2", .fieldRShiftU64) == [54, 54])
        #expect(try r.values(6, "0:2", .fieldSigned) == [0, 0])
        // c: a 1-byte unit at byte 9.
        #expect(try r.values(6, "0:4", .fieldByteOffset) == [9, 9])
        #expect(try r.values(6, "0:4", .fieldByteSize) == [1, 1])
        #expect(try r.values(6, "0:4", .fieldLShiftU64) == (little ? [59, 59] : [57, 57]))
        #expect(try r.values(6, "0:4", .fieldRShiftU64) == [60, 60])
        // Enum bitfields: signed by the enum's kind_flag.
        #expect(try r.values(6, "0:5", .fieldSigned) == [1, 1])
        #expect(try r.values(6, "0:6", .fieldSigned) == [0, 0])
        #expect(try r.values(6, "0:5", .fieldByteOffset) == [12, 12])
        #expect(try r.values(6, "0:5", .fieldLShiftU64) == (little ? [60, 60] : [32, 32]))
        // w: a plain member of a kind_flag struct.
        #expect(try r.values(6, "0:7", .fieldByteOffset) == [16, 16])
        #expect(try r.values(6, "0:7", .fieldLShiftU64) == [32, 32])
        #expect(try r.values(6, "0:7", .fieldRShiftU64) == [32, 32])
        // Validation: off for bitfield offsets, sizes and left shifts; on for signedness and right shifts.
        #expect(try !r.run(6, "0:1", .fieldByteOffset).validate)
        #expect(try !r.run(6, "0:1", .fieldByteSize).validate)
        #expect(try !r.run(6, "0:1", .fieldLShiftU64).validate)
        #expect(try r.run(6, "0:1", .fieldRShiftU64).validate)
        #expect(try r.run(6, "0:1", .fieldSigned).validate)
        #expect(try r.run(6, "0:7", .fieldByteOffset).validate)
        // h: bits 60..69 fit no load of at most 8 bytes.
        for kind in [BTFCoreRelocationKind.fieldByteOffset, .fieldByteSize, .fieldLShiftU64, .fieldRShiftU64, .fieldSigned] {
            #expect(r.failure(6, "0:3", kind)?.code == .unreadableBitfield, "\(kind)")
        }
        #expect(try r.values(6, "0:3", .fieldExists) == [1, 1])
    }

    @Test(arguments: [ByteOrder.little, .big])
    func movedBitfield(order: ByteOrder) throws {
        let r = try relocator(Self.bitfields(order: order), Self.bitfields(order: order, fOffset: 37))
        #expect(try r.values(6, "0:1", .fieldByteOffset) == [0, 4])
        #expect(try r.values(6, "0:1", .fieldLShiftU64) == (order == .little ? [56, 54] : [35, 37]))
        #expect(try r.values(6, "0:1", .fieldRShiftU64) == [59, 59])
        let spec = try r.run(6, "0:1", .fieldByteOffset).targetSpec
        #expect(spec?.description == "[6] struct bf.f (0:1 @ offset 4.5)")
    }

    /// libbpf computes both shifts with one byte order (the host's, which must be the object's); a target BTF
    /// of the other order does not change the formula.
    @Test func bitfieldShiftUsesTheObjectByteOrder() throws {
        let r = try relocator(Self.bitfields(order: .big), Self.bitfields(order: .little, fOffset: 37))
        #expect(try r.values(6, "0:1", .fieldLShiftU64) == [35, 37])
        let other = try relocator(Self.bitfields(order: .little), Self.bitfields(order: .big, fOffset: 37))
        #expect(try other.values(6, "0:1", .fieldLShiftU64) == [56, 54])
    }

    @Test func bitOffsetsPrintWithTheirBits() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let bf = b.composite("bf", size: 20, members: [("a", int, 0, 3), ("x", int, 130, 3)], kindFlag: true)
        let spec = try CoreSpec(parsing: "0:1", rootTypeID: bf, kind: .fieldByteOffset, btf: graph(b))
        #expect(spec.description == "[2] struct bf.x (0:1 @ offset 16.2)")
        #expect(spec.bitOffset == 130)
    }

    // MARK: Type-based kinds

    @Test func typeBasedKinds() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        let gone = l.record("gone", size: 4, [("a", lInt, 0)])
        var t = BTFBuilder()
        let tInt = t.int("int", size: 4, encoding: 1)
        _ = t.int("long", size: 8, encoding: 1)
        _ = t.record("s", size: 12, [("a", tInt, 0), ("b", tInt, 32), ("c", tInt, 64)])

        let r = try relocator(l, t)
        #expect(try r.values(s, "0", .typeExists) == [1, 1])
        #expect(try r.values(s, "0", .typeSize) == [8, 12])
        #expect(try r.values(s, "0", .typeMatches) == [1, 1])
        let target = try r.run(s, "0", .targetTypeID)
        #expect([target.originalValue, target.newValue] == [2, 3] && !target.validate)
        #expect(target.localSpec.description == "[2] struct s" && target.targetSpec?.description == "[3] struct s")
        #expect(try r.run(s, "0", .typeExists).validate)
        let local = try r.run(s, "0", .localTypeID)
        #expect([local.originalValue, local.newValue] == [2, 2] && !local.validate)
        // No candidate: all type-based kinds give 0, none poisons.
        for kind in [BTFCoreRelocationKind.typeExists, .typeSize, .targetTypeID, .typeMatches] {
            let result = try r.run(gone, "0", kind)
            #expect(!result.poison && result.newValue == 0, "\(kind)")
        }
        #expect(try r.values(gone, "0", .typeSize) == [4, 0])
        #expect(try r.values(gone, "0", .localTypeID) == [3, 3])
        // Type-based kinds take "0" only.
        #expect(r.failure(s, "1", .typeExists)?.code == .invalidAccessString)
        #expect(r.failure(s, "0:0", .typeSize)?.code == .invalidAccessString)
    }

    @Test func typeMatchesIsStricterThanCompatibility() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let ti = l.typedef("ti", lInt)
        let tu = l.typedef("tu", lInt)
        let s = l.record("s", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        let inner = l.record("inner", size: 4, [("x", lInt, 0)])
        let w = l.record("w", size: 8, [("p", l.pointer(inner), 0)])
        let inner2 = l.record("inner2", union: true, size: 4, [("x", lInt, 0)])
        let w2 = l.record("w2", size: 8, [("p", l.pointer(inner2), 0)])
        let same = l.typedef("same", lInt)
        let fn = l.record("fn", size: 8, [("cb", l.pointer(l.functionProto(returning: lInt, params: [(nil, lInt)])), 0)])

        var t = BTFBuilder()
        let wide = t.int("int", size: 8, encoding: 1)
        let unsigned = t.int("int", size: 4)
        let tInt = t.int("int", size: 4, encoding: 1)
        _ = t.typedef("ti", wide)
        _ = t.typedef("tu", unsigned)
        _ = t.record("s", size: 12, [("a", tInt, 0), ("c", tInt, 32), ("d", tInt, 64)])
        _ = t.record("w", size: 8, [("p", t.pointer(t.forward("inner")), 0)])
        _ = t.record("w2", size: 8, [("p", t.pointer(t.forward("inner2")), 0)])
        _ = t.typedef("same", tInt)
        _ = t.record("fn", size: 8, [("cb", t.pointer(t.functionProto(returning: tInt, params: [(nil, wide)])), 0)])

        let r = try relocator(l, t)
        // Int size or sign differ: compatible, but no match.
        #expect(try r.values(ti, "0", .typeExists) == [1, 1])
        #expect(try r.values(ti, "0", .typeMatches) == [1, 0])
        #expect(try r.values(tu, "0", .typeExists) == [1, 1])
        #expect(try r.values(tu, "0", .typeMatches) == [1, 0])
        #expect(try r.values(same, "0", .typeMatches) == [1, 1])
        // A local member missing from the target.
        #expect(try r.values(s, "0", .typeExists) == [1, 1])
        #expect(try r.values(s, "0", .typeMatches) == [1, 0])
        // A struct behind a pointer matches a struct forward declaration, a union does not.
        #expect(try r.values(w, "0", .typeMatches) == [1, 1])
        #expect(try r.values(w2, "0", .typeMatches) == [1, 0])
        #expect(try r.values(w2, "0", .typeExists) == [1, 1])
        // Function prototypes argument by argument.
        #expect(try r.values(fn, "0", .typeMatches) == [1, 0])
        #expect(try r.values(fn, "0", .typeExists) == [1, 1])
    }

    // MARK: Enumerators

    @Test func enumeratorKinds() throws {
        var l = BTFBuilder()
        let e = l.enumeration("e", values: [("A", 1), ("B", 2), ("C", -3), ("D", 4)])
        let se = l.enumeration("se", signed: true, values: [("M", -7)])
        let f = l.enumeration("f", values: [("B___x", 2)])
        var t = BTFBuilder()
        _ = t.enumeration("e", values: [("B", 20), ("A", 10), ("C", -3)])
        _ = t.enumeration("se", signed: true, values: [("M", -9)])
        _ = t.enumeration("f", values: [("B", 7)])

        let r = try relocator(l, t)
        #expect(try r.values(e, "1", .enumValueExists) == [1, 1])
        let b = try r.run(e, "1", .enumValue)
        #expect([b.originalValue, b.newValue] == [2, 20])
        #expect(b.localSpec.description == "[1] enum e::B = 2")
        #expect(b.targetSpec?.description == "[1] enum e::B = 20")
        // 32-bit values are sign-extended whatever the enum's signedness; unsigned ones print as %u.
        let c = try r.run(e, "2", .enumValue)
        #expect([c.originalValue, c.newValue] == [0xFFFF_FFFF_FFFF_FFFD, 0xFFFF_FFFF_FFFF_FFFD])
        #expect(c.localSpec.description == "[1] enum e::C = 4294967293")
        let m = try r.run(se, "0", .enumValue)
        #expect([m.originalValue, m.newValue] == [0xFFFF_FFFF_FFFF_FFF9, 0xFFFF_FFFF_FFFF_FFF7])
        #expect(m.localSpec.description == "[2] enum se::M = -7")
        #expect(m.targetSpec?.description == "[2] enum se::M = -9")
        // Missing enumerator: existence 0, value poisons.
        let dExists = try r.run(e, "3", .enumValueExists)
        #expect(!dExists.poison && dExists.newValue == 0)
        #expect(try r.run(e, "3", .enumValue).poison)
        // Enumerator names match by essential name too.
        #expect(try r.values(f, "0", .enumValue) == [2, 7])
        // One index, within the enum.
        #expect(r.failure(e, "4", .enumValue)?.code == .invalidAccessString)
        #expect(r.failure(e, "0:1", .enumValue)?.code == .invalidAccessString)
        #expect(r.failure(e, "-1", .enumValueExists)?.code == .invalidAccessString)
    }

    @Test func enum64Targets() throws {
        var l = BTFBuilder()
        let e = l.enumeration("e", values: [("A", 1), ("B", 2)])
        let se = l.enumeration("se", signed: true, values: [("M", -7)])
        let big = l.enum64("big", values: [("H", 0xFFFF_FFFF_FFFF_FFFF)])
        var t = BTFBuilder()
        _ = t.enum64("e", values: [("B", 0x1_0000_0002), ("A", 1)])
        _ = t.enum64("se", signed: true, values: [("M", UInt64(bitPattern: -5))])
        _ = t.enum64("big", values: [("H", 0x8000_0000_0000_0000)])

        let r = try relocator(l, t)
        let b = try r.run(e, "1", .enumValue)
        #expect([b.originalValue, b.newValue] == [2, 0x1_0000_0002])
        #expect(b.targetSpec?.description == "[1] enum64 e::B = 4294967298")
        let m = try r.run(se, "0", .enumValue)
        #expect(m.newValue == 0xFFFF_FFFF_FFFF_FFFB)
        #expect(m.targetSpec?.description == "[2] enum64 se::M = -5")
        let h = try r.run(big, "0", .enumValue)
        #expect([h.originalValue, h.newValue] == [0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000])
        #expect(h.localSpec.description == "[3] enum64 big::H = 18446744073709551615")
    }

    /// libbpf prints a non-matching enum candidate with its spec zeroed: raw_spec[0] is 0, so the line names
    /// the candidate's first enumerator (bpf_core_format_spec after bpf_core_spec_match returned 0).
    @Test func nonMatchingEnumCandidateLogLine() throws {
        var l = BTFBuilder()
        let e = l.enumeration("e", values: [("A", 1), ("B", 2)])
        var t = BTFBuilder()
        _ = t.enumeration("e", values: [("X", 5), ("Y", 6)])
        let result = try relocator(l, t).run(e, "1", .enumValueExists)
        #expect(result.newValue == 0)
        #expect(result.searchLog + result.log == [
            "CO-RE relocating [1] enum e: found target candidate [1] enum e in [vmlinux]",
            "<enumval_exists> [1] enum e::B = 2",
            "non-matching candidate #0 <enumval_exists> [1] enum e::X = 5",
            "no matching targets found",
        ])
    }

    // MARK: Ambiguity and pruning

    @Test func ambiguity() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        func target(_ second: (inout BTFBuilder, UInt32) -> Void) -> BTFBuilder {
            var t = BTFBuilder()
            let int = t.int("int", size: 4, encoding: 1)
            _ = t.record("s", size: 8, [("a", int, 0), ("b", int, 32)])
            second(&t, int)
            return t
        }
        // Different offsets.
        let moved = try relocator(l, target { t, int in _ = t.record("s___v2", size: 16, [("a", int, 0), ("b", int, 64)]) })
        #expect(moved.failure(s, "0:1", .fieldByteOffset)?.code == .ambiguous)
        #expect(try moved.values(s, "0:0", .fieldByteOffset) == [0, 0])
        #expect(moved.candidateIDs(s) == [2, 3])
        // Identical candidates agree.
        let twins = try relocator(l, target { t, int in _ = t.record("s___2", size: 8, [("a", int, 0), ("b", int, 32)]) })
        #expect(try twins.values(s, "0:1", .fieldByteOffset) == [4, 4])
        #expect(twins.candidateIDs(s) == [2, 3])
        // Same offset, different size: a decision ambiguity.
        let wider = try relocator(l, target { t, int in
            _ = t.record("s___2", size: 16, [("a", int, 0), ("b", t.int("long", size: 8, encoding: 1), 32)])
        })
        #expect(try wider.values(s, "0:1", .fieldByteOffset) == [4, 4])
        let error = wider.failure(s, "0:1", .fieldByteSize)
        #expect(error?.code == .ambiguous && error?.message.contains("decision ambiguity") == true)
    }

    @Test func failingCandidatesArePruned() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 16, [("a", lInt, 0), ("b", lInt, 32), ("c", lInt, 64), ("z", lInt, 96)])
        var t = BTFBuilder()
        let int = t.int("int", size: 4, encoding: 1)
        _ = t.record("s", size: 8, [("a", int, 0), ("c", int, 32)])              // 2: no b
        _ = t.record("s___v2", size: 12, [("a", int, 0), ("b", int, 64)])        // 3: no c

        let r = try relocator(l, t)
        // A relocation no candidate matches leaves the list alone.
        #expect(try r.values(s, "0:3", .fieldExists) == [1, 0])
        #expect(r.candidateIDs(s) == [2, 3])
        #expect(try r.values(s, "0:0", .fieldByteOffset) == [0, 0])
        #expect(r.candidateIDs(s) == [2, 3])
        // b: candidate 2 fails, 3 matches; only 3 is kept...
        let b = try r.run(s, "0:1", .fieldByteOffset)
        #expect([b.originalValue, b.newValue] == [4, 8] && b.targetIndex == 0)
        #expect(b.log.contains("non-matching candidate #0 <byte_off> [2] struct s (0 @ offset 0)"))
        #expect(b.log.contains("matching candidate #1 <byte_off> [3] struct s___v2.b (0:1 @ offset 8)"))
        #expect(r.candidates(for: s) == [CoreCandidate(target: 0, id: 3)])
        // ... so c, which only candidate 2 has, no longer exists (libbpf's behaviour too).
        #expect(try r.values(s, "0:2", .fieldExists) == [1, 0])
        #expect(try r.run(s, "0:2", .fieldByteOffset).poison)
        #expect(r.candidateIDs(s) == [3])
        // Without the earlier relocation of b, c is found in candidate 2.
        let fresh = try relocator(l, t)
        #expect(try fresh.values(s, "0:2", .fieldByteOffset) == [8, 4])
        #expect(fresh.candidateIDs(s) == [2])
    }

    @Test func incompatibleFieldKeepsItsRawStepsInTheLog() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        var t = BTFBuilder()
        let int = t.int("int", size: 4, encoding: 1)
        _ = t.record("s", size: 16, [("a", int, 0), ("b", t.pointer(int), 64)])
        let result = try relocator(l, t).run(s, "0:1", .fieldByteOffset)
        #expect(result.poison)
        // libbpf pops the accessor but not the raw index or the bit offset (bpf_core_match_member).
        #expect(result.log.contains("non-matching candidate #0 <byte_off> [3] struct s (0:1 @ offset 8)"))
    }

    @Test func fullLog() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 8, [("a", lInt, 0), ("b", lInt, 32)])
        var t = BTFBuilder()
        let int = t.int("int", size: 4, encoding: 1)
        _ = t.int("long", size: 8, encoding: 1)
        _ = t.record("s", size: 12, [("x", int, 0), ("a", int, 32), ("b", int, 64)])
        let r = try relocator(l, t)
        let first = try r.run(s, "0:1", .fieldByteOffset)
        #expect(first.searchLog + first.log == [
            "CO-RE relocating [2] struct s: found target candidate [3] struct s in [vmlinux]",
            "<byte_off> [2] struct s.b (0:1 @ offset 4)",
            "matching candidate #0 <byte_off> [3] struct s.b (0:2 @ offset 8)",
        ])
        // The candidate search is logged once per local type.
        let second = try r.run(s, "0:0", .fieldByteSize)
        #expect(second.searchLog.isEmpty)
        #expect(second.log == [
            "<byte_sz> [2] struct s.a (0:0 @ offset 0)",
            "matching candidate #0 <byte_sz> [3] struct s.a (0:1 @ offset 4)",
        ])
    }
}

// MARK: - Hostile BTF

@Suite struct CoreRelocatorHostileTests {
    @Test func selfReferencingTypes() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let loop = b.typedef("loop", 2)                        // itself
        let pointerLoop = b.pointer(4)                         // 3 → 4 → 3
        _ = b.pointer(pointerLoop)
        let pointerTypedef = b.typedef("ploop", pointerLoop)
        let arrayLoop = b.array(6, index: int, count: 2)       // element: itself
        let holder = b.record("holder", size: 16, [("arr", arrayLoop, 0), ("l", loop, 0)])
        #expect(loop == 2 && arrayLoop == 6)
        let r = try relocator(b, b)

        for kind in [BTFCoreRelocationKind.typeExists, .typeSize, .typeMatches, .targetTypeID] {
            #expect(r.failure(loop, "0", kind)?.code == .badBTF, "\(kind)")
            #expect(r.failure(pointerTypedef, "0", kind)?.code == .badBTF, "\(kind)")
        }
        #expect(r.failure(loop, "0:0", .fieldByteOffset)?.code == .badBTF)
        #expect(r.failure(holder, "0:0:1", .fieldByteOffset)?.code == .badBTF)
        #expect(r.failure(holder, "0:0", .fieldExists)?.code == .badBTF)
        #expect(r.failure(holder, "0:1", .fieldByteOffset)?.code == .badBTF)
        #expect(try r.values(holder, "0", .typeExists) == [1, 1])
    }

    @Test func anonymousMemberLoopInTheTarget() throws {
        var l = BTFBuilder()
        let lInt = l.int("int", size: 4, encoding: 1)
        let s = l.record("s", size: 4, [("x", lInt, 0)])
        var t = BTFBuilder()
        _ = t.int("int", size: 4, encoding: 1)
        _ = t.record("s", size: 4, [(nil, 2, 0)])              // an anonymous member of its own type
        #expect(try relocator(l, t).failure(s, "0:0", .fieldByteOffset)?.code == .specTooDeep)
    }

    @Test func badMemberTypes() throws {
        var bad = BTFBuilder()
        let int = bad.int("int", size: 4, encoding: 1)
        _ = bad.record("s", size: 4, [("x", 999, 0), ("y", int, 0)])
        #expect(throws: BTFError.self) { try TypeGraph(data: bad.view()) }

        var b = BTFBuilder()
        let bInt = b.int("int", size: 4, encoding: 1)
        let proto = b.functionProto(returning: bInt, params: [])
        let function = b.type("fn", kind: 12, sizeOrType: proto)
        let s = b.record("s", size: 8, [("f", function, 0), ("v", 0, 0), ("fwd", b.forward("later"), 0)])
        let r = try relocator(b, b)
        #expect(r.failure(s, "0:0", .fieldByteOffset)?.code == .badBTF)
        #expect(r.failure(s, "0:1", .fieldByteSize)?.code == .badBTF)
        #expect(r.failure(s, "0:2", .fieldByteOffset)?.code == .badBTF)
        #expect(r.failure(s, "0:0:0", .fieldByteOffset)?.code == .invalidAccessString)
        // field_exists needs no size: a member of void type matches nothing (void is not a field type).
        #expect(try r.values(s, "0:1", .fieldExists) == [1, 0])
        #expect(r.failure(999, "0", .typeExists)?.code == .badBTF)
        #expect(try r.values(s, "0", .typeMatches) == [1, 0])
        let unknown = r.relocateFailure(s, kind: 13)
        #expect(unknown?.code == .unsupportedKind)
        // Root void: anonymous.
        #expect(r.failure(0, "0", .typeExists)?.code == .anonymousType)
        #expect(try r.values(0, "0", .localTypeID) == [0, 0])
    }

    @Test(arguments: ["", ":0", "0:", "0::1", "a", "0:x", "0:-1", "0:1:-2", "0:4294967295", "0:2147483648",
                      "0:99999999999999999999", "0:2147483647", "-", "0:+", "0:1:2:3:4:5:6:7"])
    func malformedAccessStrings(access: String) throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let array = b.array(int, index: int, count: 4)
        let s = b.record("s", size: 20, [("a", int, 0), ("arr", array, 32)])
        let r = try relocator(b, b)
        for kind in [BTFCoreRelocationKind.fieldByteOffset, .fieldExists, .typeExists, .enumValue] {
            let error = r.failure(s, access, kind)
            #expect(error?.code == .invalidAccessString, "\(kind) '\(access)': \(String(describing: error))")
        }
    }

    /// Huge or negative root indices are accepted as libbpf accepts them (the bit offset wraps at 32 bits).
    @Test func wrappingRootIndices() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let s = b.record("s", size: 8, [("a", int, 0), ("b", int, 32)])
        let r = try relocator(b, b)
        let negative = try r.run(s, "-1:1", .fieldByteOffset)
        #expect(negative.localSpec.bitOffset == UInt32(bitPattern: -64 + 32))
        #expect(negative.localSpec.description == "[2] struct s[4294967295].b (-1:1 @ offset 536870908)")
        #expect(negative.newValue == negative.originalValue)
        let huge = try r.run(s, "2147483647:0", .fieldByteOffset)
        #expect(huge.localSpec.bitOffset == UInt32(truncatingIfNeeded: Int64(Int32.max) * 64))
        #expect(huge.newValue == huge.originalValue)
    }
}

extension CoreRelocator {
    /// The error of a relocation with a raw kind number.
    fileprivate func relocateFailure(_ id: UInt32, kind: UInt32) -> CoreRelocationError? {
        do {
            _ = try relocate(BTFCoreRelocation(instructionOffset: 0, typeID: id, accessStringOffset: 0, kind: kind),
                             accessString: "0")
            return nil
        } catch {
            return error
        }
    }
}
