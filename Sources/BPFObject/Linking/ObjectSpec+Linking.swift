import BTF

extension LinkedProgram {
    /// The most instructions a program may have: the kernel's `BPF_COMPLEXITY_LIMIT_INSNS` for privileged
    /// loads (unprivileged loads allow only 4096). A longer linked stream is refused before the kernel sees it.
    public static let maximumInstructionCount = 1_000_000
}

extension ObjectSpec {
    /// Links one entry program: appends every function it calls or takes the address of, recursively,
    /// and rewrites the calls and callback loads for the final layout, as libbpf does before loading.
    ///
    /// Linking reads the instructions stored in the spec's functions, so CO-RE patches applied to a copy of
    /// the spec beforehand are carried along. What is linked, following libbpf:
    /// - `call` instructions with `src_reg` `BPF_PSEUDO_CALL`: a ``RelocationTarget/call(section:slot:function:)``
    ///   relocation names the target; without one the call is pc-relative within the caller's section
    ///   (static calls inside `.text`). Calls carrying a ``RelocationTarget/kfunc(name:)`` relocation are
    ///   kernel function calls and are left for the data relocation step.
    /// - `LD_IMM64` of a function's address (``RelocationTarget/callback(section:slot:function:)``): its
    ///   `src_reg` becomes `BPF_PSEUDO_FUNC` and its `imm` the distance to the function.
    /// - The program's exception callback (a BTF `exception_callback:NAME` declaration tag on the
    ///   program's FUNC), appended last if no call reached it.
    ///
    /// Each subprogram is appended once per program, the first time it is found while scanning the
    /// growing stream depth-first (a newly appended function is scanned before the rest of its caller),
    /// so streams match libbpf's instruction for instruction.
    ///
    /// Throws ``ObjectError`` naming the program, the calling function, the instruction and the target
    /// when a call lands outside every function, in the middle of a function, or on an entry program (only
    /// subprograms can be called, as libbpf requires); when an `LD_IMM64` is marked `BPF_PSEUDO_FUNC`
    /// without a callback relocation; when a subprogram has no `func_info` / `line_info` while the entry
    /// program has some (libbpf refuses the program then); or when the stream would exceed
    /// ``LinkedProgram/maximumInstructionCount``.
    public func link(_ program: ProgramSpec) throws(ObjectError) -> LinkedProgram {
        try ProgramLinker(spec: self).link(program)
    }

    /// Links the entry programs in ``programs`` order: by default those with ``ProgramSpec/autoload`` set
    /// (what libbpf links and loads); with `includingDisabled`, every entry program.
    ///
    /// Throws the first program's ``ObjectError`` that cannot be linked, as libbpf fails the whole load.
    public func linkedPrograms(includingDisabled: Bool = false) throws(ObjectError) -> [LinkedProgram] {
        try link(programs.filter { includingDisabled || $0.autoload })
    }

    /// Links entry programs of this spec in the given order, indexing the object's functions and
    /// exception callback tags once for all of them (linking one program at a time redoes that per call).
    ///
    /// Throws the first program's ``ObjectError`` that cannot be linked.
    public func link(_ programs: [ProgramSpec]) throws(ObjectError) -> [LinkedProgram] {
        let linker = ProgramLinker(spec: self)
        var linked: [LinkedProgram] = []
        for program in programs { linked.append(try linker.link(program)) }
        return linked
    }
}

/// Indexes an object's functions once, then links any of its entry programs.
struct ProgramLinker {
    /// Where a function starts and ends in its ELF section, and what it is.
    struct SectionEntry {
        var start: Int
        var count: Int
        var name: String
        /// Index into ``ObjectSpec/subprograms``, or `nil` for an entry program.
        var subprogram: Int?
    }

    /// A BTF `exception_callback:NAME` tag: the program it is attached to and the callback's name.
    struct ExceptionTag {
        var program: String
        var callback: String
    }

    let spec: ObjectSpec
    /// Functions by ELF section index, sorted by start slot.
    let sections: [Int: [SectionEntry]]
    /// ELF section indices by section name (names need not be unique in an ELF file).
    let sectionIndices: [String: [Int]]
    /// The object's exception callback tags in type id order, or why they are malformed.
    let exceptionTags: Result<[ExceptionTag], ObjectError>

