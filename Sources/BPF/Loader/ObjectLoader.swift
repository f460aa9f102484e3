import BPFObject
import BTF
import ByteParsing
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension LoadedObject {
    /// Opens the object at `path` and loads it. See ``load(_:options:)``.
    public static func load(contentsOf path: String, options: LoadOptions = LoadOptions()) throws(BPFError) -> LoadedObject {
        let spec: ObjectSpec
        do { spec = try ObjectSpec(contentsOf: path) } catch {
            throw BPFError(.invalidObject, "\(path): \(error)")
        }
        return try load(spec, options: options)
    }

    /// Loads an object into the kernel as libbpf's `bpf_object__load` does: CO-RE against the target BTF,
    /// externs from the running system, the object's BTF (sanitised for this kernel; dropped with a
    /// warning when refused), every map (pinned ones reused), then every selected program with its final
    /// instructions, then `PROG_ARRAY` slots and `.rodata` bindings.
    ///
    /// Every program is attempted, so one rejection does not hide another. Unless
    /// ``LoadOptions/allowsPartialLoad`` is set, any failure throws after that, and nothing of the object
    /// stays in the kernel (maps this load pinned are unpinned again).
    /// - Throws: ``BPFError``: the first failure, with the others in ``BPFError/details``.
    public static func load(_ spec: ObjectSpec, options: LoadOptions = LoadOptions()) throws(BPFError) -> LoadedObject {
        var loader = ObjectLoader(spec: spec, options: options)
        do {
            return try loader.load()
        } catch {
            loader.removeNewPins()
            throw error
        }
    }
}

/// One load of one object: the steps of ``LoadedObject/load(_:options:)`` and what they leave behind.
struct ObjectLoader {
    var spec: ObjectSpec
    var options: LoadOptions
    var features = LoaderFeatures()
    var warnings: [String] = []
    var newPins: [String] = []
    var statistics = LoadStatistics()

    init(spec: ObjectSpec, options: LoadOptions) {
        self.spec = spec
        self.options = options
    }

    mutating func load() throws(BPFError) -> LoadedObject {
        guard spec.byteOrder == .little else {
            throw BPFError(.invalidObject, "object '\(spec.name)' is big-endian (ELFDATA2MSB); this machine loads little-endian objects only")
        }
        try selectPrograms()
        let selected = spec.programs.filter(\.autoload)
        var failures: [String: BPFError] = [:]
        // A program of a section libbpf does not know loads only when the user gave it a type.
        for program in selected where program.section == nil && program.type == .unspecified {
            failures[program.name] = BPFError(.invalidObject, "program '\(program.name)': section '\(program.sectionName)' names no program type swift-load knows (set ProgramSpec.type to load it)")
        }

        let outcomes = try applyCore()
        let coreOutcomes = Dictionary(outcomes.map { (CoreKey(function: $0.function, slot: $0.record.slot), $0) },
                                      uniquingKeysWith: { first, _ in first })
        var coreFailures: [String: CoreRelocationOutcome] = [:]
        for outcome in outcomes where outcome.status == .failed && coreFailures[outcome.function] == nil {
            coreFailures[outcome.function] = outcome
        }
        let externs = try resolveExterns()
        let btf = loadBTF()

        var creation = MapCreation(spec: spec, btf: btf, features: features,
                                   pinDirectory: options.pinDirectory ?? LoadOptions.defaultPinDirectory)
        let maps: [Map]
        do {
            maps = try creation.createAll(kconfigImage: externs.kconfigImage)
            newPins = creation.newPins
            warnings += creation.warnings
            statistics.mapCreateNanoseconds = creation.statistics.mapCreateNanoseconds
        } catch {
            newPins = creation.newPins
            throw error
        }
        let mapFDs = Dictionary(maps.map { ($0.name, $0.descriptor.rawValue) }, uniquingKeysWith: { first, _ in first })

        let modules = try moduleDescriptors(externs)
        var programs: [Program] = []
        // The specs as CO-RE left them (`selected` holds copies taken before relocation).
        let relocated = spec.programs.filter { $0.autoload && failures[$0.name] == nil }
        let linked = linkedPrograms(relocated, failures: &failures)
        for item in linked {
            // A CO-RE relocation libbpf refuses fails the programs whose code holds it, not the others.
            if let failed = item.functions.lazy.compactMap({ coreFailures[$0.name] }).first {
                failures[item.name] = BPFError(.invalidObject, "program '\(item.name)': CO-RE relocation #\(failed.record.recordIndex) of '\(failed.function)' (insn #\(failed.record.slot), \(failed.kindName)) failed: \(failed.reason ?? "unknown reason")",
                                               details: failed.log)
                continue
            }
            do {
                programs.append(try loadProgram(item, mapFDs: mapFDs, externs: externs, modules: modules,
                                                btf: btf, coreOutcomes: coreOutcomes))
            } catch {
                failures[item.name] = error
            }
        }
        try writeProgramSlots(maps: maps, programs: programs)
        bindReadOnlyData(maps: maps, programs: programs)

        let ordered = selected.compactMap { program in failures[program.name].map { ProgramLoadFailure(name: program.name, error: $0) } }
        if let first = ordered.first, !options.allowsPartialLoad {
            var error = first.error
            error.details += ordered.dropFirst().map { "also failed: \($0.error.message)" }
            throw error
        }
        return LoadedObject(spec: spec, maps: maps, programs: programs, failures: ordered, warnings: warnings, btf: btf,
                            statistics: statistics)
    }

