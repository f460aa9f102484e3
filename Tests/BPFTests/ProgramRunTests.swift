import BPFObject
import CBPF
import Foundation
import SystemPackage
import Testing
import TestSupport
@testable import BPF

#if canImport(Glibc)
import Glibc
#endif

/// Hand-assembled programs for the live tests.
enum TinyPrograms {
    /// `r0 = 7; exit`.
    static let returnSeven = [instruction(0xb7, imm: 7), instruction(0x95)]
    /// `r0 = *(u32 *)(r1 + 0); exit`: a socket filter returning `skb->len` (keep the whole packet).
    static let returnLength = [instruction(0x61, dst: 0, src: 1), instruction(0x95)]
    /// `r2 = 100; call bpf_xdp_adjust_tail; r0 = XDP_PASS; exit`: grows the packet by 100 bytes.
    static let growPacket = [instruction(0xb7, dst: 2, imm: 100), instruction(0x85, imm: 65),
                             instruction(0xb7, imm: 2), instruction(0x95)]

    /// Writes `value` at key 0 of the array map behind `mapFD` (`bpf_map_update_elem`), returns 0.
    static func storeInMap(_ mapFD: Int32, value: Int32) -> [UInt64] {
        [
            instruction(0x18, dst: 1, src: 1, imm: mapFD), 0,          // r1 = map (BPF_PSEUDO_MAP_FD)
            instruction(0x62, dst: 10, offset: -4, imm: 0),             // *(u32 *)(r10 - 4) = 0
            instruction(0x7a, dst: 10, offset: -16, imm: value),        // *(u64 *)(r10 - 16) = value
            instruction(0xbf, dst: 2, src: 10), instruction(0x07, dst: 2, imm: -4),   // r2 = r10 - 4
            instruction(0xbf, dst: 3, src: 10), instruction(0x07, dst: 3, imm: -16),  // r3 = r10 - 16
            instruction(0xb7, dst: 4, imm: 0),                          // r4 = BPF_ANY
            instruction(0x85, imm: 2),                                  // call bpf_map_update_elem
            instruction(0xb7, imm: 0), instruction(0x95),
        ]
    }

    /// An Ethernet frame of `count` bytes (IPv4 ethertype, zero payload).
    static func frame(_ count: Int = 64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes[12] = 0x08
        return bytes
    }
}

@Suite struct ProgramRunTests {
    @Test func xdpReturnsSeven() throws {
        try LiveObjectTestSupport.requireRoot()
        let program = try Program.load(type: .xdp, instructions: TinyPrograms.returnSeven, name: "ret_seven")
        #expect(program.name == "ret_seven")
        #expect(program.type == .xdp)
        let input = TinyPrograms.frame()
        let result = try program.testRun(input: input, repeat: 100)
        #expect(result.returnValue == 7)
        #expect(result.output == input)
        #expect(result.context == nil)
    }

    @Test func decodedInstructionsAndBytecodeLoadToo() throws {
        try LiveObjectTestSupport.requireRoot()
        let decoded = try Program.load(type: .xdp, instructions: [
            Instruction(opcode: .move64Immediate, dst: 0, imm: 7), Instruction(opcode: .exit),
        ])
        #expect(try decoded.testRun(input: TinyPrograms.frame()).returnValue == 7)
        let bytes = TinyPrograms.returnSeven.flatMap { withUnsafeBytes(of: $0) { Array($0) } }
        let raw = try Program.load(type: .xdp, bytecode: bytes)
        #expect(try raw.testRun(input: TinyPrograms.frame()).returnValue == 7)
        #expect(try raw.info().tag == decoded.info().tag)
        let ragged = expectBPFError { () throws(BPFError) in _ = try Program.load(type: .xdp, bytecode: [0x95]) }
        #expect(ragged?.code == .invalidArgument)
    }

    @Test func socketFilterSeesThePacket() throws {
        try LiveObjectTestSupport.requireRoot()
        let program = try Program.load(type: .socketFilter, instructions: TinyPrograms.returnLength, license: "MIT")
        // skb->len counts the bytes after the Ethernet header, which the kernel pulls as for a received frame.
        let result = try program.testRun(input: TinyPrograms.frame(60))
        #expect(result.returnValue == 60 - 14)
        // With a context in and out (a zeroed struct __sk_buff is accepted; the kernel's may be larger than
        // the system header's, and the context buffer grows to it). `mark` goes in and comes back.
        var context = [UInt8](repeating: 0, count: MemoryLayout<__sk_buff>.size)
        let markOffset = MemoryLayout<__sk_buff>.offset(of: \__sk_buff.mark)!
        context[markOffset] = 0x2a
        let withContext = try program.testRun(input: TinyPrograms.frame(80), context: context)
        #expect(withContext.returnValue == 80 - 14)
        #expect((withContext.context?.count ?? 0) >= context.count)
        #expect(withContext.context?[markOffset] == 0x2a)
    }

    @Test func outputGrowsOnENOSPC() throws {
        try LiveObjectTestSupport.requireRoot()
        let program = try Program.load(type: .xdp, instructions: TinyPrograms.growPacket)
        let result = try program.testRun(input: TinyPrograms.frame(64), outputSize: 64)
        #expect(result.returnValue == 2)
        #expect(result.output.count == 164)
        #expect(result.output.prefix(64).elementsEqual(TinyPrograms.frame(64)))
    }

