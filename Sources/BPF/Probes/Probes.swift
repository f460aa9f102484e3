import BPFObject
import BTF
import ByteParsing
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The probes themselves: each asks the kernel for the smallest thing that needs a feature and turns the
/// answer into a ``ProbeResult``. The approach of each follows libbpf (`features.c`, `libbpf_probes.c`)
/// and bpftool (`feature.c`), so answers agree with theirs; ``KernelFeatures`` caches them.
enum Probes {
    /// Creating a small array map tells whether `bpf()` may be used at all.
    static func access() -> BPFAccess {
        switch ProbeMap(.array).create() {
        case .success: .permitted
        case .failure(.notPermitted), .failure(.permissionDenied): .notPermitted
        case .failure(.noFunction): .notAvailable
        case .failure: .permitted // the call reached the kernel and was judged on its attributes
        }
    }

    static func run(_ feature: KernelFeature) -> ProbeResult {
        switch feature {
        case .btf: return btf { _ = $0.int("int") }
        case .btfFunctions: return btfFunction(linkage: 0)
        case .btfGlobalFunctions: return btfFunction(linkage: 1)
        case .btfDataSections: return btfDataSection(".data")
        case .btfQuestionMarkDataSections: return btfDataSection("?.data")
        case .btfFloats: return btf { _ = $0.float("double", size: 8) }
        case .btfDeclTags:
            return btf { blob in
                let variable = blob.variable("tagged", type: blob.int("int"))
                _ = blob.declTag("probe_tag", target: variable, component: -1)
            }
        case .btfTypeTags:
            return btf { blob in
                let tag = blob.typeTag("probe_tag", type: blob.int("int"))
                _ = blob.pointer(to: tag)
            }
        case .btfEnum64: return btf { _ = $0.enum64("wide", enumerators: [("WIDE_VALUE", 1 << 40)]) }
        case .programNames:
            var program = ProbeProgram(.socketFilter)
            program.name = "swiftload_probe"
            return loads(program)
        case .globalData: return globalData()
        case .mmapableArrays: return creates(ProbeMap(.array, flags: MapFlag.mmapable))
        case .expectedAttachType:
            var program = ProbeProgram(.cgroupSock)
            program.expectedAttachType = .cgroupInetSockCreate
            return loads(program)
        case .probeReadKernel:
            // Read 8 bytes from address 0 into the stack: the helper must exist for tracepoints.
            return loads(ProbeProgram(.tracepoint, [
                Instruction(opcode: .move64Register, dst: 1, src: Instruction.framePointer),
                Instruction(opcode: Opcode(.alu64, ALUOperation.add, .immediate), dst: 1, imm: -8),
                .move(dst: 2, imm: 8), .move(dst: 3, imm: 0),
                .call(helper: helper("probe_read_kernel")), .exit,
            ]))
        case .programBindMap: return programBindMap()
        case .moduleBTF: return moduleBTF()
        case .memcgAccounting:
            // bpf_ktime_get_coarse_ns arrived with memcg accounting of BPF memory (5.11), as libbpf reasons.
            return loads(ProbeProgram(.socketFilter, [.call(helper: helper("ktime_get_coarse_ns")), .exit]))
        case .ringBuffer: return mapType(.ringbuf)
        case .bpfCookie:
            return loads(ProbeProgram(.tracepoint, [.call(helper: helper("get_attach_cookie")), .exit]))
        case .perfLink:
            // With a bad perf event fd the kernel that knows perf links says EBADF; one that does not, EINVAL.
            return linkCreate(ProbeProgram(.tracepoint), target: UInt32(bitPattern: -1), attachType: .perfEvent,
                              meaningSupported: .badFileDescriptor)
        case .tcx:
            // An interface index that does not exist: ENODEV from a kernel with tcx, EINVAL from one without.
            return linkCreate(ProbeProgram(.schedCls), target: UInt32.max, attachType: .tcxIngress,
                              meaningSupported: .operationNotSupportedByDevice)
        case .logTrueSize:
            var program = ProbeProgram(.socketFilter)
            program.logSize = 1024
            let outcome = program.load()
            if let errno = outcome.errno { return ProbeResult(supported: false, errno: errno) }
            return ProbeResult(supported: outcome.logTrueSize > 0)
        case .mapExtra:
            var map = ProbeMap(.bloomFilter, keySize: 0, valueSize: 4, maxEntries: 1)
            map.attr.map_extra = 3 // hash functions
            return creates(map)
        case .kfuncCalls: return kfuncCall()
        case .syscallWrapper: return syscallWrapper()
        }
    }

