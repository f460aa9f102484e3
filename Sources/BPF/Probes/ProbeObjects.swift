import BPFObject
import BTF
import ByteParsing
import CBPF
import SystemPackage

// The smallest kernel objects the probes need: hand-built BTF blobs, two-instruction programs, one-entry
// maps. Each returns an OwnedFileDescriptor (closed when the caller drops it) or the kernel's errno.

/// A BTF blob built type by type, in the host's byte order: header, type section, string section.
struct ProbeBTF {
    private var words: [UInt32] = []
    private var strings: [UInt8] = [0]
    private var lastID: UInt32 = 0

    /// The BTF `info` word: kind in bits 24-28, `vlen` in bits 0-15, `kind_flag` in bit 31.
    static func info(_ kind: BTFKind, vlen: Int = 0, kindFlag: Bool = false) -> UInt32 {
        UInt32(kind.rawValue) << 24 | UInt32(vlen) | (kindFlag ? 1 << 31 : 0)
    }

    /// Adds `name` to the string section; returns its offset.
    private mutating func string(_ name: String) -> UInt32 {
        guard !name.isEmpty else { return 0 }
        let offset = UInt32(strings.count)
        strings += Array(name.utf8) + [0]
        return offset
    }

    /// Appends one type (its words, the first three being name, info and size/type); returns its id.
    private mutating func add(_ name: String, _ kind: BTFKind, vlen: Int = 0, _ sizeOrType: UInt32,
                              _ extra: [UInt32] = []) -> UInt32 {
        words += [string(name), Self.info(kind, vlen: vlen), sizeOrType] + extra
        lastID += 1
        return lastID
    }

    /// A signed integer of `size` bytes.
    mutating func int(_ name: String, size: UInt32 = 4) -> UInt32 {
        add(name, .int, size, [1 << 24 | size * 8]) // BTF_INT_SIGNED, offset 0, bits
    }

    /// A prototype `returning (parameters...)`.
    mutating func functionProto(returning: UInt32, parameters: [(String, UInt32)]) -> UInt32 {
        var extra: [UInt32] = []
        for (name, type) in parameters { extra += [string(name), type] }
        return add("", .functionProto, vlen: parameters.count, returning, extra)
    }

    /// A function of prototype `proto`; linkage 0 static, 1 global (in `vlen`, as BTF stores it).
    mutating func function(_ name: String, proto: UInt32, linkage: Int) -> UInt32 {
        add(name, .function, vlen: linkage, proto)
    }

    /// A variable of `type` with static linkage.
    mutating func variable(_ name: String, type: UInt32) -> UInt32 {
        add(name, .variable, type, [0])
    }

    /// A data section of `size` bytes holding `variables` (id, offset, size).
    mutating func dataSection(_ name: String, size: UInt32, variables: [(UInt32, UInt32, UInt32)]) -> UInt32 {
        add(name, .dataSection, vlen: variables.count, size, variables.flatMap { [$0.0, $0.1, $0.2] })
    }

    /// A struct of `size` bytes with `members` (name, type, bit offset).
    mutating func structure(_ name: String, size: UInt32, members: [(String, UInt32, UInt32)]) -> UInt32 {
        var extra: [UInt32] = []
        for (member, type, bitOffset) in members { extra += [string(member), type, bitOffset] }
        return add(name, .struct, vlen: members.count, size, extra)
    }

    /// A floating-point type of `size` bytes.
    mutating func float(_ name: String, size: UInt32) -> UInt32 { add(name, .float, size) }

    /// A declaration tag on `target` (`component` -1: the whole declaration).
    mutating func declTag(_ name: String, target: UInt32, component: Int32) -> UInt32 {
        add(name, .declTag, target, [UInt32(bitPattern: component)])
    }

    /// A type tag on `type`.
    mutating func typeTag(_ name: String, type: UInt32) -> UInt32 { add(name, .typeTag, type) }

    /// A pointer to `type`.
    mutating func pointer(to type: UInt32) -> UInt32 { add("", .pointer, type) }

