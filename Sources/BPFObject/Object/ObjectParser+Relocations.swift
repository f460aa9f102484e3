import BTF
import ELF

extension ObjectParser {
    /// ELF relocation sections the loader reads nothing from.
    static func isIgnoredRelocationTarget(_ name: String) -> Bool {
        name == ".BTF" || name == ".BTF.ext" || name.hasPrefix(".debug") || name == ".eh_frame"
    }

    /// Decodes every relocation of a code section and files it under the function holding its instruction.
    mutating func attachRelocations(to functions: inout [FunctionSpec], maps: [MapSpec], variables: [VariableSpec],
                           externs: [ExternSpec]) throws(ObjectError) {
        for relocationSection in file.relocationSections {
            let targetIndex = Int(relocationSection.info)
            guard targetIndex > 0, targetIndex < file.sections.count else { continue }
            let target = file.sections[targetIndex]
            if Self.isIgnoredRelocationTarget(target.name) || target.index == mapsIndex { continue }
            guard target.isExecutable else {
                if relocationSection.size > 0 {
                    notes.append("ignored relocations of non-code section '\(target.name)'")
                }
                continue
            }
            let records: [ELFRelocation]
            do { records = try file.relocations(in: relocationSection, symbolCount: symbols.count) } catch {
                throw ObjectError(.elf, "cannot read relocations of '\(target.name)'", cause: error)
            }
            for record in records {
                guard record.offset % 8 == 0, record.offset < UInt64(target.size) else {
                    throw ObjectError(.relocation, "relocation of '\(target.name)' at byte offset \(record.offset) does not point at an instruction")
                }
                let slot = Int(record.offset / 8)
                guard let owner = functions.firstIndex(where: {
                    $0.sectionIndex == targetIndex && ($0.sectionSlot..<($0.sectionSlot + $0.instructions.count)).contains(slot)
                }) else {
                    throw ObjectError(.relocation, "relocation of '\(target.name)' at instruction \(slot) lies outside every function")
                }
                let function = functions[owner]
                let instruction = function.instructions[slot - function.sectionSlot]
                let classified = try classify(record, instruction: instruction, in: target, slot: slot,
                                              maps: maps, variables: variables, externs: externs)
                functions[owner].relocations.append(RelocationSpec(
                    slot: slot - function.sectionSlot, elfType: record.type,
                    symbol: symbolName(record.symbolIndex), target: classified))
            }
        }
        for index in functions.indices { functions[index].relocations.sort { $0.slot < $1.slot } }
    }

    func symbolName(_ index: Int) -> String {
        let symbol = symbols[index]
        if symbol.type == .section, Int(symbol.sectionIndex) < file.sections.count {
            return file.sections[Int(symbol.sectionIndex)].name
        }
        return symbol.name
    }

    /// Decides what a relocation means from the symbol's section and the instruction it patches.
    func classify(_ record: ELFRelocation, instruction: Instruction, in section: ELFSection, slot: Int,
                  maps: [MapSpec], variables: [VariableSpec], externs: [ExternSpec]) throws(ObjectError) -> RelocationTarget {
        let symbol = symbols[record.symbolIndex]
        let name = symbolName(record.symbolIndex)
        // Built only for an error: most objects have thousands of relocations and no error.
        var at: String { "relocation of '\(section.name)' instruction \(slot) against '\(name)'" }
        let isCall = instruction.isCall
        let isLoad = instruction.isLoadImm64
        guard isCall || isLoad else {
            throw ObjectError(.relocation, "\(at): the instruction (opcode 0x\(String(instruction.opcode.rawValue, radix: 16))) is neither a call nor an LD_IMM64")
        }
        if symbol.isUndefined {
            guard let extern = externs.first(where: { $0.name == symbol.name }) else {
                throw ObjectError(.relocation, "\(at): the symbol is undefined but is not a known extern")
            }
            if case .unresolved = extern.kind {
                return isCall ? .kfunc(name: extern.name) : .externVariable(name: extern.name)
            }
            if isCall {
                guard case .kfunc = extern.kind else {
                    throw ObjectError(.relocation, "\(at): a call to extern '\(extern.name)', which is not a function")
                }
                return .kfunc(name: extern.name)
            }
            return .externVariable(name: extern.name)
        }
        let symbolSection = Int(symbol.sectionIndex)
        guard symbolSection < file.sections.count else {
            throw ObjectError(.relocation, "\(at): the symbol's section \(symbolSection) does not exist")
        }
        let targetSection = file.sections[symbolSection]
        if targetSection.isExecutable {
            if isCall {
                guard instruction.src == CallKind.bpfFunction.rawValue else {
                    throw ObjectError(.relocation, "\(at): a relocated call must be a bpf-to-bpf call (src_reg 1)")
                }
                // Global functions: imm is -1 and the symbol names the callee; static ones: the section
                // symbol plus imm.
                let targetSlot = Int(symbol.value / 8) + Int(instruction.imm) + 1
                return .call(section: targetSection.name, slot: targetSlot,
                             function: functionName(section: symbolSection, slot: targetSlot))
            }
            let byteOffset = Int64(symbol.value) + Int64(instruction.imm)
            guard byteOffset >= 0, byteOffset % 8 == 0 else {
                throw ObjectError(.relocation, "\(at): callback address \(byteOffset) is not an instruction offset")
            }
            let targetSlot = Int(byteOffset / 8)
            return .callback(section: targetSection.name, slot: targetSlot,
                             function: functionName(section: symbolSection, slot: targetSlot))
        }
        guard isLoad else {
            throw ObjectError(.relocation, "\(at): a call to a symbol in data section '\(targetSection.name)'")
        }
        if symbolSection == mapsIndex || symbolSection == legacyMapsIndex {
            guard let map = maps.first(where: { $0.sectionIndex == symbolSection && $0.sectionOffset == symbol.value && !$0.isInternal }) else {
                throw ObjectError(.relocation, "\(at): no map is defined at offset \(symbol.value) of '\(targetSection.name)'")
            }
            return .map(name: map.name)
        }
        if let map = maps.first(where: { $0.sectionIndex == symbolSection && $0.isInternal }) {
            // Section symbols carry the offset in the instruction; variable symbols in their value.
            let addend = symbol.type == .section ? Int64(instruction.imm) : Int64(symbol.value) + Int64(instruction.imm)
            let variable = variables.first {
                $0.section == targetSection.name && UInt64(max(addend, 0)) >= $0.offset
                    && UInt64(max(addend, 0)) < $0.offset + max($0.size, 1)
            }
            return .globalData(map: map.name, addend: addend, variable: variable?.name)
        }
        throw ObjectError(.relocation, "\(at): the symbol is in section '\(targetSection.name)', which is not a map, data or code section")
    }

    /// The function symbol starting exactly at `slot` of a section.
    func functionName(section: Int, slot: Int) -> String? {
        symbols.first { Int($0.sectionIndex) == section && $0.type == .function && $0.value == UInt64(slot) * 8 }?.name
    }
}
