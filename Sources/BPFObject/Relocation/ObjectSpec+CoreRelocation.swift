import BTF

extension ObjectSpec {
    /// Whether any function carries CO-RE relocations (only then is a target BTF needed).
    public var hasCoreRelocations: Bool { functions.contains { !$0.coreRelocations.isEmpty } }

    /// Applies CO-RE to every function's own instructions, before linking, as libbpf does; returns every
    /// relocation's outcome ordered by function (entry programs, then subprograms) and instruction.
    ///
    /// Decisions are taken in libbpf's order (`.BTF.ext` section blocks, then records), loaded programs
    /// first, because candidates that fail are pruned for the later relocations of the same local type.
    /// A failed relocation leaves its instruction unchanged; the caller decides whether to go on (the
    /// loader refuses the object, `swift-load reloc` reports it).
    /// - Throws: ``ObjectError`` only when the object has CO-RE relocations but no BTF.
    public mutating func applyCoreRelocations(targets: CoreTargets) throws(ObjectError) -> [CoreRelocationOutcome] {
        guard hasCoreRelocations else { return [] }
        guard let btf else { throw ObjectError(.btf, "the object has CO-RE relocations but no BTF") }
        let relocator = CoreRelocator(local: btf, targets: targets)

        // (function index in `functions` order, record index): programs first, then subprograms.
        struct Work { var function: Int; var record: Int; var loaded: Bool; var order: (Int, Int) }
        let programCount = programs.count
        var work: [Work] = []
        for (index, function) in functions.enumerated() {
            let loaded = index < programCount ? programs[index].autoload : true
            for (position, record) in function.coreRelocations.enumerated() {
                work.append(Work(function: index, record: position, loaded: loaded,
                                 order: (record.extSectionOrder, record.recordIndex)))
            }
        }
        work.sort { a, b in
            if a.loaded != b.loaded { return a.loaded }
            return a.order < b.order
        }

        var outcomes: [(key: (Int, Int), outcome: CoreRelocationOutcome)] = []
        for item in work {
            // Patched in place: a copy of the function per relocation would copy its instructions each time.
            let outcome = item.function < programCount
                ? Self.relocate(&programs[item.function].function, record: item.record, relocator: relocator)
                : Self.relocate(&subprograms[item.function - programCount], record: item.record, relocator: relocator)
            outcomes.append(((item.function, outcome.record.slot), outcome))
        }
        outcomes.sort { $0.key < $1.key }
        return outcomes.map(\.outcome)
    }

    /// Decides and patches one record of `function`.
    private static func relocate(_ function: inout FunctionSpec, record index: Int,
                                 relocator: CoreRelocator) -> CoreRelocationOutcome {
        let record = function.coreRelocations[index]
        let prefix = "prog '\(function.name)': relo #\(record.recordIndex): "
        var outcome = CoreRelocationOutcome(function: function.name, section: function.sectionName, record: record,
                                            result: nil, status: .failed, log: [])
        func fail(_ error: CoreRelocationError) -> CoreRelocationOutcome {
            outcome.status = .failed
            outcome.reason = error.message
            outcome.log.append(prefix + error.message)
            return outcome
        }
        guard record.slot >= 0, record.slot < function.instructions.count else {
            return fail(CoreRelocationError(.instructionMismatch, "insn #\(record.slot) is outside the function"))
        }
        outcome.oldValue = currentValue(function.instructions, record.slot)
        let result: CoreRelocationResult
        do {
            result = try relocator.relocate(record.record, accessString: record.accessString)
        } catch {
            return fail(error)
        }
        outcome.result = result
        outcome.log = result.searchLog + result.log.map { prefix + $0 }
        do {
            switch try CoreInstructionPatcher.apply(result, to: &function.instructions, at: record.slot) {
            case .patched(let patch):
                outcome.status = .patched
                outcome.field = patch.field
                outcome.oldValue = patch.old
                outcome.newValue = patch.new
                outcome.memorySize = patch.memorySize
                outcome.log += patch.log.map { prefix + $0 }
            case .poisoned(let reason, let log):
                outcome.status = .poisoned
                outcome.reason = reason ?? "no matching target for <\(record.kindName)> \(result.localSpec.description)"
                outcome.log += log.map { prefix + $0 }
            }
        } catch {
            return fail(error)
        }
        return outcome
    }

    /// The value a CO-RE relocation would patch in an instruction, for reporting a poisoned one.
    static func currentValue(_ instructions: [Instruction], _ slot: Int) -> Int64? {
        let instruction = instructions[slot]
        switch instruction.instructionClass {
        case .alu, .alu64: return Int64(instruction.imm)
        case .ldx, .st, .stx: return Int64(instruction.offset)
        case .ld where instruction.isLoadImm64 && slot + 1 < instructions.count:
            return Int64(bitPattern: Instruction.imm64(low: instruction, high: instructions[slot + 1]))
        default: return nil
        }
    }
}
