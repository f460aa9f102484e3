import Testing
@testable import ByteParsing

@Suite struct ByteViewTests {
    @Test func readsBothByteOrders() {
        let le = ByteView([1, 2, 3, 4, 5, 6, 7, 8], order: .little)
        #expect(le.u32(0) == 0x0403_0201)
        #expect(le.with(order: .big).u32(0) == 0x0102_0304)
        #expect(le.u64(1) == nil)
        #expect(le.u16(6) == 0x0807)
    }

    @Test func rejectsOverflowingRanges() {
        let v = ByteView([0, 0, 0, 0])
        #expect(!v.contains(Int.max, 2))
        #expect(!v.contains(2, Int.max))
        #expect(!v.contains(-1, 1))
        #expect(v.slice(1, 3) != nil)
        #expect(v.slice(1, 4) == nil)
    }

    @Test func cStrings() {
        let v = ByteView(Array("ab\0cd".utf8))
        #expect(v.cString(at: 0) == "ab")
        #expect(v.cString(at: 3) == nil)  // unterminated
        #expect(v.cString(at: 9) == nil)
        #expect(v.cStringLength(at: 2) == 0)
    }
}
