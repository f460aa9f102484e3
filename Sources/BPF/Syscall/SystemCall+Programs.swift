import CBPF
import SystemPackage

/// One typed function per program and BTF command.
extension SystemCall {
    /// Loads a program; the result is its descriptor. The corresponding kernel command is `BPF_PROG_LOAD`.
    ///
    /// `size` lets the caller leave out `log_true_size` on kernels before 6.4, which refuse it (`E2BIG`).
    public static func programLoad(_ attr: inout cbpf_prog_load_attr,
                                   size: Int = MemoryLayout<cbpf_prog_load_attr>.size) -> Result<Int, Errno> {
        bpf(.programLoad, &attr, size: size)
    }

    /// Loads BTF; the result is its descriptor. The corresponding kernel command is `BPF_BTF_LOAD`.
    public static func btfLoad(_ attr: inout cbpf_btf_load_attr,
                               size: Int = MemoryLayout<cbpf_btf_load_attr>.size) -> Result<Int, Errno> {
        bpf(.btfLoad, &attr, size: size)
    }

    /// Runs a program once or `repeat` times on the given input. The corresponding kernel command is
    /// `BPF_PROG_TEST_RUN`.
    public static func programTestRun(_ attr: inout cbpf_test_run_attr) -> Result<Void, Errno> {
        bpf(.programTestRun, &attr).map { _ in }
    }

    /// Ties a map's lifetime to a program that does not reference it in its code (libbpf does this for
    /// `.rodata`). The corresponding kernel command is `BPF_PROG_BIND_MAP`.
    public static func programBindMap(program: Int32, map: Int32) -> Result<Void, Errno> {
        var attr = cbpf_prog_bind_map_attr(prog_fd: UInt32(bitPattern: program), map_fd: UInt32(bitPattern: map), flags: 0)
        return bpf(.programBindMap, &attr).map { _ in }
    }

    /// Turns on run-time statistics (run time and count) for every program while the returned descriptor
    /// is open. The corresponding kernel command is `BPF_ENABLE_STATS`.
    public static func enableStatistics() -> Result<Int, Errno> {
        var attr = cbpf_enable_stats_attr(type: 0) // BPF_STATS_RUN_TIME
        return bpf(.enableStats, &attr)
    }
}
