import Testing
@testable import ByteParsing

@Suite struct ASCIITextTests {
    @Test func searchesBytesLikeCharacters() {
        let text = "tracepoint/syscalls/sys_enter_execve"
        let slash = text.firstIndex(ofASCII: UInt8(ascii: "/"))
        #expect(slash == text.firstIndex(of: "/"))
        #expect(text.lastIndex(ofASCII: UInt8(ascii: "/")) == text.lastIndex(of: "/"))
        #expect(text.firstIndex(ofASCII: UInt8(ascii: ":")) == nil)
        #expect(text.lastIndex(ofASCII: UInt8(ascii: ":")) == nil)
        #expect(text.suffix(afterASCII: slash!) == "syscalls/sys_enter_execve")
        #expect(text.dropFirst(asciiCount: 11) == "syscalls/sys_enter_execve")
        #expect(text.hasASCIIPrefix("tracepoint/"))
        #expect(!text.hasASCIIPrefix("tracepoint/x"))
        #expect("".hasASCIIPrefix(""))
    }

    @Test func nonASCIITextAroundSeparators() {
        // A separator byte never occurs inside a multi-byte character, so indices stay scalar-aligned.
        let text = "uprobe/é/lib:fñ+0x10"[...]
        let colon = text.firstIndex(ofASCII: UInt8(ascii: ":"))!
        #expect(text[..<colon] == "uprobe/é/lib")
        #expect(text.suffix(afterASCII: colon) == "fñ+0x10")
        let plus = text.lastIndex(ofASCII: UInt8(ascii: "+"))!
        #expect(text.suffix(afterASCII: plus) == "0x10")
        #expect(text.dropFirst(asciiCount: 7) == "é/lib:fñ+0x10")
    }

    @Test func decimalDigits() {
        #expect(DecimalText.string(0) == "0")
        #expect(DecimalText.string(7) == "7")
        #expect(DecimalText.string(10) == "10")
        #expect(DecimalText.string(268_737) == "268737")
        #expect(DecimalText.string(UInt64.max) == String(UInt64.max))
    }
}
