import BPFObject
import BTF

/// The running system as a source of extern values: `/proc/config.gz` (or `/boot/config-$(uname -r)`),
/// `uname`, `/proc/kallsyms`, the kernel's BTF and the feature probes.
enum SystemExterns {
    /// A source holding only what `spec`'s externs need (kallsyms is read only for typeless ksyms).
    static func source(for spec: ObjectSpec, features: LoaderFeatures) -> ExternValueSource {
        var source = ExternValueSource()
        let kinds = spec.externs.map(\.kind)
        if kinds.contains(where: { if case .kconfig = $0 { true } else { false } }) {
            source.kernelConfig = try? RunningKernel.config()
        }
        source.kernelVersion = RunningKernel.version
        source.btf = try? KernelBTF.vmlinux()
        source.moduleBTFs = { KernelBTF.modules() }
        let typeless = Set(spec.externs.filter { $0.kind == .ksym(typed: false) }.map(\.name))
        var wanted = typeless
        wanted.insert(syscallWrapperSymbol)
        let addresses = RunningKernel.symbolAddresses(wanted)
        source.symbolAddresses = addresses
        source.hasSyscallWrapper = addresses[syscallWrapperSymbol] != nil
        source.hasBPFCookie = features.bpfCookie
        return source
    }

    /// A syscall entry point that exists only when syscalls go through `pt_regs` wrappers (libbpf probes
    /// the same symbol family for `LINUX_HAS_SYSCALL_WRAPPER`).
    static var syscallWrapperSymbol: String {
        #if arch(x86_64)
        "__x64_sys_bpf"
        #elseif arch(arm64)
        "__arm64_sys_bpf"
        #else
        "sys_bpf"
        #endif
    }
}
