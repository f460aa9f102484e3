import ByteParsing
import Testing

@testable import BTF

/// A blob with every kind and the kind_flag variants; ids are listed in `AllKinds`.
struct AllKinds {
    var builder = BTFBuilder()
    var int = 0 as UInt32, uchar = 0 as UInt32, bool = 0 as UInt32, pointer = 0 as UInt32, array = 0 as UInt32
    var structure = 0 as UInt32, bitfields = 0 as UInt32, union = 0 as UInt32
    var enumeration = 0 as UInt32, signedEnum = 0 as UInt32
    var forward = 0 as UInt32, unionForward = 0 as UInt32, typedef = 0 as UInt32
    var volatile = 0 as UInt32, const = 0 as UInt32, restrict = 0 as UInt32
    var function = 0 as UInt32, proto = 0 as UInt32, variable = 0 as UInt32, dataSection = 0 as UInt32
    var float = 0 as UInt32, declTag = 0 as UInt32, memberTag = 0 as UInt32, typeTag = 0 as UInt32
    var enum64 = 0 as UInt32, signedEnum64 = 0 as UInt32, flavored = 0 as UInt32, externFunction = 0 as UInt32

    init(order: ByteOrder = .little) {
        builder = BTFBuilder(order: order)
        var b = builder
        int = b.int("int", size: 4, encoding: 1)
        uchar = b.int("unsigned char", size: 1, encoding: 2)
        bool = b.int("_Bool", size: 1, encoding: 4, bits: 1, offset: 0)
        pointer = b.pointer(int)
        array = b.array(int, index: int, count: 16)
        structure = b.composite("task_struct", size: 80, members: [("pid", int, 0, 0), ("comm", array, 32, 0),
                                                                   (nil, pointer, 576, 0)])
        bitfields = b.composite("flags", size: 4, members: [("a", int, 0, 3), ("b", int, 3, 5), ("c", int, 8, 0)],
                                kindFlag: true)
        union = b.composite(nil, union: true, size: 8, members: [("x", int, 0, 0), ("p", pointer, 0, 0)])
        enumeration = b.enumeration("color", values: [("RED", 0), ("BIG", 0xFFFF_FFFF)])
        signedEnum = b.enumeration("delta", signed: true, values: [("MINUS", -5), ("PLUS", 7)])
        forward = b.type("later", kind: 7)
        unionForward = b.type("maybe", kind: 7, kindFlag: true)
        typedef = b.type("pid_t", kind: 8, sizeOrType: int)
        volatile = b.type(nil, kind: 9, sizeOrType: typedef)
        const = b.type(nil, kind: 10, sizeOrType: volatile)
        restrict = b.type(nil, kind: 11, sizeOrType: pointer)
        proto = b.functionProto(returning: int, params: [("ctx", pointer), (nil, 0)])
        function = b.type("handler", kind: 12, vlen: 1, sizeOrType: proto)
        externFunction = b.type("helper", kind: 12, vlen: 2, sizeOrType: proto)
        variable = b.type("counter", kind: 14, sizeOrType: int, tail: [1])
        dataSection = b.dataSection(".bss", size: 8, variables: [(variable, 0, 4)])
        float = b.type("double", kind: 16, sizeOrType: 8)
        declTag = b.type("kfunc", kind: 17, sizeOrType: function, tail: [UInt32(bitPattern: -1)])
        memberTag = b.type("user", kind: 17, sizeOrType: structure, tail: [1])
        typeTag = b.type("rcu", kind: 18, sizeOrType: int)
        enum64 = b.enum64("big", values: [("HUGE", 0xFFFF_FFFF_FFFF_FFF0), ("ONE", 1)])
        signedEnum64 = b.enum64(nil, signed: true, values: [("NEG", UInt64(bitPattern: -2))])
        flavored = b.composite("task_struct___old", size: 4, members: [("pid", int, 0, 0)])
        builder = b
    }

    func graph() throws -> TypeGraph { try TypeGraph(data: builder.view()) }
}

