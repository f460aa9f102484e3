import BPFObject
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything `BPF_PROG_LOAD` takes for one program, in the kernel's terms.
struct ProgramLoadRequest {
    var name: String
    var type: ProgramType
    var expectedAttachType: AttachType?
    var instructions: [UInt8]
    var license: String
    var kernelVersion: UInt32
    var flags: UInt32
    var btf: OwnedFileDescriptor?
    /// `bpf_func_info` records (8 bytes each) and `bpf_line_info` records (16 bytes each).
    var functionInfo: [UInt8] = [], lineInfo: [UInt8] = []
    var attachBTFID: UInt32 = 0
    var attachBTFObject: OwnedFileDescriptor?
    var fdArray: [Int32] = []

    static let functionInfoSize = FinalProgram.functionInfoRecordSize, lineInfoSize = FinalProgram.lineInfoRecordSize

    /// Loads the program: without a log first (unless `logLevel` asks for one), then, on failure, again
    /// with a log that grows on `ENOSPC` up to 16 MiB, as libbpf does. `EAGAIN` is retried (the verifier
    /// gives up on a signal); nothing else is.
    /// - Returns: the descriptor and the log (when one was taken).
    func load(logLevel: UInt32, features: LoaderFeatures,
              statistics: inout LoadStatistics) -> Result<(OwnedFileDescriptor, String?), BPFError> {
        var level = logLevel
        var logSize = level == 0 ? 0 : VerifierLog.initialSize
        var eagainRetries = 0
        while true {
            var log = [UInt8](repeating: 0, count: logSize)
            var trueSize: UInt32 = 0
            statistics.programLoadCalls += 1
            let result = attempt(logLevel: level, log: &log, trueSize: &trueSize, features: features,
                                 kernelTime: &statistics.programLoadNanoseconds)
            let text = logSize == 0 ? nil : Self.text(of: log)
            switch result {
            case .success(let fd):
                do { return .success((try OwnedFileDescriptor(adopting: Int32(fd)), text)) } catch { return .failure(error) }
            case .failure(.resourceTemporarilyUnavailable) where eagainRetries < 5:
                eagainRetries += 1
            case .failure(.noSpace) where level != 0 && logSize < VerifierLog.maximumSize:
                let wanted = Int(trueSize) > logSize ? Int(trueSize) : logSize * 4
                logSize = min(wanted, VerifierLog.maximumSize)
            case .failure where level == 0:
                // libbpf's order: the first attempt takes no log; any failure is retried with one, which
                // is empty when the kernel refused before verifying (privilege, unknown type).
                level = 1
                logSize = VerifierLog.initialSize
            case .failure(let errno):
                return .failure(error(errno, log: text))
            }
        }
    }

