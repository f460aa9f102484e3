import BTF
import CBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel facts the loader's decisions depend on. Each is asked of ``KernelFeatures`` (a probe on first
/// use, cached for the process) only when a decision needs it, as cilium/ebpf does: an object whose BTF has
/// no `FLOAT` never loads the float probe, a map without `BPF_F_MMAPABLE` never probes for it, and a load
/// without a verifier log never probes `log_true_size`.
struct LoaderFeatures: Sendable {
    /// The kernel asked.
    var kernel = KernelFeatures.shared
    /// The machine's page size.
    var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
    /// The number of possible CPUs (read from sysfs on first use: only perf event arrays need it).
    var possibleCPUs: Int { (try? PossibleCPUs.count()) ?? 1 }

    /// Maps and programs may be named (`map_name`, `prog_name`).
    var objectNames: Bool { supports(.programNames) }
    /// Array maps may be `BPF_F_MMAPABLE`.
    var mmapableMaps: Bool { supports(.mmapableArrays) }
    /// `log_true_size` exists (kernel 6.4), so the full `cbpf_prog_load_attr` may be passed.
    var logTrueSize: Bool { supports(.logTrueSize) }

    /// Which of the BTF kinds in `needed` the kernel accepts; others are sanitised away before
    /// `BPF_BTF_LOAD` (see ``KernelFeatures/btfSupport(for:)``).
    func btfSupport(for needed: BTFKernelSupport) -> BTFKernelSupport {
        kernel.btfSupport(for: needed)
    }

    private func supports(_ feature: KernelFeature) -> Bool { kernel.supports(feature) }
}