@Suite struct TypeGraphTests {
    @Test(arguments: [ByteOrder.little, .big])
    func decodesEveryKind(order: ByteOrder) throws {
        let k = AllKinds(order: order)
        let g = try k.graph()
        #expect(g.byteOrder == order)
        #expect(g.count == k.builder.count)
        #expect(g.firstOwnID == 1)

        guard case .int(let info) = try g.type(k.int).payload else { Issue.record("int"); return }
        #expect(info == BTFIntInfo(size: 4, encoding: .signed, bitOffset: 0, bits: 32))
        guard case .int(let c) = try g.type(k.uchar).payload else { Issue.record("char"); return }
        #expect(c.encoding == .char && !c.isSigned)
        guard case .int(let b) = try g.type(k.bool).payload else { Issue.record("bool"); return }
        #expect(b.encoding == .bool && b.bits == 1)

        guard case .pointer(let target) = try g.type(k.pointer).payload else { Issue.record("ptr"); return }
        #expect(target == k.int)
        #expect(try g.arrayInfo(of: k.array) == BTFArrayInfo(elementType: k.int, indexType: k.int, count: 16))

        let members = try g.members(of: k.structure)
        #expect(members.count == 3)
        #expect(try g.type(k.structure).kind == .struct)
        #expect(g.string(at: members[1].nameOffset) == "comm")
        #expect(members[1].bitOffset == 32 && members[1].bitfieldSize == 0)
        #expect(members[2].nameOffset == 0 && members[2].bitOffset == 576)
        let bits = try g.members(of: k.bitfields)
        #expect(bits.map(\.bitOffset) == [0, 3, 8])
        #expect(bits.map(\.bitfieldSize) == [3, 5, 0])
        #expect(try g.type(k.union).kind == .union)
        #expect(try g.members(of: k.union).count == 2)

        let colors = try g.enumerators(of: k.enumeration)
        #expect(!colors.isSigned && !colors.is64Bit)
        #expect(colors.map(\.rawValue) == [0, 0xFFFF_FFFF])
        let delta = try g.enumerators(of: k.signedEnum)
        #expect(delta.isSigned)
        #expect(delta.map(\.signedValue) == [-5, 7])
        let big = try g.enumerators(of: k.enum64)
        #expect(big.is64Bit && big[0].rawValue == 0xFFFF_FFFF_FFFF_FFF0)
        #expect(try g.enumerators(of: k.signedEnum64)[0].signedValue == -2)

        guard case .forward(let isUnion1) = try g.type(k.forward).payload,
              case .forward(let isUnion2) = try g.type(k.unionForward).payload else { Issue.record("fwd"); return }
        #expect(!isUnion1 && isUnion2)
        #expect(try g.type(k.typedef).referencedType == k.int)
        #expect(try g.kind(of: k.volatile) == .volatile)
        #expect(try g.kind(of: k.const) == .const)
        #expect(try g.kind(of: k.restrict) == .restrict)

        guard case .function(let proto, let linkage) = try g.type(k.function).payload else { Issue.record("func"); return }
        #expect(proto == k.proto && linkage == .global)
        guard case .function(_, let externLinkage) = try g.type(k.externFunction).payload else { return }
        #expect(externLinkage == .external)
        let params = try g.parameters(of: k.proto)
        #expect(params.count == 2 && params.isVariadic)
        #expect(g.string(at: params[0].nameOffset) == "ctx")

        guard case .variable(let varType, let varLinkage) = try g.type(k.variable).payload else { return }
        #expect(varType == k.int && varLinkage == .global)
        let vars = try g.dataSectionVariables(of: k.dataSection)
        #expect(Array(vars) == [BTFDataSectionVariable(type: k.variable, offset: 0, size: 4)])
        guard case .float(let floatSize) = try g.type(k.float).payload else { return }
        #expect(floatSize == 8)
        guard case .declTag(let tagTarget, let component) = try g.type(k.declTag).payload else { return }
        #expect(tagTarget == k.function && component == -1)
        guard case .declTag(_, let memberComponent) = try g.type(k.memberTag).payload else { return }
        #expect(memberComponent == 1)
        #expect(try g.kind(of: k.typeTag) == .typeTag)
        #expect(try g.name(of: k.typeTag) == "rcu")
        #expect(try g.kind(of: 0) == .void)
    }

    @Test func resolvesModifiersTypedefsAndSizes() throws {
        let k = AllKinds()
        let g = try k.graph()
        #expect(try g.skipModifiers(k.const) == k.typedef)
        #expect(try g.skipModifiersAndTypedefs(k.const) == k.int)
        #expect(try g.skipModifiersAndTypedefs(k.typeTag) == k.int)
        #expect(try g.skipTypedefs(k.typedef) == k.int)
        #expect(try g.resolvedSize(of: k.const) == 4)
        #expect(try g.resolvedSize(of: k.array) == 64)
        #expect(try g.resolvedSize(of: k.pointer) == 8)
        #expect(try g.resolvedSize(of: k.structure) == 80)
        #expect(try g.resolvedSize(of: k.variable) == 4)
        #expect(try g.resolvedSize(of: k.enum64) == 8)
        #expect(throws: BTFError.self) { try g.resolvedSize(of: k.function) }
        #expect(throws: BTFError.self) { try g.resolvedSize(of: k.forward) }
        #expect(throws: BTFError.self) { try g.resolvedSize(of: 0) }
    }

