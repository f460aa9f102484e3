import BPFObject
import ByteParsing
import CBPF
import SystemPackage

extension Program {
    /// Loads a program from ready instructions, outside any object: for tools and tests (the object loader
    /// has its own path with BTF, relocations and verifier-log retries).
    ///
    /// `instructions` holds one `struct bpf_insn` per element, as the kernel reads it: the 8 bytes of the
    /// instruction viewed as a native-endian `UInt64` (on little-endian hosts `opcode | regs << 8 |
    /// offset << 16 | imm << 32`; `r0 = 7` is `0x0000_0007_0000_00b7`, `exit` is `0x95`).
    ///
    /// With `logSize` above zero the verifier writes its log (level 1) into a buffer of that many bytes,
    /// which a rejection's error carries; there is no retry. `EAGAIN` is retried a few times, as libbpf
    /// does. The corresponding kernel command is `BPF_PROG_LOAD`.
    /// - Throws: ``BPFError`` `.verifier` when the verifier rejects the program, the kernel's refusal
    ///   otherwise.
    public static func load(type: ProgramType, instructions: [UInt64], license: String = "GPL",
                            expectedAttachType: AttachType? = nil, name: String = "",
                            logSize: Int = 0) throws(BPFError) -> Program {
        try load(type: type, bytecode: instructions.withUnsafeBytes { Array($0) }, license: license,
                 expectedAttachType: expectedAttachType, name: name, logSize: logSize)
    }

    /// Loads a program from its instructions as decoded values (encoded in the host's byte order), as the
    /// `[UInt64]` variant does. The corresponding kernel command is `BPF_PROG_LOAD`.
    public static func load(type: ProgramType, instructions: [Instruction], license: String = "GPL",
                            expectedAttachType: AttachType? = nil, name: String = "",
                            logSize: Int = 0) throws(BPFError) -> Program {
        try load(type: type, bytecode: Instruction.encode(instructions, order: .host), license: license,
                 expectedAttachType: expectedAttachType, name: name, logSize: logSize)
    }

    /// Loads a program from raw instruction bytes (a multiple of 8, in the host's byte order, as in an
    /// object's program section after relocation). The corresponding kernel command is `BPF_PROG_LOAD`.
    public static func load(type: ProgramType, bytecode: [UInt8], license: String = "GPL",
                            expectedAttachType: AttachType? = nil, name: String = "",
                            logSize: Int = 0) throws(BPFError) -> Program {
        var outcome: Swift.Result<Program, BPFError> = .failure(BPFError(.invalidArgument, "unreachable"))
        bytecode.withUnsafeBytes { bytes in
            do throws(BPFError) {
                outcome = .success(try load(type: type, bytecode: bytes, license: license,
                                            expectedAttachType: expectedAttachType, name: name, logSize: logSize))
            } catch { outcome = .failure(error) }
        }
        return try outcome.get()
    }

    private static func load(type: ProgramType, bytecode: UnsafeRawBufferPointer, license: String,
                             expectedAttachType: AttachType?, name: String, logSize: Int) throws(BPFError) -> Program {
        let shownName = name.isEmpty ? "(unnamed)" : name
        guard !bytecode.isEmpty, bytecode.count % Instruction.byteCount == 0,
              bytecode.count / Instruction.byteCount <= Int(UInt32.max) else {
            throw BPFError(.invalidArgument, "loading \(type) program \(shownName): \(bytecode.count) bytes of instructions is not a positive multiple of 8")
        }
        guard logSize >= 0, logSize <= Int(UInt32.max >> 2) else {
            throw BPFError(.invalidArgument, "loading \(type) program \(shownName): log size \(logSize) out of range")
        }
        var log = [CChar](repeating: 0, count: max(logSize, 1))
        var attr = cbpf_prog_load_attr()
        attr.prog_type = type.rawValue
        attr.insn_cnt = UInt32(bytecode.count / Instruction.byteCount)
        attr.insns = kernelPointer(bytecode.baseAddress)
        attr.expected_attach_type = expectedAttachType?.rawValue ?? 0
        let kernelName = KernelName.sanitized(name)
        withUnsafeMutableBytes(of: &attr.prog_name) { buffer in
            for (index, byte) in kernelName.utf8.enumerated() { buffer[index] = byte }
        }
        let result: Swift.Result<Int, Errno> = license.withCString { licensePointer in
            log.withUnsafeMutableBufferPointer { logBuffer in
                attr.license = kernelPointer(licensePointer)
                if logSize > 0 {
                    attr.log_level = 1
                    attr.log_size = UInt32(logSize)
                    attr.log_buf = kernelPointer(logBuffer.baseAddress)
                }
                var result = SystemCall.programLoad(&attr)
                for _ in 0..<5 {
                    guard case .failure(.resourceTemporarilyUnavailable) = result else { break }
                    result = SystemCall.programLoad(&attr)
                }
                return result
            }
        }
        switch result {
        case .success(let fd):
            let descriptor = try OwnedFileDescriptor(adopting: Int32(fd))
            let text = logSize > 0 ? Program.logText(log) : nil
            return Program(descriptor: descriptor, name: name.isEmpty ? kernelName : name, sectionName: "", type: type,
                           expectedAttachType: expectedAttachType, verifierLog: text?.isEmpty == false ? text : nil)
        case .failure(let errno):
            var error = BPFError(errno: errno, command: .programLoad, "loading \(type) program \(shownName)")
            let text = Program.logText(log)
            if !text.isEmpty { error.log = text }
            if errno == .permissionDenied || (errno == .invalidArgument && !text.isEmpty) {
                error.code = .verifier
                error.message = "loading \(type) program \(shownName): the verifier rejected it (\(errno.symbolicName))"
                if let last = text.split(separator: "\n").last { error.details.append(String(last)) }
            }
            throw error
        }
    }

    /// A NUL-terminated log buffer as text.
    private static func logText(_ log: [CChar]) -> String {
        log.withUnsafeBytes { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
