import ByteParsing
import Testing

@testable import BTF

func btfError(_ body: () throws -> Void) -> BTFError? {
    do {
        try body()
        return nil
    } catch let error as BTFError {
        return error
    } catch {
        return nil
    }
}

@Suite struct MalformedTests {
    func parse(_ bytes: [UInt8]) -> BTFError? {
        btfError { _ = try TypeGraph(data: ByteView(bytes)) }
    }

    func patched(_ bytes: [UInt8], at offset: Int, _ value: UInt32) -> [UInt8] {
        var bytes = bytes
        var word: [UInt8] = []
        BTFBuilder.put(value, into: &word, order: .little)
        bytes.replaceSubrange(offset..<offset + 4, with: word)
        return bytes
    }

    @Test func truncatedHeader() {
        let e = parse([0x9F, 0xEB, 1, 0, 24, 0, 0])
        #expect(e?.code == .truncatedHeader)
        #expect(e?.offset == 0)
    }

    @Test func badMagicAndVersion() {
        var bytes = AllKinds().builder.build()
        bytes[0] = 0x12
        #expect(parse(bytes)?.code == .badMagic)
        bytes = AllKinds().builder.build()
        bytes[2] = 2
        #expect(parse(bytes)?.code == .unsupportedVersion)
    }

    @Test func headerLengths() {
        let bytes = AllKinds().builder.build()
        #expect(parse(patched(bytes, at: 4, 16))?.code == .badHeaderLength)
        #expect(parse(patched(bytes, at: 4, 1 << 30))?.code == .truncatedHeader)
    }

    @Test func sectionsPastTheEnd() {
        let bytes = AllKinds().builder.build()
        #expect(parse(patched(bytes, at: 12, 1 << 20))?.code == .sectionOutOfBounds)  // type_len
        #expect(parse(patched(bytes, at: 16, 1 << 20))?.code == .sectionOutOfBounds)  // str_off
        #expect(parse(patched(bytes, at: 20, 1 << 20))?.code == .sectionOutOfBounds)  // str_len
        #expect(parse(patched(bytes, at: 8, 2))?.code == .sectionOutOfBounds)  // misaligned type_off
    }

    @Test func stringSectionShape() {
        var b = BTFBuilder()
        b.type("x", kind: 7)
        var bytes = b.build()
        bytes[bytes.count - 1] = 0x41  // last string not terminated
        let e = parse(bytes)
        #expect(e?.code == .unterminatedString)
        bytes = b.build()
        bytes[24 + b.types.count] = 0x41  // string section does not start with NUL
        #expect(parse(bytes)?.code == .badStringSection)
    }

    @Test func nameOffsetOutsideStrings() {
        var b = BTFBuilder()
        b.type("ok", kind: 7)
        b.rawType(nameOffset: 999, kind: 7)
        let e = parse(b.build())
        #expect(e?.code == .badStringOffset)
        #expect(e?.typeID == 2)
        #expect(e?.offset == 24 + 12)
    }

    @Test func memberNameOutsideStrings() {
        var b = BTFBuilder()
        let int = b.int("int", size: 4)
        b.type("s", kind: 4, vlen: 1, sizeOrType: 4, tail: [5000, int, 0])
        #expect(parse(b.build())?.code == .badStringOffset)
    }

    @Test func unknownKind() {
        var b = BTFBuilder()
        b.type("x", kind: 7)
        b.type("future", kind: 20)
        let e = parse(b.build())
        #expect(e?.code == .unknownKind(20))
        #expect(e?.typeID == 2)
        #expect(e?.offset == 24 + 12)
        #expect(e?.description.contains("unknown kind 20") == true)
        var zero = BTFBuilder()
        zero.type(nil, kind: 0)
        #expect(parse(zero.build())?.code == .unknownKind(0))
    }

    @Test func hugeVlenIsTruncated() {
        var b = BTFBuilder()
        let int = b.int("int", size: 4)
        b.type("s", kind: 4, vlen: 0xFFFF, sizeOrType: 4, tail: [0, int, 0])
        let e = parse(b.build())
        #expect(e?.code == .truncatedType)
        #expect(e?.typeID == 2)
    }

    @Test func truncatedRecordHeader() {
        var b = BTFBuilder()
        b.type("x", kind: 7)
        b.types += [0, 0, 0, 0]
        #expect(parse(b.build())?.code == .truncatedType)
    }

