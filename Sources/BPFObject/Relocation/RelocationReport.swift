import BTF

/// Where extern values come from: a kernel configuration, the kernel's version and features, its symbol
/// table, and the BTF (vmlinux, then modules) typed ksyms and kfuncs are looked up in by name.
///
/// `reloc` reports with whatever parts it has (anything absent is "resolved at load");
/// ``ResolvedExterns`` needs every part the object's externs use and says which one is missing.
public struct ExternValueSource: Sendable {
    /// `CONFIG_*` values for `__kconfig` externs.
    public var kernelConfig: KernelConfig?
    /// `LINUX_KERNEL_VERSION` as the kernel encodes it (`KERNEL_VERSION(a, b, c)`).
    public var kernelVersion: UInt32?
    /// The BTF typed `__ksym` variables (VAR) and kfuncs (FUNC) are looked up in by name: vmlinux.
    public var btf: TypeGraph?
    /// Addresses of typeless `__ksym` variables (`/proc/kallsyms`).
    public var symbolAddresses: [String: UInt64]?
    /// Kernel modules' split BTF (on top of ``btf``), searched in order, own types only, for typed ksyms
    /// and kfuncs vmlinux does not have (libbpf's order). Called at most once per resolution, and only
    /// when vmlinux lacks a symbol; it must return the same list every time, because a
    /// ``KernelBTFObject/module(_:)`` index points into it.
    public var moduleBTFs: @Sendable () -> [CoreTargetBTF]
    /// `LINUX_HAS_BPF_COOKIE`: whether the kernel supports BPF cookies (a feature probe's answer).
    public var hasBPFCookie: Bool?
    /// `LINUX_HAS_SYSCALL_WRAPPER`: whether syscalls go through `__<arch>_sys_*` wrappers (a probe's answer).
    public var hasSyscallWrapper: Bool?

    /// A source with the given parts.
    public init(kernelConfig: KernelConfig? = nil, kernelVersion: UInt32? = nil, btf: TypeGraph? = nil,
                symbolAddresses: [String: UInt64]? = nil, moduleBTFs: @escaping @Sendable () -> [CoreTargetBTF] = { [] },
                hasBPFCookie: Bool? = nil, hasSyscallWrapper: Bool? = nil) {
        self.kernelConfig = kernelConfig
        self.kernelVersion = kernelVersion
        self.btf = btf
        self.symbolAddresses = symbolAddresses
        self.moduleBTFs = moduleBTFs
        self.hasBPFCookie = hasBPFCookie
        self.hasSyscallWrapper = hasSyscallWrapper
    }
}

/// A value in a relocation's extra details.
public enum RelocationDetail: Sendable, Hashable {
    /// A number.
    case number(Int64)
    /// Text.
    case text(String)
    /// Where a subprogram call or callback ends up in each linked program holding it.
    case linked([LinkedPosition])

    /// One linked program's view of a call: the instruction's index in the linked stream and its new imm.
    public struct LinkedPosition: Sendable, Hashable {
        /// The entry program.
        public var program: String
        /// Index in the linked stream.
        public var instruction: Int
        /// The rewritten imm (distance to the callee's start).
        public var imm: Int64
    }
}

/// One relocation of an object, of any kind, as `swift-load reloc` reports it.
public struct RelocationEntry: Sendable {
    /// The function symbol holding the instruction.
    public var function: String
    /// Its ELF section.
    public var section: String
    /// Instruction slot from the function's start.
    public var slot: Int
    /// `map`, `global`, `call`, `callback`, `kconfig`, `ksym`, `kfunc`, or a CO-RE kind name.
    public var kind: String
    /// CO-RE: the local spec as libbpf prints it; otherwise the referenced symbol.
    public var local: String?
    /// CO-RE: the chosen target spec; otherwise the map, variable, function or extern it resolves to.
    public var target: String?
    /// How it ends.
    public var status: CoreRelocationOutcome.Status
    /// The patched field's value before.
    public var oldValue: Int64?
    /// The value written, when known offline.
    public var newValue: Int64?
    /// Whether the values are a 64-bit immediate (printed unsigned).
    public var isImmediate64: Bool
    /// Kind-specific facts, in print order.
    public var details: [(String, RelocationDetail)]
    /// Why it failed or was poisoned.
    public var error: String?
    /// libbpf-style debug lines.
    public var log: [String]
}

