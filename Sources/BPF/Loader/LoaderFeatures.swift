import CBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel facts the loader's decisions depend on, read once per load from the feature probes.
struct LoaderFeatures: Sendable {
    /// Maps and programs may be named (`map_name`, `prog_name`).
    var objectNames = true
    /// Array maps may be `BPF_F_MMAPABLE`.
    var mmapableMaps = true
    /// `BPF_PROG_BIND_MAP` exists.
    var bindMap = true
    /// `log_true_size` exists (kernel 6.4), so the full `cbpf_prog_load_attr` may be passed.
    var logTrueSize = true
    /// The machine's page size.
    var pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// The number of possible CPUs.
    var possibleCPUs = 1
}