    init(spec: ObjectSpec) {
        self.spec = spec
        var sections: [Int: [SectionEntry]] = [:]
        var names: [String: [Int]] = [:]
        func add(_ function: FunctionSpec, subprogram: Int?) {
            if sections[function.sectionIndex] == nil { names[function.sectionName, default: []].append(function.sectionIndex) }
            sections[function.sectionIndex, default: []].append(SectionEntry(
                start: function.sectionSlot, count: function.instructions.count, name: function.name,
                subprogram: subprogram))
        }
        for program in spec.programs { add(program.function, subprogram: nil) }
        for (index, function) in spec.subprograms.enumerated() { add(function, subprogram: index) }
        for key in sections.keys { sections[key]?.sort { $0.start < $1.start } }
        self.sections = sections
        self.sectionIndices = names
        self.exceptionTags = Result(catching: { () throws(ObjectError) in try Self.readExceptionTags(spec.btf) })
    }

    /// The function of section `sectionIndex` whose slots hold `slot`.
    func entry(section sectionIndex: Int, containing slot: Int) -> SectionEntry? {
        // The last function starting at or before `slot` is the one that can hold it (where hostile
        // symbols overlap, the later function wins; a slot in a gap between functions is in none).
        guard let candidate = sections[sectionIndex]?.last(startingAtOrBefore: slot, start: { $0.start }) else { return nil }
        return slot < candidate.start + candidate.count ? candidate : nil
    }

    /// The subprogram a call or callback at `slot` of a section lands on, or an error saying why it cannot.
    func callee(sectionIndices: [Int], sectionName: String, slot: Int,
                describe: () -> String) throws(ObjectError) -> Int {
        guard let found = sectionIndices.lazy.compactMap({ self.entry(section: $0, containing: slot) }).first else {
            throw ObjectError(.relocation, "\(describe()): the target, slot \(slot) of section '\(sectionName)', lies outside every function")
        }
        guard found.start == slot else {
            throw ObjectError(.relocation, "\(describe()): the target, slot \(slot) of section '\(sectionName)', is \(slot - found.start) slot\(slot - found.start == 1 ? "" : "s") into function '\(found.name)', not at its start")
        }
        guard let subprogram = found.subprogram else {
            throw ObjectError(.relocation, "\(describe()): the target is entry program '\(found.name)' of section '\(sectionName)'; only subprograms (functions of .text) can be called, as in libbpf")
        }
        return subprogram
    }

    // MARK: Linking one program

    /// The stream being built for one program, and the depth-first scan over it.
    struct State {
        var instructions: [Instruction]
        var layout: [LinkedFunction]
        var sources: [FunctionSpec]
        /// Subprogram index → position in ``layout``.
        var placed: [Int: Int] = [:]
        var calls: [LinkedCall] = []
        /// Final slot of a relocated call or callback → final slot of its target.
        var relocatedTargets: [Int: Int] = [:]

        /// A function being scanned: its position in the layout, the next slot to look at and its
        /// relocations by function-relative slot.
        struct Frame {
            var position: Int
            var next: Int
            var relocations: [Int: RelocationSpec]
        }
        var stack: [Frame] = []
    }

    func link(_ program: ProgramSpec) throws(ObjectError) -> LinkedProgram {
        let entry = program.function
        let limit = LinkedProgram.maximumInstructionCount
        guard entry.instructions.count <= limit else {
            throw ObjectError(.program, "program '\(program.name)' has \(entry.instructions.count) instructions; the kernel accepts at most \(limit)")
        }
        var state = State(
            instructions: entry.instructions,
            layout: [LinkedFunction(name: entry.name, sectionName: entry.sectionName, sectionIndex: entry.sectionIndex,
                                    sectionSlot: entry.sectionSlot, startSlot: 0, slotCount: entry.instructions.count,
                                    isEntry: true)],
            sources: [entry])
        state.stack.append(State.Frame(position: 0, next: 0, relocations: Self.bySlot(entry.relocations)))
        try scan(&state, program: program.name)

        if let callback = try exceptionCallback(of: program), state.placed[callback] == nil {
            try append(callback, to: &state, program: program.name)
            try scan(&state, program: program.name)
        }
        return try finish(state, program: program)
    }

    /// Relocations by function-relative slot (the first one wins if an edited spec has two).
    static func bySlot(_ relocations: [RelocationSpec]) -> [Int: RelocationSpec] {
        var result: [Int: RelocationSpec] = [:]
        for relocation in relocations where result[relocation.slot] == nil { result[relocation.slot] = relocation }
        return result
    }

