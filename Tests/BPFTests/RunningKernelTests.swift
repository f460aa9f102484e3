@testable import BPF
import Testing

/// Reading the running kernel's facts for externs.
struct RunningKernelTests {
    @Test func kernelVersionFromRelease() {
        #expect(RunningKernel.kernelVersion("6.18.0-1-amd64") == UInt32(0x06_12_00))
        #expect(RunningKernel.kernelVersion("5.15.300") == UInt32(0x05_0F_FF))
        #expect(RunningKernel.kernelVersion("garbage") == nil)
        #expect(RunningKernel.kernelVersion("6.18.44-fc-v669") == UInt32(0x06_12_2C))
        #expect(RunningKernel.kernelVersion("6.1") == UInt32(0x06_01_00))
        #expect(RunningKernel.kernelVersion("6") == nil)
        // A run too large for UInt32 is left out, as the first three runs are read.
        #expect(RunningKernel.kernelVersion("99999999999.6.1") == UInt32(0x06_01_00))
        #expect(RunningKernel.kernelVersion("v5..10-rc1") == UInt32(0x05_0A_01))
        // Non-ASCII text separates like any other non-digit.
        #expect(RunningKernel.kernelVersion("6é18·2") == UInt32(0x06_12_02))
    }

    @Test func kallsymsLines() {
        let text = """
            ffffffff81000000 T _stext
            ffffffff814d58f0 T bpf_prog_put
            0000000000000000 t hidden_symbol
            ffffffffc0a01000 t module_fn\t[some_module]
            ffffffff814d5900 T bpf_prog_put
            """
        let found = RunningKernel.parseSymbolAddresses(Array(text.utf8), ["bpf_prog_put", "hidden_symbol", "module_fn", "absent"])
        #expect(found == ["bpf_prog_put": 0xffffffff814d58f0, "module_fn": 0xffffffffc0a01000])
    }

    @Test func runningSystemConfigWhenPresent() throws {
        guard let config = try? RunningKernel.config() else { return }
        #expect(config.values["CONFIG_BPF"] == "y")
    }
}