/// Every relocation of an object against a target, with the relocated object.
public struct RelocationReport: Sendable {
    /// Every relocation, by function (entry programs, then subprograms) and instruction.
    public var entries: [RelocationEntry]
    /// The spec after CO-RE (instructions patched; not linked).
    public var relocated: ObjectSpec
    /// Each entry program linked after CO-RE (every program, autoload or not).
    public var linkedPrograms: [LinkedProgram]
    /// Programs that could not be linked, with the reason.
    public var linkFailures: [(program: String, reason: String)]

    /// Whether anything failed (the object would be refused).
    public var hasFailures: Bool { !linkFailures.isEmpty || entries.contains { $0.status == .failed } }
}

extension ObjectSpec {
    /// Applies CO-RE against `targets` (when the object needs it), links every program and lists every
    /// relocation with what it writes. Offline: no kernel, no files.
    /// - Parameter targets: the target BTF; `nil` makes every CO-RE relocation fail with "no target BTF".
    public func relocationReport(targets: CoreTargets?, externValues: ExternValueSource = ExternValueSource()) -> RelocationReport {
        var relocated = self
        var coreOutcomes: [CoreRelocationOutcome] = []
        var coreFailure: String?
        if hasCoreRelocations {
            if let targets {
                do { coreOutcomes = try relocated.applyCoreRelocations(targets: targets) } catch {
                    coreFailure = error.message
                }
            } else {
                coreFailure = "no target BTF to relocate against"
            }
        }
        // One link pass indexes the object once; only when it fails are programs linked one by one, so
        // every failure is named and the others still reported.
        var linked: [LinkedProgram] = []
        var linkFailures: [(String, String)] = []
        if let all = try? relocated.link(relocated.programs) {
            linked = all
        } else {
            for program in relocated.programs {
                do { linked.append(try relocated.link(program)) } catch {
                    linkFailures.append((program.name, error.message))
                }
            }
        }

        let outcomesByFunction = Dictionary(grouping: coreOutcomes) { "\($0.section)/\($0.function)" }
        var entries: [RelocationEntry] = []
        for function in functions {
            var local: [RelocationEntry] = []
            for relocation in function.relocations {
                local.append(entry(for: relocation, in: function, linked: linked, externValues: externValues))
            }
            local += unrelocatedCalls(in: function, linked: linked)
            for outcome in outcomesByFunction["\(function.sectionName)/\(function.name)"] ?? [] {
                local.append(Self.entry(for: outcome))
            }
            if let coreFailure {
                for record in function.coreRelocations {
                    local.append(RelocationEntry(
                        function: function.name, section: function.sectionName, slot: record.slot,
                        kind: record.kindName, local: record.describe(btf: btf), target: nil, status: .failed,
                        oldValue: nil, newValue: nil, isImmediate64: false, details: [], error: coreFailure,
                        log: ["prog '\(function.name)': relo #\(record.recordIndex): \(coreFailure)"]))
                }
            }
            local.sort { $0.slot < $1.slot }
            entries += local
        }
        return RelocationReport(entries: entries, relocated: relocated, linkedPrograms: linked,
                                linkFailures: linkFailures.map { (program: $0.0, reason: $0.1) })
    }

    static func entry(for outcome: CoreRelocationOutcome) -> RelocationEntry {
        let isImmediate64 = outcome.field == .immediate64
        var details: [(String, RelocationDetail)] = [("relo", .number(Int64(outcome.record.recordIndex)))]
        if let result = outcome.result {
            // What the local spec says the instruction holds: equal to `new` when the target agrees, even
            // where clang's own value differs (bitfield sizes and shifts, which libbpf does not check).
            details.append(("local_value", .number(Int64(bitPattern: result.originalValue))))
        }
        if let field = outcome.field { details.append(("field", .text(field.rawValue))) }
        if let size = outcome.memorySize {
            details.append(("mem_size", .text("\(size.from) -> \(size.to)")))
        }
        return RelocationEntry(
            function: outcome.function, section: outcome.section, slot: outcome.record.slot,
            kind: outcome.kindName, local: outcome.result?.localSpec.description ?? outcome.record.accessString,
            target: outcome.result?.targetSpec?.description, status: outcome.status,
            oldValue: outcome.oldValue, newValue: outcome.status == .patched ? outcome.newValue : nil,
            isImmediate64: isImmediate64, details: details, error: outcome.reason, log: outcome.log)
    }

