import ByteParsing
import Testing

@testable import BTF

/// A blob with every kind the sanitiser rewrites; ids are the fields.
struct SanitizerInput {
    var builder: BTFBuilder
    var int: UInt32 = 0, char: UInt32 = 0, pointer: UInt32 = 0, array: UInt32 = 0, record: UInt32 = 0
    var signedEnum: UInt32 = 0, float: UInt32 = 0, proto: UInt32 = 0, globalFunction: UInt32 = 0
    var externFunction: UInt32 = 0, staticFunction: UInt32 = 0, counter: UInt32 = 0, buffer: UInt32 = 0
    var data: UInt32 = 0, optional: UInt32 = 0, declTag: UInt32 = 0, typeTag: UInt32 = 0, tagged: UInt32 = 0
    var enum64: UInt32 = 0, enum64Second: UInt32 = 0, typedef: UInt32 = 0

    init(order: ByteOrder = .little) {
        var b = BTFBuilder(order: order)
        int = b.int("int", size: 4, encoding: 1)
        char = b.int("char", size: 1, encoding: 2)
        pointer = b.pointer(int)
        array = b.array(char, index: int, count: 16)
        record = b.composite("pair", size: 8, members: [("a", int, 0, 0), ("b", int, 32, 0)])
        signedEnum = b.enumeration("delta", signed: true, values: [("MINUS", -5), ("PLUS", 7)])
        float = b.type("double", kind: 16, sizeOrType: 8)
        proto = b.functionProto(returning: int, params: [("ctx", pointer), (nil, int)])
        globalFunction = b.type("handler", kind: 12, vlen: 1, sizeOrType: proto)
        externFunction = b.type("helper", kind: 12, vlen: 2, sizeOrType: proto)
        staticFunction = b.type("local", kind: 12, vlen: 0, sizeOrType: proto)
        counter = b.type("counter", kind: 14, sizeOrType: int, tail: [1])
        buffer = b.type("buffer", kind: 14, sizeOrType: array, tail: [0])
        data = b.dataSection(".data.rel?x", size: 20, variables: [(counter, 0, 4), (buffer, 4, 16)])
        optional = b.dataSection("?.struct_ops", size: 0, variables: [])
        declTag = b.type("arg:ctx", kind: 17, sizeOrType: globalFunction, tail: [0])
        typeTag = b.type("user", kind: 18, sizeOrType: int)
        tagged = b.pointer(typeTag)
        enum64 = b.enum64("big", values: [("HUGE", 0xFFFF_FFFF_FFFF_FFF0), ("ONE", 1)])
        enum64Second = b.enum64(nil, signed: true, values: [("NEG", UInt64(bitPattern: -2))])
        typedef = b.typedef("pair_t", record)
        builder = b
    }

    func graph() throws -> TypeGraph { try TypeGraph(data: builder.view()) }

    /// The input sanitised for `support`, decoded again.
    func sanitized(_ support: BTFKernelSupport) throws -> TypeGraph {
        try TypeGraph(data: ByteView(try graph().kernelImage(for: support)))
    }
}

/// Every feature but the ones named.
func kernelSupport(without features: WritableKeyPath<BTFKernelSupport, Bool>...) -> BTFKernelSupport {
    var support = BTFKernelSupport.all
    for feature in features { support[keyPath: feature] = false }
    return support
}

@Suite struct BTFKernelImageTests {
    // MARK: - Identity

    @Test func unchangedWithEveryFeature() throws {
        let input = SanitizerInput()
        #expect(try input.graph().kernelImage(for: .all) == input.builder.build())
        let kinds = AllKinds()
        #expect(try kinds.graph().kernelImage(for: .all) == kinds.builder.build())
    }

