import CBPF
import SystemPackage
import Testing
import TestSupport
@testable import BPF

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SystemCallTests {
    @Test func errnoNames() {
        #expect(Errno.kernelNotSupported.symbolicName == "ENOTSUPP")
        #expect(Errno(rawValue: 22).symbolicName == "EINVAL")
        #expect(Errno(rawValue: 4242).symbolicName == "errno 4242")
    }

    /// Requests with nothing filled in reach the kernel and come back as typed errnos: a map of type 0
    /// is EINVAL, a program of zero instructions E2BIG.
    @Test func bpfReachesTheKernel() throws {
        try require(geteuid() == 0, "bpf() needs root")
        var mapAttr = cbpf_map_create_attr()
        guard case .failure(let mapErrno) = SystemCall.bpf(.mapCreate, &mapAttr) else {
            Issue.record("an empty BPF_MAP_CREATE unexpectedly succeeded")
            return
        }
        #expect(mapErrno == .invalidArgument)
        var programAttr = cbpf_prog_load_attr()
        guard case .failure(let programErrno) = SystemCall.bpf(.programLoad, &programAttr) else {
            Issue.record("an empty BPF_PROG_LOAD unexpectedly succeeded")
            return
        }
        #expect(programErrno == .argListTooLong)
        // A size past what the kernel knows, with non-zero bytes there, is E2BIG.
        var big = [UInt8](repeating: 1, count: MemoryLayout<bpf_attr>.size + 64)
        let oversize = big.withUnsafeMutableBytes { raw -> Int in
            cbpf_bpf(Int32(BPFCommand.mapCreate.rawValue), raw.baseAddress!, UInt32(raw.count))
        }
        #expect(oversize == -Int(E2BIG))
    }
}