    /// Applies ``LoadOptions/programNames``: only those load (an unknown name is an error).
    mutating func selectPrograms() throws(BPFError) {
        guard let names = options.programNames else { return }
        let known = Set(spec.programs.map(\.name))
        if let unknown = names.subtracting(known).sorted().first {
            throw BPFError(.notFound, "object '\(spec.name)' has no program '\(unknown)' (programs: \(spec.programs.map(\.name).joined(separator: ", ")))")
        }
        for index in spec.programs.indices { spec.programs[index].autoload = names.contains(spec.programs[index].name) }
    }

    /// CO-RE against the target BTF, before linking, as libbpf orders it; every outcome is returned (a
    /// refused relocation fails only the programs holding it; a poisoned one explains a verifier rejection).
    mutating func applyCore() throws(BPFError) -> [CoreRelocationOutcome] {
        guard spec.hasCoreRelocations else { return [] }
        let targets: CoreTargets
        if let given = options.coreTargets {
            targets = given
        } else {
            do { targets = try KernelBTF.coreTargets() } catch {
                throw BPFError(.unsupported, "object '\(spec.name)' has CO-RE relocations and the kernel's BTF is unavailable: \(error)")
            }
        }
        let outcomes: [CoreRelocationOutcome]
        do { outcomes = try spec.applyCoreRelocations(targets: targets) } catch {
            throw BPFError(.invalidObject, "object '\(spec.name)': \(error)")
        }
        return outcomes
    }

    /// A CO-RE outcome's place: the function and the slot within it.
    struct CoreKey: Hashable {
        var function: String
        var slot: Int
    }

    /// Externs from the running system.
    func resolveExterns() throws(BPFError) -> ResolvedExterns {
        guard !spec.externs.isEmpty else { return ResolvedExterns() }
        do {
            return try ResolvedExterns(resolving: spec, from: SystemExterns.source(for: spec))
        } catch {
            throw BPFError(.invalidObject, "object '\(spec.name)': \(error)")
        }
    }

    /// The object's BTF, fixed up and sanitised for this kernel, loaded; a refusal is a warning, as in
    /// libbpf, and the object loads without BTF (no func/line info, no BTF map ids).
    mutating func loadBTF() -> OwnedFileDescriptor? {
        let image: [UInt8]?
        do { image = try spec.kernelBTF(supportFor: features.btfSupport(for:)) } catch {
            warnings.append("the object's BTF cannot be prepared for the kernel (\(error)); loading without BTF")
            return nil
        }
        guard let image else { return nil }
        switch BTFLoading.load(image, kernelTime: &statistics.btfLoadNanoseconds) {
        case .success(let fd): return fd
        case .failure(let error):
            warnings.append("the kernel refused the object's BTF (\(error.message)); loading without BTF")
            return nil
        }
    }

    /// The BTF objects of the modules whose kfuncs and ksyms the programs use, by module index.
    func moduleDescriptors(_ externs: ResolvedExterns) throws(BPFError) -> [Int: OwnedFileDescriptor] {
        var descriptors: [Int: OwnedFileDescriptor] = [:]
        for resolved in externs.externs {
            let module: Int
            switch resolved.value {
            case .kernelVariable(_, .module(let index)), .kernelFunction(_, .module(let index), _): module = index
            default: continue
            }
            guard descriptors[module] == nil else { continue }
            let name = module < externs.moduleNames.count ? externs.moduleNames[module] : "#\(module)"
            descriptors[module] = try KernelBTFObjects.descriptor(forModule: name)
        }
        return descriptors
    }

    /// Links every selected program, recording those that cannot be linked as failures.
    func linkedPrograms(_ programs: [ProgramSpec], failures: inout [String: BPFError]) -> [LinkedProgram] {
        if let all = try? spec.link(programs) { return all }
        var linked: [LinkedProgram] = []
        for program in programs {
            do { linked.append(try spec.link(program)) } catch {
                failures[program.name] = BPFError(.invalidObject, "program '\(program.name)': \(error)")
            }
        }
        return linked
    }