    @Test func badTypeReferences() {
        var b = BTFBuilder()
        b.type("p", kind: 2, sizeOrType: 7)
        let e = parse(b.build())
        #expect(e?.code == .badTypeID)
        #expect(e?.typeID == 1)
        var a = BTFBuilder()
        let int = a.int("int", size: 4)
        _ = a.array(int, index: 99, count: 1)
        #expect(parse(a.build())?.code == .badTypeID)
        var d = BTFBuilder()
        _ = d.dataSection(".data", size: 4, variables: [(42, 0, 4)])
        #expect(parse(d.build())?.code == .badTypeID)
        var m = BTFBuilder()
        _ = m.composite("s", size: 4, members: [("a", 77, 0, 0)])
        #expect(parse(m.build())?.code == .badTypeID)
        var f = BTFBuilder()
        _ = f.functionProto(returning: 0, params: [("a", 12)])
        #expect(parse(f.build())?.code == .badTypeID)
    }

    @Test func queriesOnMissingIDs() throws {
        let g = try AllKinds().graph()
        let e = btfError { _ = try g.type(UInt32(g.count + 1)) }
        #expect(e?.code == .badTypeID)
        #expect(btfError { _ = try g.members(of: 1) }?.code == .wrongKind)
        #expect(btfError { _ = try g.arrayInfo(of: 1) }?.code == .wrongKind)
        #expect(btfError { _ = try g.enumerators(of: 1) }?.code == .wrongKind)
        #expect(btfError { _ = try g.dataSectionVariables(of: 1) }?.code == .wrongKind)
    }

    @Test func selfReferencingTypedefIsAnError() throws {
        var b = BTFBuilder()
        b.type("loop", kind: 8, sizeOrType: 1)  // typedef loop loop;
        b.type("a", kind: 8, sizeOrType: 3)
        b.type(nil, kind: 10, sizeOrType: 2)  // const -> typedef a -> const ...
        let zeroArray = b.array(1, index: 1, count: 0)
        let g = try TypeGraph(data: b.view())
        #expect(btfError { _ = try g.resolvedSize(of: 1) }?.code == .resolutionTooDeep)
        #expect(btfError { _ = try g.skipModifiersAndTypedefs(1) }?.code == .resolutionTooDeep)
        #expect(btfError { _ = try g.skipModifiersAndTypedefs(2) }?.code == .resolutionTooDeep)
        #expect(btfError { _ = try g.skipTypedefs(1) }?.code == .resolutionTooDeep)
        #expect(btfError { _ = try g.resolvedSize(of: zeroArray) }?.code == .resolutionTooDeep)
        #expect(try g.skipModifiers(3) == 2)
    }

    @Test func sizeOverflowIsAnError() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4)
        let big = b.array(int, index: int, count: 0x4000_0000)
        let bigger = b.array(big, index: int, count: 0x10)
        let g = try TypeGraph(data: b.view())
        #expect(btfError { _ = try g.resolvedSize(of: bigger) }?.code == .wrongKind)
    }

    @Test func emptyBaseStringSection() {
        var bytes = BTFBuilder().build()
        bytes.removeLast()
        bytes = patched(bytes, at: 20, 0)
        #expect(parse(bytes)?.code == .badStringSection)
    }

    /// Every truncation of a valid blob is either accepted (a shorter valid blob cannot occur here since
    /// lengths are in the header) or rejected with an error: never a crash.
    @Test func everyTruncationFailsCleanly() {
        let bytes = AllKinds().builder.build()
        for length in 0..<bytes.count {
            #expect(parse(Array(bytes[0..<length])) != nil)
        }
    }

    /// Random single-byte corruptions never crash, and queries on whatever parses stay safe.
    @Test func corruptedBytesNeverCrash() {
        let bytes = AllKinds().builder.build()
        var state: UInt64 = 0x1234_5678
        for _ in 0..<3000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var copy = bytes
            let position = Int(state >> 33) % copy.count
            copy[position] = UInt8(truncatingIfNeeded: state >> 20)
            guard let g = try? TypeGraph(data: ByteView(copy)) else { continue }
            for id in 0...UInt32(g.count) {
                _ = try? g.type(id)
                _ = try? g.resolvedSize(of: id)
                _ = try? g.skipModifiersAndTypedefs(id)
                _ = try? g.name(of: id)
                if let members = try? g.members(of: id) { for m in members { _ = g.string(at: m.nameOffset) } }
            }
            _ = g.rawDump()
            _ = g.jsonDump()
            _ = g.ids(withEssentialName: "task_struct")
        }
    }
}