    /// The name index's sort: both the insertion sort for small inputs and the radix passes for large ones
    /// order by the high half and keep equal high halves in their original order.
    @Test(arguments: [0, 1, 2, 255, 256, 257, 3000])
    func nameIndexSortIsStableByHighHalf(count: Int) {
        var generator = SystemRandomNumberGenerator()
        // Few distinct high halves, so that equal keys are common; the low half records the original index.
        var values = (0..<count).map { UInt64.random(in: 0..<40, using: &generator) << 32 | UInt64($0) }
        let expected = values.sorted()
        radixSortByHighHalf(&values)
        #expect(values == expected)
    }

    @Test func nameIndexAndEssentialNames() throws {
        let k = AllKinds()
        let g = try k.graph()
        #expect(g.ids(named: "task_struct") == [k.structure])
        #expect(g.ids(named: "task_struct___old") == [k.flavored])
        #expect(g.ids(named: "nope").isEmpty)
        #expect(g.ids(named: "").isEmpty)
        #expect(g.ids(withEssentialName: "task_struct") == [k.structure, k.flavored])
        #expect(g.ids(withEssentialName: "int") == [k.int])
        #expect(g.firstID(named: "task_struct", kind: .struct) == k.structure)
        #expect(g.firstID(named: "task_struct", kind: .union) == nil)
        #expect(try g.type(k.structure, hasName: "task_struct"))
        #expect(try !g.type(k.structure, hasName: "task_struc"))
        #expect(try g.name(of: k.pointer) == "")
        #expect(TypeGraph.essentialName(of: "task_struct___old") == "task_struct")
        #expect(TypeGraph.essentialName(of: "a___b___c") == "a___b")
        #expect(TypeGraph.essentialName(of: "____x") == "____x")
        #expect(TypeGraph.essentialName(of: "x____y") == "x____y")
        #expect(TypeGraph.essentialName(of: "x___") == "x___")
        #expect(TypeGraph.essentialName(of: "__x___y") == "__x")
    }

