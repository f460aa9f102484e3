import ByteParsing
import Testing

@Suite struct HexTests {
    @Test func twoLowerCaseDigitsPerByte() {
        #expect(Hex.lowercase([0x00, 0x0f, 0x10, 0xab, 0xff]) == "000f10abff")
        #expect(Hex.lowercase([]) == "")
        let tag: (UInt8, UInt8) = (0xde, 0xad)
        #expect(withUnsafeBytes(of: tag) { Hex.lowercase($0) } == "dead")
    }
}