    @Test func testRunRefusals() throws {
        try LiveObjectTestSupport.requireRoot()
        let program = try Program.load(type: .xdp, instructions: TinyPrograms.returnSeven)
        let short = expectBPFError { () throws(BPFError) in _ = try program.testRun(input: [1, 2, 3]) }
        #expect(short?.command == .programTestRun)
        #expect(short?.errno == .invalidArgument)
    }

    @Test func verifierRejectionCarriesTheLog() throws {
        try LiveObjectTestSupport.requireRoot()
        let error = expectBPFError { () throws(BPFError) in
            _ = try Program.load(type: .xdp, instructions: [instruction(0x95)], name: "bad", logSize: 1 << 16)
        }
        #expect(error?.code == .verifier)
        #expect(error?.log?.contains("R0 !read_ok") == true)
        #expect(error?.message.contains("xdp program bad") == true)
        let silent = expectBPFError { () throws(BPFError) in _ = try Program.load(type: .xdp, instructions: [instruction(0x95)]) }
        #expect(silent?.code == .verifier)
        #expect(silent?.log == nil)
    }

    @Test func infoAndMapIDs() throws {
        try LiveObjectTestSupport.requireRoot()
        let map = try Map.create(type: .array, keySize: 4, valueSize: 8, maxEntries: 1, name: "test_store")
        let program = try Program.load(type: .xdp, instructions: TinyPrograms.storeInMap(map.descriptor.rawValue, value: 1234),
                                       name: "store")
        #expect(try program.testRun(input: TinyPrograms.frame()).returnValue == 0)
        #expect(try map.lookup(UInt32(0), as: UInt64.self) == 1234)

        let info = try program.info()
        #expect(info.id != 0)
        #expect(info.type == .xdp)
        #expect(info.name == "store")
        #expect(info.tag.count == 16 && info.tag.allSatisfy(\.isHexDigit) && info.tag != String(repeating: "0", count: 16))
        #expect(info.verifiedInstructions > 0)
        #expect(info.mapIDs == [try map.info().id])
        #expect(info.loadTime > .zero)
        #expect(info.createdByUID == geteuid())
        #expect(info.isGPLCompatible)
        #expect(info.translatedSize > 0)
        #expect(info.btfID == 0)

        let byID = try Program.open(id: info.id)
        #expect(byID.type == .xdp && byID.name == "store" && byID.sectionName == "")
        #expect(try byID.info().id == info.id)
        #expect(try byID.info().tag == info.tag)

        let noMaps = try Program.load(type: .xdp, instructions: TinyPrograms.returnSeven)
        #expect(try noMaps.info().mapIDs.isEmpty)
    }

    @Test func statisticsCountRunsWhileEnabled() throws {
        try LiveObjectTestSupport.requireRoot()
        let program = try Program.load(type: .xdp, instructions: TinyPrograms.returnSeven)
        do {
            let statistics = try Program.enableStatistics()
            _ = try program.testRun(input: TinyPrograms.frame(), repeat: 50)
            let info = try program.info()
            #expect(info.runCount >= 50)
            #expect(info.runTimeNanoseconds > 0)
            withExtendedLifetime(statistics) {}
        }
    }

    @Test func pinOpenUnpin() throws {
        try LiveObjectTestSupport.requireRoot()
        let program = try Program.load(type: .xdp, instructions: TinyPrograms.returnSeven, name: "pinned")
        let path = try LiveObjectTestSupport.pinPath("prog")
        try program.pin(at: path)
        defer { unlink(path) }
        #expect(program.pinnedPath == path)
        let opened = try Program.open(pinnedAt: path)
        #expect(opened.pinnedPath == path)
        #expect(opened.name == "pinned" && opened.type == .xdp)
        #expect(try opened.info().id == program.info().id)
        #expect(try opened.testRun(input: TinyPrograms.frame()).returnValue == 7)
        let taken = expectBPFError { () throws(BPFError) in try opened.pin(at: path) }
        #expect(taken?.code == .pinning)

        // A pinned map is not a program.
        let map = try Map.create(type: .array, keySize: 4, valueSize: 4, maxEntries: 1)
        let mapPath = try LiveObjectTestSupport.pinPath("map")
        try map.pin(at: mapPath)
        defer { try? map.unpin() }
        let wrongKind = expectBPFError { () throws(BPFError) in _ = try Program.open(pinnedAt: mapPath) }
        #expect(wrongKind?.message.contains("not a bpf-prog") == true)

        try opened.unpin()
        #expect(!FileManager.default.fileExists(atPath: path))
        let gone = expectBPFError { () throws(BPFError) in _ = try Program.open(pinnedAt: path) }
        #expect(gone?.code == .notFound)
        // Not on bpffs.
        let notBPFFS = expectBPFError { () throws(BPFError) in try program.pin(at: "/tmp/swift-load-not-bpffs-\(getpid())") }
        #expect(notBPFFS?.code == .pinning)
    }
}
