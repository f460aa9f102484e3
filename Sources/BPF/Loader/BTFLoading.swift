import CBPF
import SystemPackage

/// `BPF_BTF_LOAD` of a prepared BTF image, with the BTF verifier's log on failure.
enum BTFLoading {
    /// Loads `image`; on failure retries once with a log so the error can say why.
    static func load(_ image: [UInt8], kernelTime: inout UInt64) -> Result<OwnedFileDescriptor, BPFError> {
        var log = [UInt8](repeating: 0, count: 0)
        for attempt in 0..<2 {
            if attempt == 1 { log = [UInt8](repeating: 0, count: 1 << 20) }
            let result = image.withUnsafeBytes { bytes in
                log.withUnsafeMutableBytes { logBuffer in
                    var attr = cbpf_btf_load_attr()
                    attr.btf = kernelPointer(bytes.baseAddress)
                    attr.btf_size = UInt32(bytes.count)
                    if logBuffer.count > 0 {
                        attr.btf_log_buf = kernelPointer(logBuffer.baseAddress)
                        attr.btf_log_size = UInt32(logBuffer.count)
                        attr.btf_log_level = 1
                    }
                    return LoadStatistics.timed(&kernelTime) {
                        SystemCall.btfLoad(&attr, size: MemoryLayout<cbpf_btf_load_attr>.offset(of: \.btf_log_true_size)!)
                    }
                }
            }
            switch result {
            case .success(let fd):
                do { return .success(try OwnedFileDescriptor(adopting: Int32(fd))) } catch { return .failure(error) }
            case .failure(let errno) where attempt == 1 || errno == .notPermitted:
                let text = ProgramLoadRequest.text(of: log)
                var error = BPFError(errno: errno, command: .btfLoad, "loading the object's BTF")
                if let last = VerifierLog.relevantTail(text, lines: 1).first { error.message += ": " + last }
                error.log = text.isEmpty ? nil : text
                return .failure(error)
            case .failure:
                continue
            }
        }
        return .failure(BPFError(.kernel, "loading the object's BTF failed"))
    }
}