    /// Where `function` sits in a linked program, if the program holds it.
    private static func placement(of function: FunctionSpec, in program: LinkedProgram) -> LinkedFunction? {
        program.functions.first { $0.name == function.name && $0.sectionName == function.sectionName }
    }

    /// A call or callback at `slot` of `function`, with its rewritten imm in every linked program holding it.
    private static func callEntry(_ function: FunctionSpec, slot: Int, kind: String, callee: String?, symbol: String?,
                                  linked: [LinkedProgram]) -> RelocationEntry {
        var positions: [RelocationDetail.LinkedPosition] = []
        for program in linked {
            guard let placed = placement(of: function, in: program), placed.startSlot + slot < program.instructions.count else {
                continue
            }
            let final = placed.startSlot + slot
            positions.append(.init(program: program.name, instruction: final, imm: Int64(program.instructions[final].imm)))
        }
        let original = function.instructions[slot].imm
        var log = positions.map {
            "prog '\($0.program)': insn #\($0.instruction) (\(function.name)+\(slot)): \(kind) to '\(callee ?? "?")', imm \(original) -> \($0.imm)"
        }
        if positions.isEmpty {
            log = ["prog '\(function.name)': insn #\(slot): \(kind) to '\(callee ?? "?")' is in no linked program"]
        }
        return RelocationEntry(
            function: function.name, section: function.sectionName, slot: slot, kind: kind, local: symbol,
            target: callee, status: .patched, oldValue: Int64(original), newValue: positions.first?.imm,
            isImmediate64: false, details: [("linked", .linked(positions))], error: nil, log: log)
    }

    private func entry(for relocation: RelocationSpec, in function: FunctionSpec, linked: [LinkedProgram],
                       externValues: ExternValueSource) -> RelocationEntry {
        let instruction = function.instructions[relocation.slot]
        let prefix = "prog '\(function.name)': insn #\(relocation.slot): "
        // `old` is the field the loader writes: the instruction's imm, or the whole 64-bit immediate where
        // the loader replaces both halves (map fds, ksyms).
        var entry = RelocationEntry(
            function: function.name, section: function.sectionName, slot: relocation.slot, kind: relocation.kindName,
            local: relocation.symbol, target: nil, status: .patched, oldValue: Int64(instruction.imm), newValue: nil,
            isImmediate64: false, details: [], error: nil, log: [])
        switch relocation.target {
        case .map(let name):
            entry.useImmediate64(of: function.instructions, at: relocation.slot)
            entry.target = name
            entry.details = [("map", .text(name))]
            entry.log = [prefix + "map '\(name)': ld_imm64 becomes the map's fd (BPF_PSEUDO_MAP_FD), set at load"]
        case .globalData(let map, let addend, let variable):
            entry.target = variable ?? "\(map)+\(addend)"
            entry.newValue = addend
            let section = maps.first { $0.name == map }.map { sectionName(of: $0) } ?? map
            entry.details = [("map", .text(map)), ("section", .text(section)), ("offset", .number(addend))]
            if let variable { entry.details.append(("variable", .text(variable))) }
            entry.log = [prefix + "global data \(section)+\(addend)\(variable.map { " (\($0))" } ?? ""): map '\(map)' value at offset \(addend) (BPF_PSEUDO_MAP_VALUE)"]
        case .call(_, _, let callee), .callback(_, _, let callee):
            return Self.callEntry(function, slot: relocation.slot, kind: relocation.kindName, callee: callee,
                                  symbol: relocation.symbol, linked: linked)
        case .externVariable(let name), .kfunc(let name):
            externEntry(&entry, name: name, instructions: function.instructions, slot: relocation.slot, prefix: prefix,
                        externValues: externValues)
        }
        return entry
    }

    private func sectionName(of map: MapSpec) -> String {
        if case .globalData(let section) = map.origin { return section }
        return map.name
    }