    // MARK: BTF

    private static func btf(_ build: (inout ProbeBTF) -> Void) -> ProbeResult {
        var blob = ProbeBTF()
        build(&blob)
        return result(blob.load())
    }

    /// `int probe(int value)` with the given linkage.
    private static func btfFunction(linkage: Int) -> ProbeResult {
        btf { blob in
            let int = blob.int("int")
            let proto = blob.functionProto(returning: int, parameters: [("value", int)])
            _ = blob.function("probe", proto: proto, linkage: linkage)
        }
    }

    /// One `int` variable in a data section called `name`.
    private static func btfDataSection(_ name: String) -> ProbeResult {
        btf { blob in
            let variable = blob.variable("counter", type: blob.int("int"))
            _ = blob.dataSection(name, size: 4, variables: [(variable, 0, 4)])
        }
    }

    /// A module-aware kernel fills in a BTF object's name through `bpf_btf_info.name`.
    private static func moduleBTF() -> ProbeResult {
        var blob = ProbeBTF()
        _ = blob.int("int")
        let btf: OwnedFileDescriptor
        switch blob.load() {
        case .success(let fd): btf = fd
        case .failure(let errno): return ProbeResult(supported: false, errno: errno)
        }
        var name = [CChar](repeating: 0, count: 16)
        return name.withUnsafeMutableBytes { nameBuffer in
            var info = bpf_btf_info()
            info.name = kernelPointer(nameBuffer.baseAddress)
            info.name_len = UInt32(nameBuffer.count)
            return withExtendedLifetime(btf) { result(SystemCall.objectInfo(btf.rawValue, &info)) }
        }
    }

    // MARK: Programs and maps

    /// `r1 = &map[0] + 8; *(u64 *)(r1 + 0) = 42; r0 = 0; exit` against a 16-byte array value.
    private static func globalData() -> ProbeResult {
        let map: OwnedFileDescriptor
        switch ProbeMap(.array, valueSize: 16).create() {
        case .success(let fd): map = fd
        case .failure(let errno): return ProbeResult(supported: false, errno: errno)
        }
        let value = UInt64(UInt32(bitPattern: map.rawValue)) | 8 << 32
        let store = Instruction(opcode: Opcode(.st, .doubleWord, .memory), dst: 1, imm: 42)
        let program = ProbeProgram(.socketFilter, Instruction.loadImm64(dst: 1, source: .mapValue, value: value)
                                   + [store, .move(dst: 0, imm: 0), .exit])
        return withExtendedLifetime(map) { loads(program) }
    }

    private static func programBindMap() -> ProbeResult {
        guard case .success(let map) = ProbeMap(.array).create() else { return .no }
        switch ProbeProgram(.socketFilter).load().program {
        case .success(let program):
            return withExtendedLifetime((program, map)) {
                result(SystemCall.programBindMap(program: program.rawValue, map: map.rawValue))
            }
        case .failure(let errno): return ProbeResult(supported: false, errno: errno)
        }
    }

