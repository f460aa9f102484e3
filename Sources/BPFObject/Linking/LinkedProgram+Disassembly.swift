import BTF

extension LinkedProgram {
    /// What the annotated disassembly of the linked stream prints: each function's name as a label at
    /// its first slot, calls and callbacks by the name of the function at their new target (with the new
    /// distance as a note), maps, global data and externs from the moved relocations, source lines from the
    /// rebased `line_info`, and the CO-RE records as notes.
    public func disassemblyAnnotations(btf: TypeGraph?) -> DisassemblyAnnotationTable {
        // The per-function annotations already say everything about data relocations, line_info and
        // CO-RE; give them the final slots. Calls and callbacks are left out: their rewritten imm and the
        // labels at the targets say more than the relocation's symbol.
        let stream = FunctionSpec(
            name: name, sectionName: program.function.sectionName, sectionIndex: program.function.sectionIndex,
            sectionSlot: 0, instructions: instructions, isGlobal: program.function.isGlobal,
            relocations: relocations.compactMap { linked in
                switch linked.relocation.target {
                case .call, .callback: return nil
                default:
                    var moved = linked.relocation
                    moved.slot = linked.slot
                    return moved
                }
            },
            coreRelocations: coreRelocations.map {
                var moved = $0.record
                moved.slot = $0.slot
                return moved
            },
            functionInfo: functionInfo, lineInfo: lineInfo)
        var table = stream.disassemblyAnnotations(btf: btf)
        for function in functions { table.addLabel(function.name, at: function.startSlot) }
        // A callback load shows its distance in the instruction (`func[+0x1e] <sum_callback>`); a call
        // shows only its target's name, so the distance goes in a note.
        for call in calls where call.kind == .call {
            let distance = call.targetSlot - call.slot - 1
            let text = distance < 0 ? "-0x" + String(-distance, radix: 16) : "+0x" + String(distance, radix: 16)
            table.addNote("\(text) <\(call.targetSlot)>", at: call.slot)
        }
        return table
    }
}
