import BTF
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
    /// Which BTF kinds the kernel accepts; others are sanitised away before `BPF_BTF_LOAD`.
    var btf = BTFKernelSupport.all
    /// The machine's page size.
    var pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// The number of possible CPUs.
    var possibleCPUs = 1
}

extension LoaderFeatures {
    /// The running kernel's answers.
    static var current: LoaderFeatures {
        let kernel = KernelFeatures.shared
        var features = LoaderFeatures()
        features.objectNames = kernel.supports(.programNames)
        features.mmapableMaps = kernel.supports(.mmapableArrays)
        features.bindMap = kernel.supports(.programBindMap)
        features.logTrueSize = kernel.supports(.logTrueSize)
        features.btf = kernel.btfSupport
        features.possibleCPUs = (try? PossibleCPUs.count()) ?? 1
        return features
    }
}