    /// Appends subprogram `index` at the end of the stream and schedules it to be scanned next.
    func append(_ index: Int, to state: inout State, program: String) throws(ObjectError) {
        let function = spec.subprograms[index]
        let start = state.instructions.count
        guard function.instructions.count <= LinkedProgram.maximumInstructionCount - start else {
            throw ObjectError(.program, "program '\(program)': appending subprogram '\(function.name)' (\(function.instructions.count) instructions) after \(start) instructions exceeds the kernel's limit of \(LinkedProgram.maximumInstructionCount)")
        }
        state.instructions += function.instructions
        state.placed[index] = state.layout.count
        state.layout.append(LinkedFunction(
            name: function.name, sectionName: function.sectionName, sectionIndex: function.sectionIndex,
            sectionSlot: function.sectionSlot, startSlot: start, slotCount: function.instructions.count, isEntry: false))
        state.sources.append(function)
        state.stack.append(State.Frame(position: state.layout.count - 1, next: 0,
                                       relocations: Self.bySlot(function.relocations)))
    }

    /// Runs the depth-first scan until every scheduled function has been scanned. An explicit stack
    /// instead of recursion: a hostile object may chain thousands of functions.
    func scan(_ state: inout State, program: String) throws(ObjectError) {
        while let top = state.stack.indices.last {
            let position = state.stack[top].position
            let slot = state.stack[top].next
            let source = state.sources[position]
            guard slot < source.instructions.count else {
                state.stack.removeLast()
                continue
            }
            let instruction = source.instructions[slot]
            // The second slot of an LD_IMM64 is data, never an instruction of its own.
            state.stack[top].next = slot + (instruction.isLoadImm64 ? 2 : 1)
            let relocation = state.stack[top].relocations[slot]
            let caller = state.layout[position]
            func describe() -> String {
                let what = instruction.isLoadImm64 ? "function address load" : "call"
                return "program '\(program)': \(what) at instruction \(caller.startSlot + slot) (slot \(slot) of function '\(caller.name)' in section '\(caller.sectionName)', imm \(instruction.imm))"
            }

            let kind: LinkedCall.Kind
            let callee: Int
            if instruction.isLoadImm64 {
                switch relocation?.target {
                case .callback(let section, let targetSlot, _)?:
                    kind = .callback
                    callee = try self.callee(sectionIndices: sectionIndices[section] ?? [], sectionName: section,
                                             slot: targetSlot, describe: describe)
                case nil where instruction.isFunctionReference:
                    throw ObjectError(.relocation, "\(describe()): BPF_PSEUDO_FUNC without a relocation naming the function")
                case _? where instruction.isFunctionReference:
                    throw ObjectError(.relocation, "\(describe()): BPF_PSEUDO_FUNC with a '\(relocation.map(\.kindName) ?? "")' relocation")
                default:
                    continue
                }
            } else if instruction.isFunctionCall {
                switch relocation?.target {
                case .kfunc?:
                    continue  // a kernel function: resolved by BTF id when data relocations are applied
                case .call(let section, let targetSlot, _)?:
                    kind = .call
                    callee = try self.callee(sectionIndices: sectionIndices[section] ?? [], sectionName: section,
                                             slot: targetSlot, describe: describe)
                case nil:
                    // A static call within the section: imm counts from the next instruction in the file.
                    kind = .call
                    callee = try self.callee(sectionIndices: [caller.sectionIndex], sectionName: caller.sectionName,
                                             slot: caller.sectionSlot + slot + Int(instruction.imm) + 1,
                                             describe: describe)
                case _?:
                    throw ObjectError(.relocation, "\(describe()): a bpf-to-bpf call with a '\(relocation.map(\.kindName) ?? "")' relocation")
                }
            } else {
                continue
            }

            if state.placed[callee] == nil { try append(callee, to: &state, program: program) }
            guard let calleePosition = state.placed[callee] else { continue }
            let target = state.layout[calleePosition].startSlot
            let at = caller.startSlot + slot
            // Both are below maximumInstructionCount, so the distance fits in 32 bits.
            state.instructions[at].imm = Int32(target - at - 1)
            if kind == .callback { state.instructions[at].src = LoadImm64Source.bpfFunction.rawValue }
            state.calls.append(LinkedCall(kind: kind, slot: at, targetSlot: target,
                                          callee: state.layout[calleePosition].name, caller: caller.name,
                                          isRelocated: relocation != nil))
            if relocation != nil { state.relocatedTargets[at] = target }
        }
    }