    /// A 64-bit enum with `enumerators` (name, value).
    mutating func enum64(_ name: String, enumerators: [(String, UInt64)]) -> UInt32 {
        var extra: [UInt32] = []
        for (enumerator, value) in enumerators {
            extra += [string(enumerator), UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: value >> 32)]
        }
        return add(name, .enum64, vlen: enumerators.count, 8, extra)
    }

    /// The blob: a 24-byte header, then the types, then the strings.
    var bytes: [UInt8] {
        let typeLength = UInt32(words.count * 4)
        let header: [UInt32] = [24, 0, typeLength, typeLength, UInt32(strings.count)] // hdr_len, type_off/len, str_off/len
        var blob: [UInt8] = []
        blob.reserveCapacity(24 + Int(typeLength) + strings.count)
        withUnsafeBytes(of: UInt16(0xeB9F)) { blob += $0 }
        blob += [1, 0] // version, flags
        for word in header + words { withUnsafeBytes(of: word) { blob += $0 } }
        return blob + strings
    }

    /// Loads the blob with `BPF_BTF_LOAD`.
    func load() -> Result<OwnedFileDescriptor, Errno> {
        let blob = bytes
        return blob.withUnsafeBytes { raw in
            var attr = cbpf_btf_load_attr()
            attr.btf = kernelPointer(raw.baseAddress)
            attr.btf_size = UInt32(raw.count)
            return adopt(SystemCall.btfLoad(&attr))
        }
    }
}

/// A descriptor the kernel returned, owned; or the errno.
func adopt(_ result: Result<Int, Errno>) -> Result<OwnedFileDescriptor, Errno> {
    switch result {
    case .success(let fd):
        do { return .success(try OwnedFileDescriptor(adopting: Int32(fd))) } catch {
            return .failure(error.errno ?? .badFileDescriptor)
        }
    case .failure(let errno): return .failure(errno)
    }
}

/// A program for a probe: type, instructions and the few load attributes the probes vary.
struct ProbeProgram {
    var type: ProgramType
    var instructions: [Instruction]
    var expectedAttachType = AttachType(rawValue: 0)
    var attachBTFID: UInt32 = 0
    var flags: UInt32 = 0
    var kernelVersion: UInt32 = 0
    var name = ""
    /// Bytes of verifier log to ask for (0: none).
    var logSize = 0

    /// `r0 = 0; exit`: the program every type accepts.
    static let returnZero: [Instruction] = [.move(dst: 0, imm: 0), .exit]

    init(_ type: ProgramType, _ instructions: [Instruction] = ProbeProgram.returnZero) {
        self.type = type
        self.instructions = instructions
    }

    /// What a load gave: the program or the errno, the log, and `log_true_size` as the kernel wrote it.
    struct Outcome {
        var program: Result<OwnedFileDescriptor, Errno>
        var log: String
        var logTrueSize: UInt32

        /// The errno of a refused load.
        var errno: Errno? { if case .failure(let errno) = program { errno } else { nil } }
    }

    /// Loads the program with `BPF_PROG_LOAD` (license GPL), retrying `EAGAIN` as libbpf does.
    func load() -> Outcome {
        let code = Instruction.encode(instructions, order: .host)
        var log = [UInt8](repeating: 0, count: max(logSize, 1))
        var attr = cbpf_prog_load_attr()
        var result: Result<Int, Errno> = .failure(.resourceTemporarilyUnavailable)
        "GPL".withCString { license in
            code.withUnsafeBytes { insns in
                log.withUnsafeMutableBytes { logBuffer in
                    attr.prog_type = type.rawValue
                    attr.insns = kernelPointer(insns.baseAddress)
                    attr.insn_cnt = UInt32(instructions.count)
                    attr.license = kernelPointer(license)
                    attr.expected_attach_type = expectedAttachType.rawValue
                    attr.attach_btf_id = attachBTFID
                    attr.prog_flags = flags
                    attr.kern_version = kernelVersion
                    withUnsafeMutableBytes(of: &attr.prog_name) { nameBytes in
                        for (index, byte) in name.utf8.prefix(nameBytes.count - 1).enumerated() { nameBytes[index] = byte }
                    }
                    if logSize > 0 {
                        attr.log_level = 1
                        attr.log_size = UInt32(logSize)
                        attr.log_buf = kernelPointer(logBuffer.baseAddress)
                    }
                    for _ in 0..<5 {
                        result = SystemCall.programLoad(&attr)
                        guard case .failure(.resourceTemporarilyUnavailable) = result else { break }
                    }
                }
            }
        }
        let text = String(decoding: log.prefix { $0 != 0 }, as: UTF8.self)
        return Outcome(program: adopt(result), log: text, logTrueSize: attr.log_true_size)
    }
}

/// A map for a probe: `BPF_MAP_CREATE`'s attributes, zero unless set.
struct ProbeMap {
    var attr = cbpf_map_create_attr()

    init(_ type: MapType, keySize: UInt32 = 4, valueSize: UInt32 = 4, maxEntries: UInt32 = 1, flags: UInt32 = 0) {
        attr.map_type = type.rawValue
        attr.key_size = keySize
        attr.value_size = valueSize
        attr.max_entries = maxEntries
        attr.map_flags = flags
    }

    /// Creates the map.
    func create() -> Result<OwnedFileDescriptor, Errno> {
        var attr = self.attr
        return adopt(SystemCall.mapCreate(&attr))
    }
}
