import CBPF
import SystemPackage

/// `BPF_BTF_LOAD` of a prepared BTF image, with the BTF verifier's log on failure.
enum BTFLoading {
    /// Size of the log taken when the first (silent) attempt fails.
    static let logSize = 1 << 20

    /// Loads `image`; on failure retries once with a log so the error can say why (not after `EPERM`,
    /// which comes before any checking).
    static func load(_ image: [UInt8], kernelTime: inout UInt64) -> Result<OwnedFileDescriptor, BPFError> {
        var log: [UInt8] = []
        var result = attempt(image, log: &log, kernelTime: &kernelTime)
        if case .failure(let errno) = result, errno != .notPermitted {
            log = [UInt8](repeating: 0, count: logSize)
            result = attempt(image, log: &log, kernelTime: &kernelTime)
        }
        switch result {
        case .success(let fd):
            do { return .success(try OwnedFileDescriptor(adopting: Int32(fd))) } catch { return .failure(error) }
        case .failure(let errno):
            let text = ProgramLoadRequest.text(of: log)
            var error = BPFError(errno: errno, command: .btfLoad, "loading the object's BTF")
            if let last = VerifierLog.relevantTail(text, lines: 1).first { error.message += ": " + last }
            error.log = text.isEmpty ? nil : text
            return .failure(error)
        }
    }

    private static func attempt(_ image: [UInt8], log: inout [UInt8], kernelTime: inout UInt64) -> Result<Int, Errno> {
        image.withUnsafeBytes { bytes in
            log.withUnsafeMutableBytes { logBuffer in
                var attr = cbpf_btf_load_attr()
                attr.btf = kernelPointer(bytes.baseAddress)
                attr.btf_size = UInt32(bytes.count)
                if logBuffer.count > 0 {
                    attr.btf_log_buf = kernelPointer(logBuffer.baseAddress)
                    attr.btf_log_size = UInt32(logBuffer.count)
                    attr.btf_log_level = 1
                }
                // Without btf_log_true_size: kernels before 6.4 refuse the longer attribute.
                let size = MemoryLayout<cbpf_btf_load_attr>.offset(of: \.btf_log_true_size)!
                return LoadStatistics.timed(&kernelTime) { SystemCall.btfLoad(&attr, size: size) }
            }
        }
    }
}