    /// Moves the BTF.ext records and relocations of every function to their final slots.
    func finish(_ state: State, program: ProgramSpec) throws(ObjectError) -> LinkedProgram {
        var notes: [String] = []
        let pairs = Array(zip(state.layout, state.sources))
        let functionInfo = try rebased({ $0.functionInfo }, named: "func_info", pairs, program: program, notes: &notes)
        let lineInfo = try rebased({ $0.lineInfo }, named: "line_info", pairs, program: program, notes: &notes)

        var relocations: [LinkedRelocation] = []
        var coreRelocations: [LinkedCoreRelocation] = []
        for (placed, source) in pairs {
            for relocation in source.relocations.sorted(by: { $0.slot < $1.slot }) {
                let slot = placed.startSlot + relocation.slot
                let target: Int? = switch relocation.target {
                case .call, .callback: state.relocatedTargets[slot]
                default: nil
                }
                relocations.append(LinkedRelocation(relocation: relocation, function: placed.name, slot: slot,
                                                    targetSlot: target))
            }
            for record in source.coreRelocations.sorted(by: { $0.slot < $1.slot }) {
                coreRelocations.append(LinkedCoreRelocation(record: record, function: placed.name,
                                                            slot: placed.startSlot + record.slot))
            }
        }

        return LinkedProgram(
            program: program, instructions: state.instructions, functions: state.layout, functionInfo: functionInfo,
            lineInfo: lineInfo, relocations: relocations, coreRelocations: coreRelocations,
            calls: state.calls.sorted { $0.slot < $1.slot }, notes: notes)
    }

    /// One kind of `.BTF.ext` record (`func_info` or `line_info`) of every function, sorted and moved to
    /// its final slots. When the entry program has none, libbpf drops them all (with a note if another
    /// function has some); when it has some, every function must have some too.
    func rebased<Record: SlotRecord>(_ records: (FunctionSpec) -> [Record], named kind: String,
                                     _ pairs: [(LinkedFunction, FunctionSpec)], program: ProgramSpec,
                                     notes: inout [String]) throws(ObjectError) -> [Record] {
        guard !records(program.function).isEmpty else {
            if let other = pairs.dropFirst().first(where: { !records($0.1).isEmpty }) {
                notes.append("entry program '\(program.name)' has no \(kind): \(kind) of all functions dropped ('\(other.0.name)' has some), as libbpf does")
            }
            return []
        }
        var result: [Record] = []
        for (placed, source) in pairs {
            let own = records(source)
            guard !own.isEmpty else {
                throw ObjectError(.btf, "program '\(program.name)': function '\(placed.name)' has no .BTF.ext \(kind) although the entry program has; libbpf refuses such a program too")
            }
            result += own.sorted { $0.slot < $1.slot }.map {
                var record = $0
                record.slot += placed.startSlot
                return record
            }
        }
        return result
    }

    // MARK: Exception callbacks

    /// The `exception_callback:NAME` declaration tags of the object's BTF, in type id order.
    static func readExceptionTags(_ btf: TypeGraph?) throws(ObjectError) -> [ExceptionTag] {
        guard let btf else { return [] }
        let prefix = "exception_callback:"
        var tags: [ExceptionTag] = []
        do {
            for id in btf.ownIDs where id != 0 {
                guard try btf.kind(of: id) == .declTag else { continue }
                let tag = try btf.type(id)
                guard case .declTag(let target, let component) = tag.payload, component == -1 else { continue }
                let name = try btf.name(of: id)
                guard name.hasPrefix(prefix) else { continue }
                let function = try btf.type(target)
                guard case .function(_, let linkage) = function.payload, linkage == .global else {
                    throw ObjectError(.btf, "BTF decl tag [\(id)] '\(name)' is not applied to a global function (an entry program)")
                }
                tags.append(ExceptionTag(program: try btf.name(of: target), callback: String(name.dropFirst(prefix.count))))
            }
        } catch let error as ObjectError {
            throw error
        } catch {
            throw ObjectError(.btf, "cannot read the exception callback tags of the object's BTF", cause: error)
        }
        return tags
    }

    /// The subprogram named by the program's `exception_callback:` tag, if it has exactly one, as libbpf
    /// decides it: several tags on one program append nothing (the verifier rejects that), a tag naming no
    /// global subprogram is an error.
    func exceptionCallback(of program: ProgramSpec) throws(ObjectError) -> Int? {
        let tags = try exceptionTags.get()
        var chosen: Int?
        for tag in tags where tag.program == program.name {
            if chosen != nil { return nil }
            guard !tag.callback.isEmpty else {
                throw ObjectError(.btf, "program '\(program.name)': the exception_callback: tag names no function")
            }
            guard let index = spec.subprograms.firstIndex(where: { $0.name == tag.callback }) else {
                throw ObjectError(.btf, "program '\(program.name)': exception callback '\(tag.callback)' is not a subprogram of the object")
            }
            guard spec.subprograms[index].isGlobal else {
                throw ObjectError(.btf, "program '\(program.name)': exception callback '\(tag.callback)' must be a global, non-hidden function")
            }
            chosen = index
        }
        return chosen
    }
}
