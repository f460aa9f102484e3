import ByteParsing
import Testing

@testable import BTF

@Suite struct BTFExtTests {
    struct Fixture {
        var graph: TypeGraph
        var text: UInt32, probe: UInt32, file: UInt32, line: UInt32, access: UInt32
    }

    func fixture() throws -> Fixture {
        var b = BTFBuilder()
        _ = b.int("int", size: 4)
        let text = b.string(".text")
        let probe = b.string("tracepoint/syscalls/sys_enter_execve")
        let file = b.string("prog.c")
        let line = b.string("\treturn 0;")
        let access = b.string("0:1")
        return Fixture(graph: try TypeGraph(data: b.view()), text: text, probe: probe, file: file, line: line,
                       access: access)
    }

    @Test(arguments: [ByteOrder.little, .big])
    func decodesAllSubsections(order: ByteOrder) throws {
        let f = try fixture()
        var e = BTFExtBuilder(order: order)
        e.functionInfo = [(f.probe, [[0, 1], [64, 1]]), (f.text, [[0, 1]])]
        e.lineInfo = [(f.probe, [[8, f.file, f.line, 12 << 10 | 5]])]
        e.coreRelocations = [(f.probe, [[16, 1, f.access, 0], [24, 1, f.access, 11]])]
        let ext = try BTFExt(data: ByteView(e.build()), strings: f.graph)
        #expect(ext.header.headerLength == 32)
        #expect(ext.functionInfo.map(\.sectionName) == ["tracepoint/syscalls/sys_enter_execve", ".text"])
        #expect(ext.functionInfo[0].records == [BTFFunctionInfo(instructionOffset: 0, typeID: 1),
                                                BTFFunctionInfo(instructionOffset: 64, typeID: 1)])
        let line = try #require(ext.lineInfo.first?.records.first)
        #expect(line.line == 12 && line.column == 5 && line.instructionOffset == 8)
        #expect(f.graph.string(at: line.fileNameOffset) == "prog.c")
        #expect(f.graph.string(at: line.lineOffset) == "\treturn 0;")
        let relocations = try #require(ext.coreRelocations.first?.records)
        #expect(relocations.map(\.relocationKind) == [.fieldByteOffset, .enumValue])
        #expect(relocations.map { f.graph.string(at: $0.accessStringOffset) } == ["0:1", "0:1"])
        #expect(BTFCoreRelocationKind.enumValue.description == "enumval_value")
    }

    @Test func largerRecordSizesAreSkipped() throws {
        let f = try fixture()
        var e = BTFExtBuilder()
        e.functionInfoRecordSize = 12
        e.lineInfoRecordSize = 24
        e.coreRecordSize = 20
        e.functionInfo = [(f.text, [[0, 1], [40, 1]])]
        e.lineInfo = [(f.text, [[0, f.file, f.line, 1 << 10], [8, f.file, f.line, 2 << 10]])]
        e.coreRelocations = [(f.text, [[8, 1, f.access, 2], [16, 1, f.access, 8]])]
        let ext = try BTFExt(data: ByteView(e.build()), strings: f.graph)
        #expect(ext.functionInfoRecordSize == 12)
        #expect(ext.functionInfo[0].records.map(\.instructionOffset) == [0, 40])
        #expect(ext.lineInfo[0].records.map(\.line) == [1, 2])
        #expect(ext.coreRelocations[0].records.map(\.kind) == [2, 8])
    }

    @Test func headerWithoutCoreRelocations() throws {
        let f = try fixture()
        var e = BTFExtBuilder()
        e.coreRelocations = nil
        e.functionInfo = [(f.text, [[0, 1]])]
        let ext = try BTFExt(data: ByteView(e.build()), strings: f.graph)
        #expect(ext.header.headerLength == 24)
        #expect(ext.coreRelocations.isEmpty && ext.lineInfo.isEmpty)
        #expect(ext.functionInfo.count == 1)
    }

    @Test func malformedExt() throws {
        let f = try fixture()
        func parse(_ e: BTFExtBuilder) -> BTFError? {
            btfError { _ = try BTFExt(data: ByteView(e.build()), strings: f.graph) }
        }
        func parseBytes(_ bytes: [UInt8]) -> BTFError? {
            btfError { _ = try BTFExt(data: ByteView(bytes), strings: f.graph) }
        }
        var small = BTFExtBuilder()
        small.functionInfoRecordSize = 4
        small.functionInfo = [(f.text, [[0]])]
        #expect(parse(small)?.code == .badRecordSize)

        var badName = BTFExtBuilder()
        badName.functionInfo = [(9999, [[0, 1]])]
        #expect(parse(badName)?.code == .badStringOffset)

        var badLine = BTFExtBuilder()
        badLine.lineInfo = [(f.text, [[0, 9999, f.line, 0]])]
        #expect(parse(badLine)?.code == .badStringOffset)

        var badAccess = BTFExtBuilder()
        badAccess.coreRelocations = [(f.text, [[0, 1, 9999, 0]])]
        #expect(parse(badAccess)?.code == .badStringOffset)

        var good = BTFExtBuilder()
        good.functionInfo = [(f.text, [[0, 1]])]
        var bytes = good.build()
        // Count claims a million records.
        bytes.replaceSubrange(32 + 8..<32 + 12, with: [0x40, 0x42, 0x0F, 0x00])
        #expect(parseBytes(bytes)?.code == .truncatedExtRecord)
        bytes = good.build()
        bytes.replaceSubrange(32 + 8..<32 + 12, with: [0, 0, 0, 0])
        #expect(parseBytes(bytes)?.code == .truncatedExtRecord)
        bytes = good.build()
        bytes[12] = 0xFF  // func_info_len past the end
        #expect(parseBytes(bytes)?.code == .sectionOutOfBounds)
        #expect(parseBytes(Array(good.build()[0..<6]))?.code == .truncatedHeader)
        bytes = good.build()
        bytes[0] = 0
        #expect(parseBytes(bytes)?.code == .badMagic)
        for length in 0..<good.build().count {
            #expect(parseBytes(Array(good.build()[0..<length])) != nil)
        }
    }
}