    private func externEntry(_ entry: inout RelocationEntry, name: String, instructions: [Instruction], slot: Int,
                             prefix: String, externValues: ExternValueSource) {
        entry.target = name
        guard let extern = externs.first(where: { $0.name == name }) else {
            entry.status = .failed
            entry.error = "extern '\(name)' is not declared in the object's BTF"
            entry.log = [prefix + entry.error!]
            return
        }
        switch extern.kind {
        case .kconfig(let offset, _, let valueType):
            entry.kind = "kconfig"
            entry.newValue = Int64(offset)
            entry.details = [("map_offset", .number(Int64(offset)))]
            let value = kconfigValue(name, valueType, externValues)
            entry.details.append(("value", value.map { .text($0) } ?? .text("resolved at load")))
            entry.log = [prefix + "kconfig '\(name)': .kconfig map value at offset \(offset) = \(value ?? "resolved at load")"]
        case .ksym(let typed):
            entry.kind = "ksym"
            entry.useImmediate64(of: instructions, at: slot)
            if typed {
                let id = externValues.btf?.firstID(named: name, kind: .variable)
                entry.newValue = id.map { Int64($0) } ?? (extern.isWeak && externValues.btf != nil ? 0 : nil)
                entry.details = [("btf_id", id.map { .number(Int64($0)) } ?? .text("resolved at load"))]
                entry.log = [prefix + "ksym '\(name)': BTF VAR id \(id.map(String.init) ?? "resolved at load") (BPF_PSEUDO_BTF_ID)"]
            } else {
                var address = externValues.symbolAddresses?[name]
                if address == nil, externValues.symbolAddresses != nil {
                    // The kernel's symbols were read and this one is not among them.
                    if extern.isWeak {
                        address = 0
                    } else {
                        entry.status = .failed
                        entry.error = "ksym '\(name)' is not in the kernel's symbol table (/proc/kallsyms)"
                    }
                }
                entry.newValue = address.map { Int64(bitPattern: $0) }
                entry.details = [("address", address.map { .text("0x" + String($0, radix: 16)) } ?? .text("resolved at load"))]
                entry.log = [prefix + "ksym '\(name)' (typeless): address \(address.map { "0x" + String($0, radix: 16) } ?? "resolved at load")"]
            }
        case .kfunc:
            entry.kind = "kfunc"
            let id = externValues.btf?.firstID(named: name, kind: .function)
            entry.newValue = id.map { Int64($0) }
            if id == nil, extern.isWeak, externValues.btf != nil {
                entry.status = .poisoned
                entry.error = "weak kfunc '\(name)' is not in the target BTF: the call is poisoned"
            }
            entry.details = [("btf_id", id.map { .number(Int64($0)) } ?? .text("resolved at load"))]
            entry.log = [prefix + "kfunc '\(name)': BTF FUNC id \(id.map(String.init) ?? "resolved at load") (BPF_PSEUDO_KFUNC_CALL)"]
        case .unresolved(let reason):
            entry.kind = instructions[slot].isCall ? "kfunc" : "ksym"
            entry.status = .failed
            entry.error = "extern '\(name)' cannot be resolved: \(reason)"
            entry.log = [prefix + entry.error!]
        }
    }

    private func kconfigValue(_ name: String, _ type: KconfigValueType, _ source: ExternValueSource) -> String? {
        if name == "LINUX_KERNEL_VERSION", let version = source.kernelVersion { return String(version) }
        // LINUX_* values come from the running kernel (version, feature probes), never from a .config.
        if name.hasPrefix("LINUX_") { return nil }
        guard let config = source.kernelConfig else { return nil }
        return config.value(of: name, as: type)?.description ?? "0 (not set)"
    }

    /// pc-relative calls without an ELF relocation (static functions in the same section), as linked.
    private func unrelocatedCalls(in function: FunctionSpec, linked: [LinkedProgram]) -> [RelocationEntry] {
        var seen = Set<Int>()
        var entries: [RelocationEntry] = []
        for program in linked {
            guard let placed = Self.placement(of: function, in: program) else { continue }
            for call in program.calls where !call.isRelocated && placed.slots.contains(call.slot) {
                let slot = call.slot - placed.startSlot
                guard seen.insert(slot).inserted else { continue }
                entries.append(Self.callEntry(function, slot: slot, kind: call.kind.rawValue, callee: call.callee,
                                              symbol: nil, linked: linked))
            }
        }
        return entries
    }
}

extension RelocationEntry {
    /// Reports the `LD_IMM64` pair at `slot` by its whole 64-bit immediate.
    mutating func useImmediate64(of instructions: [Instruction], at slot: Int) {
        guard let value = instructions.loadImm64Value(at: slot) else { return }
        oldValue = Int64(bitPattern: value)
        isImmediate64 = true
    }
}