    /// Loads `program` and creates a link of `attachType` to `target`, which is built to fail: the errno
    /// tells whether the kernel knows the link type. A link that does get made is closed at once.
    private static func linkCreate(_ program: ProbeProgram, target: UInt32, attachType: AttachType,
                                   meaningSupported: Errno) -> ProbeResult {
        let loaded: OwnedFileDescriptor
        switch program.load().program {
        case .success(let fd): loaded = fd
        case .failure(let errno): return ProbeResult(supported: false, errno: errno)
        }
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: loaded.rawValue)
        attr.target = target
        attr.attach_type = attachType.rawValue
        let link = withExtendedLifetime(loaded) { adopt(SystemCall.linkCreate(&attr)) }
        switch link {
        case .success: return .yes
        case .failure(let errno): return ProbeResult(supported: errno == meaningSupported, errno: errno)
        }
    }

    /// `r0 = bpf_cast_to_kern_ctx(r1); r0 = 0; exit`: a kfunc every program type may call (kernel 6.2),
    /// found by name in vmlinux BTF.
    private static func kfuncCall() -> ProbeResult {
        guard let vmlinux = try? KernelBTF.vmlinux(),
              let id = vmlinux.firstID(named: "bpf_cast_to_kern_ctx", kind: .function) else { return .no }
        let call = Instruction(opcode: .call, src: CallKind.kfunc.rawValue, imm: Int32(bitPattern: id))
        return loads(ProbeProgram(.socketFilter, [call, .move(dst: 0, imm: 0), .exit]))
    }

    /// The arch's syscall wrapper for `bpf` (`__x64_sys_bpf`) in `/proc/kallsyms`, or failing that in
    /// vmlinux BTF. libbpf asks by creating a kprobe on it; a kernel without kprobes still has wrappers.
    private static func syscallWrapper() -> ProbeResult {
        guard let prefix = syscallPrefix else { return .no }
        let symbol = "__\(prefix)_sys_bpf"
        // The kernel's BTF is mapped and indexed once per process anyway; kallsyms is a long text to scan.
        if let vmlinux = try? KernelBTF.vmlinux(), vmlinux.firstID(named: symbol, kind: .function) != nil {
            return .yes
        }
        guard let storage = try? ByteStorage(contentsOf: "/proc/kallsyms", maximumSize: 1 << 28) else { return .no }
        let view = storage.view(order: .little)
        guard let bytes = view.bytes(0, view.count) else { return .no }
        return ProbeResult(supported: containsSymbol(bytes, symbol))
    }

    /// Whether a kallsyms text has a line whose name is exactly `symbol` (`ADDRESS TYPE NAME [MODULE]`).
    static func containsSymbol(_ kallsyms: [UInt8], _ symbol: String) -> Bool {
        var found = false
        RunningKernel.forEachSymbol(in: kallsyms) { _, name in
            found = name.elementsEqual(symbol.utf8)
            return !found
        }
        return found
    }

    /// The prefix the kernel gives syscall entry points on this architecture (libbpf's table).
    static var syscallPrefix: String? {
        #if arch(x86_64)
        "x64"
        #elseif arch(i386)
        "ia32"
        #elseif arch(arm64)
        "arm64"
        #elseif arch(arm)
        "arm"
        #elseif arch(s390x)
        "s390x"
        #elseif arch(powerpc64) || arch(powerpc64le)
        "powerpc"
        #elseif arch(riscv64)
        "riscv"
        #else
        nil
        #endif
    }

    // MARK: Program types

    /// How a program type is probed: the load attributes it needs, and for the types no minimal program
    /// satisfies, the refusal that proves the kernel knows the type (errno and a log excerpt).
    struct ProgramTypeRecipe {
        var program: ProbeProgram
        var expectedRefusal: (Errno, String)?
    }

    /// Nil for `unspec` (nothing to probe).
    static func recipe(_ type: ProgramType, _ instructions: [Instruction] = ProbeProgram.returnZero) -> ProgramTypeRecipe? {
        var program = ProbeProgram(type, instructions)
        var refusal: (Errno, String)?
        switch type {
        case .unspecified: return nil
        case .cgroupSockAddr: program.expectedAttachType = .cgroupInet4Connect
        case .cgroupSockopt: program.expectedAttachType = .cgroupGetsockopt
        case .skLookup: program.expectedAttachType = .skLookup
        case .lircMode2: program.expectedAttachType = .lircMode2
        case .netfilter: program.expectedAttachType = .netfilter
        case .kprobe: program.kernelVersion = RunningKernel.version ?? 0
        case .syscall: program.flags = ProgramSection.sleepableLoadFlag
        case .tracing:
            // tp_btf with a target that is not a tracepoint typedef: the check comes after the type is
            // accepted, and needs no BPF trampoline (fentry does, and is refused outright without one).
            program.expectedAttachType = .traceRawTP
            program.attachBTFID = 1
            refusal = (.invalidArgument, "attach_btf_id 1 is not a typedef")
        case .lsm:
            program.expectedAttachType = .lsmMac
            program.attachBTFID = 1
            refusal = (.invalidArgument, "attach_btf_id 1 is not a function")
        case .ext:
            program.attachBTFID = 1
            refusal = (.invalidArgument, "Cannot replace kernel functions")
        case .structOps:
            refusal = (.kernelNotSupported, "")
        default: break
        }
        if refusal != nil { program.logSize = 4096 }
        return ProgramTypeRecipe(program: program, expectedRefusal: refusal)
    }

    static func programType(_ type: ProgramType) -> ProbeResult {
        guard let recipe = recipe(type) else { return .no }
        let outcome = recipe.program.load()
        guard let (errno, excerpt) = recipe.expectedRefusal else { return result(outcome.program) }
        switch outcome.program {
        case .success: return .yes
        case .failure(let refused):
            return ProbeResult(supported: refused == errno && (excerpt.isEmpty || outcome.log.contains(excerpt)),
                               errno: refused)
        }
    }

    /// The helpers programs of `type` may call: one `call id; exit` load per helper; the helper is
    /// available unless the verifier calls it unknown or forbidden for the type (bpftool's reading).
    static func helpers(_ type: ProgramType) -> [Int32]? {
        switch type {
        case .unspecified, .tracing, .ext, .lsm, .structOps: return nil
        default: break
        }
        var available: [Int32] = []
        for id in 1...HelperFunctions.maximumID {
            guard var recipe = recipe(type, [.call(helper: id), .exit]) else { return nil }
            recipe.program.logSize = 4096
            let outcome = recipe.program.load()
            if case .success = outcome.program {
                available.append(id)
                continue
            }
            let refusals = ["invalid func ", "unknown func ", "program of this type cannot use helper "]
            if !refusals.contains(where: outcome.log.contains) { available.append(id) }
        }
        return available
    }

    // MARK: Map types

    /// Creates the smallest map of `type`, with the sizes, flags and BTF each type insists on.
    static func mapType(_ type: MapType) -> ProbeResult {
        var map = ProbeMap(type)
        var inner: OwnedFileDescriptor?
        var btf: OwnedFileDescriptor?
        var expectedRefusal: Errno?
        switch type {
        case .unspecified: return .no
        case .stackTrace: map.attr.value_size = 8
        case .lpmTrie:
            map.attr.key_size = 8 // prefix length + 4 bytes of data
            map.attr.value_size = 8
            map.attr.map_flags = MapFlag.noPrealloc
        case .cgroupStorage, .percpuCgroupStorage:
            map.attr.key_size = 16 // struct bpf_cgroup_storage_key
            map.attr.value_size = 8
            map.attr.max_entries = 0
        case .queue, .stack, .bloomFilter: map.attr.key_size = 0
        case .skStorage, .inodeStorage, .taskStorage, .cgrpStorage:
            // Local storage needs BTF for its key (int) and value.
            var blob = ProbeBTF()
            let int = blob.int("int")
            let value = blob.structure("probe_value", size: 8, members: [("first", int, 0), ("second", int, 32)])
            switch blob.load() {
            case .success(let fd): btf = fd
            case .failure(let errno): return ProbeResult(supported: false, errno: errno)
            }
            map.attr.btf_fd = UInt32(bitPattern: btf!.rawValue)
            map.attr.btf_key_type_id = int
            map.attr.btf_value_type_id = value
            map.attr.value_size = 8
            map.attr.max_entries = 0
            map.attr.map_flags = MapFlag.noPrealloc
        case .ringbuf, .userRingbuf:
            map.attr.key_size = 0
            map.attr.value_size = 0
            map.attr.max_entries = UInt32(sysconf(Int32(_SC_PAGESIZE)))
        case .arena:
            map.attr.key_size = 0
            map.attr.value_size = 0
            map.attr.map_flags = MapFlag.mmapable // one page, mapped anywhere
        case .structOps:
            // BTF id 1 of vmlinux is no struct_ops type: a kernel with struct_ops maps says ENOTSUPP.
            map.attr.btf_vmlinux_value_type_id = 1
            expectedRefusal = .kernelNotSupported
        case .arrayOfMaps, .hashOfMaps:
            switch ProbeMap(.array).create() {
            case .success(let fd): inner = fd
            case .failure(let errno): return ProbeResult(supported: false, errno: errno)
            }
            map.attr.inner_map_fd = UInt32(bitPattern: inner!.rawValue)
        default: break
        }
        let created = withExtendedLifetime((inner, btf)) { map.create() }
        guard let expectedRefusal else { return result(created) }
        switch created {
        case .success: return .yes
        case .failure(let errno): return ProbeResult(supported: errno == expectedRefusal, errno: errno)
        }
    }

    // MARK: Helpers

    private static func loads(_ program: ProbeProgram) -> ProbeResult { result(program.load().program) }

    private static func creates(_ map: ProbeMap) -> ProbeResult { result(map.create()) }

    private static func result<Success>(_ result: Result<Success, Errno>) -> ProbeResult {
        switch result {
        case .success: .yes
        case .failure(let errno): ProbeResult(supported: false, errno: errno)
        }
    }

    /// The id of a helper this table must know (a missing name is a programming error).
    private static func helper(_ name: String) -> Int32 {
        guard let id = HelperFunctions.id(named: name) else { preconditionFailure("unknown helper \(name)") }
        return id
    }
}
