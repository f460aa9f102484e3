import BPFObject
import BTF

/// The running system as a source of extern values: `/proc/config.gz` (or `/boot/config-$(uname -r)`),
/// `uname`, `/proc/kallsyms` (only for typeless ksyms), the kernel's BTF and the feature probes.
enum SystemExterns {
    /// A source holding only what `spec`'s externs need.
    static func source(for spec: ObjectSpec) -> ExternValueSource {
        var source = ExternValueSource()
        let kinds = spec.externs.map(\.kind)
        if kinds.contains(where: { if case .kconfig = $0 { true } else { false } }) {
            source.kernelConfig = try? RunningKernel.config()
        }
        source.kernelVersion = RunningKernel.version
        source.btf = try? KernelBTF.vmlinux()
        source.moduleBTFs = { KernelBTF.modules() }
        let typeless = Set(spec.externs.filter { $0.kind == .ksym(typed: false) }.map(\.name))
        if !typeless.isEmpty { source.symbolAddresses = RunningKernel.symbolAddresses(typeless) }
        // Asked here, not with the loader's other features: only objects with externs need these answers,
        // and the syscall-wrapper one needs the kernel's BTF.
        source.hasSyscallWrapper = KernelFeatures.shared.supports(.syscallWrapper)
        source.hasBPFCookie = KernelFeatures.shared.supports(.bpfCookie)
        return source
    }

}
