import ByteParsing
import Testing
import TestSupport
@testable import ELF

/// Compares our sections and symbols with `llvm-readelf` on every fixture and cilium/ebpf test object.
@Suite struct ReadelfDifferentialTests {
    static var objects: [String] { TestPaths.fixtureObjects + TestPaths.ciliumObjects() + TestPaths.ciliumObjects(suffix: "-eb.elf") }

    @Test func sectionsAndSymbolsMatchLLVMReadelf() throws {
        let readelf = Tool.path("llvm-readelf")
        try require(readelf != nil, "llvm-readelf is not installed (Debian package llvm)")
        try require(!Self.objects.isEmpty, "no objects to compare (Fixtures/ empty and golang-github-cilium-ebpf-dev missing)")
        var compared = 0
        for path in Self.objects {
            let file = try ELFFile(contentsOf: path)
            let output = try Tool.run(readelf!, ["-S", "-s", "-W", path])
            #expect(output.status == 0)
            let (sections, symbols) = parse(output.stdout)
            let ours = file.sections.dropFirst().map {
                ReadelfSection(index: $0.index, name: $0.name, type: $0.type.description, offset: $0.offset, size: $0.size)
            }
            #expect(ours == sections, "sections of \(path)")
            let ourSymbols = try file.symbols().map { symbol in
                ReadelfSymbol(index: symbol.index, value: symbol.value, size: symbol.size, type: symbol.type.description,
                              binding: symbol.binding.description, visibility: symbol.visibility.description,
                              section: sectionColumn(symbol.sectionIndex), name: symbol.name)
            }
            // readelf prints section symbols without a name in -s output; compare on everything else.
            #expect(ourSymbols.map(\.withoutSectionName) == symbols.map(\.withoutSectionName), "symbols of \(path)")
            compared += 1
        }
        #expect(compared == Self.objects.count)
    }

    func sectionColumn(_ index: UInt32) -> String {
        switch index {
        case 0: "UND"
        case ELFConstant.sectionAbsolute: "ABS"
        case ELFConstant.sectionCommon: "COM"
        default: String(index)
        }
    }

    struct ReadelfSection: Equatable, CustomStringConvertible {
        var index: Int, name: String, type: String, offset: Int, size: Int
        var description: String { "[\(index)] \(name) \(type) off=\(offset) size=\(size)" }
    }

    struct ReadelfSymbol: Equatable {
        var index: Int, value: UInt64, size: UInt64, type: String, binding: String, visibility: String, section: String, name: String
        var withoutSectionName: ReadelfSymbol {
            var copy = self
            if type == "SECTION" { copy.name = "" }
            return copy
        }
    }

    /// Parses `llvm-readelf -S -s -W` (GNU style).
    func parse(_ text: String) -> ([ReadelfSection], [ReadelfSymbol]) {
        var sections: [ReadelfSection] = []
        var symbols: [ReadelfSymbol] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.trimmingPrefix(while: { $0 == " " })
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                let index = Int(line[line.index(after: line.startIndex)..<close].trimmingPrefix(while: { $0 == " " })) ?? -1
                guard index > 0 else { continue }
                let fields = line[line.index(after: close)...].split(separator: " ")
                guard fields.count >= 5 else { continue }
                sections.append(ReadelfSection(index: index, name: String(fields[0]), type: String(fields[1]),
                                               offset: Int(fields[3], radix: 16) ?? -1, size: Int(fields[4], radix: 16) ?? -1))
            } else if let colon = line.firstIndex(of: ":"), let index = Int(line[..<colon]) {
                let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 6 else { continue }
                symbols.append(ReadelfSymbol(
                    index: index, value: UInt64(fields[0], radix: 16) ?? 0,
                    size: UInt64(fields[1]) ?? (fields[1].hasPrefix("0x") ? UInt64(fields[1].dropFirst(2), radix: 16) ?? 0 : 0),
                    type: String(fields[2]), binding: String(fields[3]), visibility: String(fields[4]),
                    section: String(fields[5]), name: fields.count > 6 ? fields[6...].joined(separator: " ") : ""))
            }
        }
        return (sections, symbols)
    }
}
