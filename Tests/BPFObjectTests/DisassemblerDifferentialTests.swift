import BPFObject
import Foundation
import ByteParsing
import ELF
import Testing
import TestSupport

/// Compares the plain disassembly of every executable section with `llvm-objdump -d` (LLVM 21 or newer,
/// whose syntax the plain style follows) on the committed fixtures and cilium/ebpf's test objects, in
/// both byte orders.
@Suite struct DisassemblerDifferentialTests {
    static var objects: [String] {
        TestPaths.fixtureObjects + TestPaths.ciliumObjects() + TestPaths.ciliumObjects(suffix: "-eb.elf")
    }

    /// The oldest LLVM whose BPF syntax the plain style reproduces (hexadecimal immediates, `w` registers
    /// for narrow loads, `gotol`, `may_goto`, `load_acquire`).
    static let minimumLLVMMajor = 21

    /// The newest llvm-objdump found: the Swift toolchain's, `llvm-objdump` on PATH, or a versioned one.
    static func findObjdump() -> (path: String, major: Int)? {
        var candidates = ["/opt/swift/usr/bin/llvm-objdump"]
        if let onPath = Tool.path("llvm-objdump") { candidates.append(onPath) }
        for major in (minimumLLVMMajor...30).reversed() {
            if let versioned = Tool.path("llvm-objdump-\(major)") { candidates.append(versioned) }
        }
        var best: (path: String, major: Int)?
        for candidate in candidates {
            guard let output = try? Tool.run(candidate, ["--version"]), output.status == 0,
                  let major = llvmMajor(output.stdout) else { continue }
            if best == nil || major > best!.major { best = (candidate, major) }
        }
        return best
    }

    /// The major version in `LLVM version 21.0.0`.
    static func llvmMajor(_ versionText: String) -> Int? {
        guard let range = versionText.range(of: "LLVM version ") else { return nil }
        return Int(versionText[range.upperBound...].prefix { $0.isNumber })
    }

    @Test func plainDisassemblyMatchesLLVMObjdump() throws {
        let objdump = Self.findObjdump()
        try require(objdump != nil, "llvm-objdump is not installed (Debian package llvm, or the Swift toolchain's)")
        try require(objdump!.major >= Self.minimumLLVMMajor,
                    "llvm-objdump \(objdump!.path) is LLVM \(objdump!.major); the plain syntax follows LLVM \(Self.minimumLLVMMajor)+")
        let objects = Self.objects
        try require(!objects.isEmpty, "no objects to compare (Fixtures/ empty and golang-github-cilium-ebpf-dev missing)")

        let disassembler = Disassembler()
        var comparedInstructions = 0
        var comparedSections = 0
        var orders: Set<ByteOrder> = []
        for path in objects {
            let file = try ELFFile(contentsOf: path)
            let output = try Tool.run(objdump!.path, ["-d", "-z", "--no-show-raw-insn", path])
            #expect(output.status == 0, "llvm-objdump failed on \(path): \(output.stderr)")
            let theirs = Self.parse(output.stdout)
            for section in file.sections where section.isExecutable && section.size > 0 {
                let code = try Instruction.decode(file.contents(of: section))
                let ours = Dictionary(uniqueKeysWithValues: disassembler.lines(of: code).map { ($0.slot, $0.text) })
                let expected = theirs[section.name] ?? [:]
                #expect(!expected.isEmpty, "llvm-objdump printed nothing for \(section.name) in \(path)")
                for slot in Set(ours.keys).union(expected.keys).sorted() where ours[slot] != expected[slot] {
                    Issue.record("\(path) \(section.name) slot \(slot): ours \(ours[slot] ?? "-") llvm \(expected[slot] ?? "-")")
                }
                comparedInstructions += expected.count
                comparedSections += 1
                orders.insert(file.byteOrder)
            }
        }
        #expect(comparedInstructions > 0)
        print("disassembly differential: \(comparedInstructions) instructions in \(comparedSections) sections of \(objects.count) objects (\(orders.map(\.description).sorted().joined(separator: ", "))) against \(objdump!.path)")
    }

    /// `llvm-objdump -d --no-show-raw-insn` output: section name -> slot -> instruction text, without the
    /// ` <label>` llvm appends to jump targets.
    static func parse(_ text: String) -> [String: [Int: String]] {
        var result: [String: [Int: String]] = [:]
        var section: String?
        let header = "Disassembly of section "
        for line in text.split(separator: "\n") {
            if line.hasPrefix(header) {
                section = String(line.dropFirst(header.count).dropLast())  // drop the trailing ':'
                continue
            }
            guard let section, let tab = line.firstIndex(of: "\t") else { continue }
            let number = line[..<tab].trimmingPrefix(while: { $0 == " " })
            guard number.last == ":", let slot = Int(number.dropLast()) else { continue }
            var instruction = String(line[line.index(after: tab)...])
            if instruction != Disassembler.unknownText, instruction.hasSuffix(">"),
               let open = instruction.range(of: " <", options: .backwards),
               !instruction[open.upperBound...].contains("<") {
                instruction = String(instruction[..<open.lowerBound])
            }
            result[section, default: [:]][slot] = instruction
        }
        return result
    }
}