    @Test func duplicateNamesKeepAscendingIDs() throws {
        var b = BTFBuilder()
        var ids: [UInt32] = []
        for i in 0..<50 {
            ids.append(b.type("dup", kind: 7))
            _ = b.type("name_\(i)", kind: 7)
        }
        let g = try TypeGraph(data: b.view())
        #expect(g.ids(named: "dup") == ids)
        for i in 0..<50 { #expect(g.ids(named: "name_\(i)") == [ids[i] + 1]) }
    }

    @Test func acceptsLongerHeader() throws {
        let k = AllKinds()
        let g = try TypeGraph(data: k.builder.view(headerLength: 32))
        #expect(g.header.headerLength == 32)
        #expect(try g.name(of: k.structure) == "task_struct")
    }

    @Test func splitGraphContinuesIDsAndStrings() throws {
        let k = AllKinds()
        let base = try k.graph()
        var s = BTFBuilder(splitOnBaseCount: base.count, baseStringLength: base.stringLength)
        let baseName = try base.nameOffset(of: k.structure)
        let own = s.type("module_thing", kind: 4, vlen: 1, sizeOrType: 8,
                         tail: [baseName, k.structure, 0])
        let alias = s.rawType(nameOffset: baseName, kind: 8, sizeOrType: own)
        let split = try TypeGraph(splitData: s.view(), base: base)
        #expect(own == UInt32(base.count + 1))
        #expect(split.firstOwnID == own && split.count == base.count + 2)
        #expect(split.ownIDs == own..<alias + 1)
        let empty = try TypeGraph(splitData: BTFBuilder(splitOnBaseCount: base.count,
                                                        baseStringLength: base.stringLength).view(), base: base)
        #expect(empty.ownIDs.isEmpty && empty.isEmpty && empty.rawDump().isEmpty)
        #expect(try empty.name(of: k.structure) == "task_struct")
        #expect(try split.name(of: own) == "module_thing")
        #expect(try split.name(of: alias) == "task_struct")
        #expect(try split.name(of: k.int) == "int")
        #expect(try split.members(of: own).first?.type == k.structure)
        #expect(split.ids(named: "task_struct") == [k.structure, alias])
        #expect(split.ids(named: "task_struct", includeBase: false) == [alias])
        #expect(split.ids(withEssentialName: "task_struct") == [k.structure, k.flavored, alias])
        #expect(try split.resolvedSize(of: alias) == 8)
        let dump = String(decoding: split.rawDump(), as: UTF8.self)
        #expect(dump == """
            [\(own)] STRUCT 'module_thing' size=8 vlen=1
            \t'task_struct' type_id=\(k.structure) bits_offset=0
            [\(alias)] TYPEDEF 'task_struct' type_id=\(own)

            """)
        // A reference past the split's last id.
        var bad = BTFBuilder(splitOnBaseCount: base.count, baseStringLength: base.stringLength)
        bad.type("x", kind: 2, sizeOrType: UInt32(base.count + 5))
        #expect(throws: BTFError.self) { try TypeGraph(splitData: bad.view(), base: base) }
    }

    @Test func rawDumpFormat() throws {
        let k = AllKinds()
        let g = try k.graph()
        #expect(try g.rawDump(of: k.int) == "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n")
        #expect(try g.rawDump(of: k.bool) == "[3] INT '_Bool' size=1 bits_offset=0 nr_bits=1 encoding=BOOL\n")
        #expect(try g.rawDump(of: k.bitfields) == """
            [\(k.bitfields)] STRUCT 'flags' size=4 vlen=3
            \t'a' type_id=1 bits_offset=0 bitfield_size=3
            \t'b' type_id=1 bits_offset=3 bitfield_size=5
            \t'c' type_id=1 bits_offset=8

            """)
        #expect(try g.rawDump(of: k.signedEnum) == """
            [\(k.signedEnum)] ENUM 'delta' encoding=SIGNED size=4 vlen=2
            \t'MINUS' val=-5
            \t'PLUS' val=7

            """)
        #expect(try g.rawDump(of: k.enum64) == """
            [\(k.enum64)] ENUM64 'big' encoding=UNSIGNED size=8 vlen=2
            \t'HUGE' val=18446744073709551600ULL
            \t'ONE' val=1ULL

            """)
        #expect(try g.rawDump(of: k.signedEnum64).contains("'NEG' val=-2LL"))
        #expect(try g.rawDump(of: k.unionForward) == "[\(k.unionForward)] FWD 'maybe' fwd_kind=union\n")
        #expect(try g.rawDump(of: k.variable) == "[\(k.variable)] VAR 'counter' type_id=1, linkage=global\n")
        #expect(try g.rawDump(of: k.dataSection) == """
            [\(k.dataSection)] DATASEC '.bss' size=8 vlen=1
            \ttype_id=\(k.variable) offset=0 size=4 (VAR 'counter')

            """)
        #expect(try g.rawDump(of: k.declTag) == "[\(k.declTag)] DECL_TAG 'kfunc' type_id=\(k.function) component_idx=-1\n")
        #expect(try g.rawDump(of: k.externFunction).hasSuffix("linkage=extern\n"))
        #expect(try g.rawDump(of: k.proto) == """
            [\(k.proto)] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2
            \t'ctx' type_id=\(k.pointer)
            \t'(anon)' type_id=0

            """)
        let json = String(decoding: g.jsonDump(), as: UTF8.self)
        #expect(json.hasPrefix("{\"types\":[{\"id\":1,\"kind\":\"INT\",\"name\":\"int\",\"size\":4,"))
        #expect(json.contains("{\"name\":\"a\",\"type_id\":1,\"bits_offset\":0,\"bitfield_size\":3}"))
        #expect(json.hasSuffix("]}\n"))
    }

    @Test func jsonEscapesNames() throws {
        var b = BTFBuilder()
        b.type("a\"b\\c\td", kind: 7)
        let g = try TypeGraph(data: b.view())
        #expect(String(decoding: g.jsonDump(), as: UTF8.self)
                    == "{\"types\":[{\"id\":1,\"kind\":\"FWD\",\"name\":\"a\\\"b\\\\c\\td\",\"fwd_kind\":\"struct\"}]}\n")
    }

    @Test func concurrentLookupsShareOneIndex() async throws {
        let g = try AllKinds().graph()
        await withTaskGroup(of: [UInt32].self) { group in
            for _ in 0..<8 { group.addTask { g.ids(named: "task_struct") } }
            for await ids in group { #expect(ids == [6]) }
        }
    }
}