    private func attempt(logLevel: UInt32, log: inout [UInt8], trueSize: inout UInt32,
                         features: LoaderFeatures, kernelTime: inout UInt64) -> Result<Int, Errno> {
        var attr = cbpf_prog_load_attr()
        attr.prog_type = type.rawValue
        attr.expected_attach_type = expectedAttachType?.rawValue ?? 0
        attr.insn_cnt = UInt32(instructions.count / 8)
        attr.kern_version = kernelVersion
        attr.prog_flags = flags
        if features.objectNames {
            withUnsafeMutableBytes(of: &attr.prog_name) { buffer in
                for (index, byte) in KernelName.sanitized(name).utf8.enumerated() { buffer[index] = byte }
            }
        }
        if let btf {
            attr.prog_btf_fd = UInt32(bitPattern: btf.rawValue)
            if !functionInfo.isEmpty {
                attr.func_info_rec_size = UInt32(Self.functionInfoSize)
                attr.func_info_cnt = UInt32(functionInfo.count / Self.functionInfoSize)
            }
            if !lineInfo.isEmpty {
                attr.line_info_rec_size = UInt32(Self.lineInfoSize)
                attr.line_info_cnt = UInt32(lineInfo.count / Self.lineInfoSize)
            }
        }
        attr.attach_btf_id = attachBTFID
        attr.attach_btf_obj_fd = attachBTFObject.map { UInt32(bitPattern: $0.rawValue) } ?? 0
        attr.log_level = logLevel
        attr.log_size = UInt32(log.count)
        // The full attributes only with a log whose true size the kernel can report: nothing after
        // `log_true_size` is used, and kernels before 6.4 refuse a longer attribute with a non-zero tail.
        let size = logLevel > 0 && features.logTrueSize ? MemoryLayout<cbpf_prog_load_attr>.size
                                                        : MemoryLayout<cbpf_prog_load_attr>.offset(of: \.log_true_size)!
        let result = instructions.withUnsafeBytes { insns in
            license.withCString { license in
                functionInfo.withUnsafeBytes { functionInfo in
                    lineInfo.withUnsafeBytes { lineInfo in
                        fdArray.withUnsafeBytes { fdArray in
                            log.withUnsafeMutableBytes { logBuffer in
                                attr.insns = kernelPointer(insns.baseAddress)
                                attr.license = kernelPointer(license)
                                if attr.func_info_cnt > 0 { attr.func_info = kernelPointer(functionInfo.baseAddress) }
                                if attr.line_info_cnt > 0 { attr.line_info = kernelPointer(lineInfo.baseAddress) }
                                if !self.fdArray.isEmpty { attr.fd_array = kernelPointer(fdArray.baseAddress) }
                                if logBuffer.count > 0 { attr.log_buf = kernelPointer(logBuffer.baseAddress) }
                                return LoadStatistics.timed(&kernelTime) { SystemCall.programLoad(&attr, size: size) }
                            }
                        }
                    }
                }
            }
        }
        trueSize = attr.log_true_size
        return result
    }

    /// The log's text up to its terminating NUL.
    static func text(of log: [UInt8]) -> String {
        let end = log.firstIndex(of: 0) ?? log.count
        return String(decoding: log[..<end], as: UTF8.self)
    }

    /// A failed load in words a user can act on: the verifier's verdict with its log, or the missing
    /// privilege or kernel feature by name.
    func error(_ errno: Errno, log: String?) -> BPFError {
        let what = "program '\(name)' (\(type))"
        let hasVerdict = !(log ?? "").trimmingCharacters().isEmpty
        if errno == .notPermitted {
            if geteuid() != 0 {
                return BPFError(.permission, "\(what): loading needs root or CAP_BPF + CAP_PERFMON (EPERM)", command: .programLoad, errno: errno, log: log)
            }
            if type == .tracing || type == .lsm || type == .ext {
                // The section's word (`fentry`, `lsm`), as the attach layer says it.
                let family = Program.tracingFamily(type: type, attachType: expectedAttachType)?.word
                    ?? expectedAttachType?.name ?? "\(type)"
                return BPFError(.unsupported, "\(what): \(family) needs BPF trampolines, which this kernel refuses (EPERM)",
                                command: .programLoad, errno: errno, log: log)
            }
        }
        if hasVerdict, errno == .permissionDenied || errno == .invalidArgument || errno == .noSpace
            || errno == .argListTooLong || errno == .kernelNotSupported || errno == .notSupported || errno == .fileExists {
            let verdict = VerifierLog.relevantTail(log ?? "", lines: 1).first ?? ""
            return BPFError(.verifier, "\(what) rejected by the verifier (\(errno.symbolicName)): \(verdict)",
                            command: .programLoad, errno: errno, log: log)
        }
        var failure = BPFError(errno: errno, command: .programLoad, what)
        failure.log = log
        if errno == .invalidArgument && !hasVerdict {
            failure.code = .unsupported
            failure.message += KernelFeatures.shared.supports(programType: type)
                ? "; the kernel gave no verifier log, so it refused the attributes"
                    + (expectedAttachType.map { " (attach type '\($0)' with program type '\(type)')" } ?? "")
                : "; this kernel does not support program type '\(type)'"
        }
        return failure
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines (no Foundation).
    func trimmingCharacters() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[start...end]
    }
}