    @Test func unchangedWithoutFeaturesItDoesNotUse() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let pointer = b.pointer(int)
        let array = b.array(int, index: int, count: 4)
        let record = b.composite("s", size: 24, members: [("p", pointer, 0, 0), ("a", array, 64, 0)])
        _ = b.enumeration("e", values: [("A", 1)])
        _ = b.typedef("s_t", record)
        _ = b.forward("later")
        _ = b.const(pointer)
        let bytes = b.build()
        #expect(try TypeGraph(data: ByteView(bytes)).kernelImage(for: .none) == bytes)
    }

    // MARK: - Needed features

    /// `neededFeatures` holds exactly the features whose absence would change the image, so that a
    /// loader probing only those sanitises as if it had probed everything.
    @Test(arguments: 0..<4)
    func neededFeaturesAreTheOnesSanitisingWouldChange(blob: Int) throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        _ = b.enumeration("e", values: [("A", 1)])  // unsigned: no kind flag
        let proto = b.functionProto(returning: int, params: [("x", int)])
        _ = b.type("local", kind: 12, vlen: 0, sizeOrType: proto)  // static
        let counter = b.type("counter", kind: 14, sizeOrType: int, tail: [1])
        _ = b.dataSection(".data", size: 4, variables: [(counter, 0, 4)])
        let partial = b.build()
        var m = BTFBuilder()
        _ = m.pointer(m.int("int", size: 4, encoding: 1))
        let minimal = m.build()

        let bytes = [SanitizerInput().builder.build(), AllKinds().builder.build(), partial, minimal][blob]
        let graph = try TypeGraph(data: ByteView(bytes))
        let needed = BTFImage(graph).neededFeatures
        let features: [WritableKeyPath<BTFKernelSupport, Bool>] = [
            \.functions, \.globalFunctions, \.dataSections, \.questionMarkDataSections, \.floats, \.declTags,
            \.typeTags, \.enum64,
        ]
        for feature in features {
            let changed = try graph.kernelImage(for: kernelSupport(without: feature)) != bytes
            #expect(needed[keyPath: feature] == changed, "\(feature)")
        }
        if blob == 2 {
            #expect(needed == BTFKernelSupport(functions: true, globalFunctions: false, dataSections: true,
                                               questionMarkDataSections: false, floats: false, declTags: false,
                                               typeTags: false, enum64: false))
        }
        if blob == 3 { #expect(needed == .none) }
    }

    @Test func otherByteOrderIsWrittenInHostOrder() throws {
        let other: ByteOrder = ByteOrder.host == .little ? .big : .little
        let swapped = try SanitizerInput(order: other).graph()
        #expect(swapped.byteOrder == other)
        let host = SanitizerInput(order: .host)
        #expect(try swapped.kernelImage(for: .all) == host.builder.build())
        #expect(try swapped.kernelImage(for: .none) == host.graph().kernelImage(for: .none))
    }

    @Test func headerIsTheStandardOneEvenWhenTheInputsIsLonger() throws {
        let input = SanitizerInput()
        let long = try TypeGraph(data: input.builder.view(headerLength: 32))
        let image = try long.kernelImage(for: .all)
        #expect(image == input.builder.build())
        let reread = try TypeGraph(data: ByteView(image))
        #expect(reread.header.headerLength == 24)
        #expect(reread.header.typeOffset == 0)
        #expect(reread.header.stringOffset == reread.header.typeLength)
    }

    // MARK: - Replacements

    @Test func variablesAndDataSections() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.dataSections))
        #expect(g.count == input.builder.count)
        for id in [input.counter, input.buffer] {
            let t = try g.type(id)
            guard case .int(let info) = t.payload else { Issue.record("VAR \(id) is \(t.kind)"); continue }
            #expect(info == BTFIntInfo(size: 1, encoding: [], bitOffset: 0, bits: 8))
            #expect(t.vlen == 0 && !t.kindFlag)
        }
        #expect(try g.name(of: input.counter) == "counter")
        #expect(try g.name(of: input.buffer) == "buffer")

        let data = try g.type(input.data)
        #expect(data.kind == .struct)
        #expect(data.size == 20)
        #expect(try g.name(of: input.data) == "_data_rel_x")
        let members = Array(try g.members(of: input.data))
        #expect(members.count == 2)
        #expect(members.map { g.string(at: $0.nameOffset) } == ["counter", "buffer"])
        #expect(members.map(\.type) == [input.counter, input.buffer])
        #expect(members.map(\.bitOffset) == [0, 32])

        let optional = try g.type(input.optional)
        #expect(optional.kind == .struct && optional.vlen == 0)
        #expect(try g.name(of: input.optional) == "__struct_ops")
        // The name changed in place: same offset.
        #expect(try g.nameOffset(of: input.data) == input.graph().nameOffset(of: input.data))
        // Nothing else changed.
        #expect(try g.kind(of: input.globalFunction) == .function)
        #expect(try g.kind(of: input.declTag) == .declTag)
    }

    @Test func questionMarkDataSectionNames() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.questionMarkDataSections))
        #expect(try g.kind(of: input.optional) == .dataSection)
        #expect(try g.name(of: input.optional) == "_.struct_ops")
        // Only a leading '?' changes.
        #expect(try g.name(of: input.data) == ".data.rel?x")
        #expect(try g.kind(of: input.counter) == .variable)
    }

    @Test func functionsAndPrototypes() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.functions))
        let proto = try g.type(input.proto)
        guard case .enum(let size, let isSigned, let values) = proto.payload else {
            Issue.record("FUNC_PROTO became \(proto.kind)")
            return
        }
        #expect(size == 4 && !isSigned && values.count == 2)
        #expect(values.map { g.string(at: $0.nameOffset) } == ["ctx", ""])
        #expect(values.map(\.rawValue) == [UInt64(input.pointer), UInt64(input.int)])
        for (id, name) in [(input.globalFunction, "handler"), (input.externFunction, "helper"),
                           (input.staticFunction, "local")] {
            let t = try g.type(id)
            #expect(t.kind == .typedef && t.vlen == 0)
            #expect(t.referencedType == input.proto)
            #expect(try g.name(of: id) == name)
        }
    }

    @Test func globalFunctions() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.globalFunctions))
        for id in [input.globalFunction, input.externFunction, input.staticFunction] {
            let t = try g.type(id)
            guard case .function(let proto, let linkage) = t.payload else {
                Issue.record("FUNC \(id) became \(t.kind)")
                continue
            }
            #expect(proto == input.proto && linkage == .static)
        }
        #expect(try g.kind(of: input.proto) == .functionProto)
    }

    @Test func floats() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.floats))
        let t = try g.type(input.float)
        #expect(t.kind == .struct && t.size == 8 && t.vlen == 0 && t.nameOffset == 0)
    }

    @Test func declarationTags() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.declTags))
        let t = try g.type(input.declTag)
        guard case .int(let info) = t.payload else {
            Issue.record("DECL_TAG became \(t.kind)")
            return
        }
        #expect(info == BTFIntInfo(size: 1, encoding: [], bitOffset: 0, bits: 8))
        #expect(try g.name(of: input.declTag) == "arg:ctx")
        #expect(try g.kind(of: input.counter) == .variable)
    }

    @Test func typeTags() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.typeTags))
        let t = try g.type(input.typeTag)
        #expect(t.kind == .const && t.nameOffset == 0 && t.referencedType == input.int)
        #expect(try g.type(input.tagged).referencedType == input.typeTag)
    }

    @Test func enum64AndSignedEnums() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(kernelSupport(without: \.enum64))
        let placeholder = UInt32(input.builder.count + 1)
        #expect(g.count == Int(placeholder))
        let p = try g.type(placeholder)
        #expect(p.payload.intInfo == BTFIntInfo(size: 1, encoding: [], bitOffset: 0, bits: 8))
        #expect(try g.name(of: placeholder) == BTFImage.enum64PlaceholderName)

        for (id, names, size) in [(input.enum64, ["HUGE", "ONE"], 8 as UInt32), (input.enum64Second, ["NEG"], 8)] {
            let t = try g.type(id)
            #expect(t.kind == .union && t.size == size && !t.kindFlag)
            let members = Array(try g.members(of: id))
            #expect(members.map { g.string(at: $0.nameOffset) } == names)
            #expect(members.allSatisfy { $0.type == placeholder && $0.bitOffset == 0 })
        }
        #expect(try g.name(of: input.enum64) == "big")

        let e = try g.type(input.signedEnum)
        #expect(e.kind == .enum && !e.kindFlag && e.vlen == 2)
        #expect(try g.enumerators(of: input.signedEnum).map { UInt32(truncatingIfNeeded: $0.rawValue) }
                == [UInt32(bitPattern: -5), 7])
    }

    @Test func enum64PlaceholderReusesAnExistingString() throws {
        var b = BTFBuilder()
        _ = b.int("enum64_placeholder", size: 4)
        let e = b.enum64("big", values: [("A", 1)])
        let g = try TypeGraph(data: b.view())
        let out = try TypeGraph(data: ByteView(try g.kernelImage(for: kernelSupport(without: \.enum64))))
        #expect(out.stringLength == g.stringLength)
        #expect(out.count == 3)
        #expect(try out.nameOffset(of: 3) == out.nameOffset(of: 1))
        #expect(try out.members(of: e).first?.type == 3)
    }

    @Test func minimalKernelGetsOnlyMinimalKinds() throws {
        let input = SanitizerInput()
        let g = try input.sanitized(.none)
        #expect(g.count == input.builder.count + 1)
        let minimal: Set<BTFKind> = [.int, .pointer, .array, .struct, .union, .enum, .forward, .typedef,
                                     .volatile, .const, .restrict]
        for id in g.ownIDs {
            let t = try g.type(id)
            #expect(minimal.contains(t.kind), "type \(id) is \(t.kind)")
            if t.kind == .enum { #expect(!t.kindFlag) }
        }
        // The DATASEC's members point at the variables turned INTs.
        #expect(try g.members(of: input.data).map(\.type) == [input.counter, input.buffer])
        #expect(try g.kind(of: input.counter) == .int)
    }

    @Test func sanitisingTwiceChangesNothingMore() throws {
        let input = SanitizerInput()
        var image = BTFImage(try input.graph())
        try image.sanitize(for: .none)
        let once = image.bytes()
        try image.sanitize(for: .none)
        // DATASECs are STRUCTs by then and ENUM64s UNIONs: no second placeholder.
        #expect(image.bytes() == once)
    }

    // MARK: - The image

    @Test func imageEdits() throws {
        let input = SanitizerInput()
        var image = BTFImage(try input.graph())
        #expect(image.count == input.builder.count)
        #expect(image.ownIDs == 1..<UInt32(input.builder.count + 1))

        #expect(try image.addString("") == 0)
        let existing = try image.nameOffset(of: input.counter)
        #expect(try image.addString("counter") == existing)
        let fresh = try image.addString("fresh")
        #expect(image.string(at: fresh) == "fresh")
        #expect(try image.addString("fresh") == fresh)

        let variable = try image.addVariable(named: "dummy", type: input.int, linkage: .global)
        try image.setVariable(input.counter, type: input.char, linkage: .static)
        try image.setLinkage(.global, ofFunction: input.staticFunction)
        try image.setParameterName(fresh, at: 1, ofPrototype: input.proto)
        try image.setDataSection(input.data, size: 32, variables: [
            BTFDataSectionVariable(type: input.buffer, offset: 8, size: 16),
            BTFDataSectionVariable(type: variable, offset: 24, size: 4),
        ])
        #expect(try image.dataSectionSize(of: input.data) == 32)
        #expect(try image.parameters(ofPrototype: input.proto).map(\.nameOffset)
                == [input.graph().parameters(of: input.proto)[0].nameOffset, fresh])

        let g = try image.graph()
        #expect(g.count == input.builder.count + 1)
        #expect(try g.name(of: variable) == "dummy")
        guard case .variable(let type, let linkage) = try g.type(input.counter).payload else {
            Issue.record("counter is no VAR")
            return
        }
        #expect(type == input.char && linkage == .static)
        #expect(try g.type(input.staticFunction).payload.functionLinkage == .global)
        #expect(Array(try g.dataSectionVariables(of: input.data)) == [
            BTFDataSectionVariable(type: input.buffer, offset: 8, size: 16),
            BTFDataSectionVariable(type: variable, offset: 24, size: 4),
        ])
        #expect(try g.type(input.data).size == 32)
    }

    @Test func imageRefusesWrongEdits() throws {
        let input = SanitizerInput()
        var image = BTFImage(try input.graph())
        #expect(throws: BTFError.self) { try image.setVariable(input.int, linkage: .global) }
        #expect(throws: BTFError.self) { try image.setLinkage(.global, ofFunction: input.counter) }
        #expect(throws: BTFError.self) { try image.setDataSection(input.data, size: 4, variables: []) }
        #expect(throws: BTFError.self) { try image.setParameterName(0, at: 2, ofPrototype: input.proto) }
        #expect(throws: BTFError.self) { try image.setParameterName(1 << 20, at: 0, ofPrototype: input.proto) }
        #expect(throws: BTFError.self) { try image.addInt(named: "wide", size: 17) }
        do {
            _ = try image.nameOffset(of: 999)
            Issue.record("id 999 exists")
        } catch {
            #expect(error.code == .badTypeID)
        }
        do {
            _ = try image.dataSectionVariables(of: input.int)
            Issue.record("an INT has DATASEC entries")
        } catch {
            #expect(error.code == .wrongKind)
        }
        #expect(try image.kind(of: 0) == .void)
        #expect(image.bytes() == input.builder.build())
    }

    @Test func splitImageKeepsOnlyItsOwnPart() throws {
        let base = try SanitizerInput().graph()
        var b = BTFBuilder(splitOnBaseCount: base.count, baseStringLength: base.stringLength)
        let variable = b.type("split_var", kind: 14, sizeOrType: 1, tail: [1])
        let section = b.dataSection(".data", size: 4, variables: [(variable, 0, 4)])
        // A DATASEC named by a base string: renamed through a copy, the base untouched.
        let renamed = b.rawType(nameOffset: try base.nameOffset(of: SanitizerInput().data), kind: 15, vlen: 0,
                                sizeOrType: 0)
        let split = try TypeGraph(splitData: b.view(), base: base)
        #expect(try split.kernelImage(for: .all) == b.build())

        let out = try TypeGraph(splitData: ByteView(try split.kernelImage(for: .none)), base: base)
        #expect(try out.kind(of: variable) == .int)
        #expect(try out.kind(of: section) == .struct)
        #expect(try out.name(of: section) == "_data")
        #expect(try out.name(of: renamed) == "_data_rel_x")
        #expect(try out.nameOffset(of: renamed) >= base.stringLength)
        #expect(try out.members(of: section).map { out.string(at: $0.nameOffset) } == ["split_var"])
    }
}

extension BTFType.Payload {
    var intInfo: BTFIntInfo? {
        if case .int(let info) = self { return info }
        return nil
    }

    var functionLinkage: BTFFunctionLinkage? {
        if case .function(_, let linkage) = self { return linkage }
        return nil
    }
}