    /// Loads one linked program.
    mutating func loadProgram(_ linked: LinkedProgram, mapFDs: [String: Int32], externs: ResolvedExterns,
                     modules: [Int: OwnedFileDescriptor], btf: OwnedFileDescriptor?,
                     coreOutcomes: [CoreKey: CoreRelocationOutcome]) throws(BPFError) -> Program {
        let program = linked.program
        let moduleFDs = modules.mapValues(\.rawValue)
        let final: FinalProgram
        do { final = try spec.finalProgram(linked, mapDescriptor: { mapFDs[$0] }, externs: externs) } catch {
            throw BPFError(.invalidObject, "program '\(program.name)': \(error)")
        }
        let attach = try AttachBTFTarget.resolve(program)
        var flags: UInt32 = 0
        if program.isSleepable { flags |= ProgramSection.sleepableLoadFlag }
        if program.section?.flags.contains(.xdpFrags) == true { flags |= ProgramSection.xdpHasFragsLoadFlag }
        var request = ProgramLoadRequest(
            name: program.name, type: program.type, expectedAttachType: program.expectedAttachType,
            instructions: final.instructionBytes(moduleBTFDescriptor: { moduleFDs[$0] ?? 0 }), license: spec.license,
            kernelVersion: spec.kernelVersion != 0 ? spec.kernelVersion : (RunningKernel.version ?? 0),
            flags: flags, btf: btf)
        if btf != nil {
            request.functionInfo = final.functionInfoBytes
            request.lineInfo = final.lineInfoBytes
        }
        if let attach {
            request.attachBTFID = attach.typeID
            request.attachBTFObject = attach.module
        }
        request.fdArray = final.fdArray(moduleBTFDescriptor: { moduleFDs[$0] ?? 0 })
        switch request.load(logLevel: options.logLevel, features: features, statistics: &statistics) {
        case .success(let (descriptor, log)):
            return Program(descriptor: descriptor, name: program.name, sectionName: program.sectionName, type: program.type,
                           expectedAttachType: program.expectedAttachType, attachTarget: program.attachTarget, verifierLog: log)
        case .failure(var error):
            if let log = error.log {
                let explained = Self.explainPoisoned(log, linked: linked, outcomes: coreOutcomes)
                if explained != log {
                    error.log = explained
                    let reason = explained.split(separator: "\n").first { $0.hasPrefix("failed to resolve CO-RE relocation") }
                    error.message = "program '\(program.name)': \(reason ?? "failed to resolve a CO-RE relocation")"
                }
            }
            throw error
        }
    }

    /// The verifier log with poisoned CO-RE instructions explained by their relocation and source line.
    static func explainPoisoned(_ log: String, linked: LinkedProgram, outcomes: [CoreKey: CoreRelocationOutcome]) -> String {
        VerifierLog.explainingPoisonedRelocations(log) { index in
            guard let record = linked.coreRelocations.first(where: { $0.slot == index }),
                  let outcome = outcomes[CoreKey(function: record.function, slot: record.record.slot)],
                  outcome.status == .poisoned else { return nil }
            let spec = outcome.result.map { $0.localSpec.description } ?? "[\(record.record.typeID)] \(record.record.accessString)"
            let relocation = "<\(outcome.kindName)> \(spec)"
            let line = linked.lineInfo.last { $0.slot <= index }
            let source = line.map { "\($0.lineText.trimmingCharacters()) @ \($0.fileName.split(separator: "/").last ?? ""):\($0.line)" }
            return (relocation, source)
        }
    }

    /// Writes the `PROG_ARRAY` slots the object declares (`.values = { [i] = &prog }`) now that programs
    /// exist; a slot naming a program that was not loaded stays empty, with a warning.
    mutating func writeProgramSlots(maps: [Map], programs: [Program]) throws(BPFError) {
        for (map, mapSpec) in zip(maps, spec.maps) where mapSpec.type == .progArray {
            for slot in mapSpec.initialSlots {
                guard let program = programs.first(where: { $0.name == slot.symbol }) else {
                    warnings.append("map '\(mapSpec.name)': slot \(slot.index) stays empty: program '\(slot.symbol)' was not loaded")
                    continue
                }
                try MapCreation.writeSlot(map, slot.index, program.descriptor.rawValue,
                                          what: "map '\(mapSpec.name)' slot \(slot.index) = program '\(slot.symbol)'")
            }
        }
    }

    /// Binds `.rodata` maps to every program (libbpf does, so the map lives as long as any program does
    /// even when the verifier removed every reference to it).
    /// No probe first: a kernel without the command (before 5.10) refuses it, which changes nothing.
    func bindReadOnlyData(maps: [Map], programs: [Program]) {
        for map in maps where map.name.hasASCIIPrefix(".rodata") {
            for program in programs {
                _ = SystemCall.programBindMap(program: program.descriptor.rawValue, map: map.descriptor.rawValue)
            }
        }
    }

    /// Removes the pins this load created (after a failure).
    func removeNewPins() {
        for path in newPins { unlink(path) }
    }
}
