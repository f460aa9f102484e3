/* Attach families that hook kernel functions: kprobe, kretprobe, ksyscall,
 * kretsyscall, fentry, fexit, lsm. The project's test kernel has neither
 * CONFIG_KPROBES nor BPF trampolines, so this object is for offline checks
 * (sections, attach types, attach BTF ids) and for the "feature missing"
 * error paths. */
#include "common.h"

/* The kernel's x86-64 register frame, named as vmlinux.h names it (`di`, not
 * the UAPI <linux/ptrace.h> `rdi`): BPF_KSYSCALL reads the wrapper's inner
 * pt_regs with CO-RE, and only the kernel's field names relocate.
 * __VMLINUX_H__ makes bpf_tracing.h use those names, as it does for programs
 * built with vmlinux.h. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));
#define __VMLINUX_H__
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct filename;
struct linux_binprm;

u64 calls[8];

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(on_kprobe) { calls[0]++; return 0; }

SEC("kretprobe/do_nanosleep")
int BPF_KRETPROBE(on_kretprobe, int ret) { calls[1]++; return 0; }

SEC("ksyscall/execve")
int BPF_KSYSCALL(on_ksyscall, const char *path) { calls[2]++; return 0; }

SEC("kretsyscall/execve")
int BPF_KRETPROBE(on_kretsyscall, long ret) { calls[3]++; return 0; }

SEC("fentry/do_unlinkat")
int BPF_PROG(on_fentry, int dfd, struct filename *name) { calls[4]++; return 0; }

SEC("fexit/do_unlinkat")
int BPF_PROG(on_fexit, int dfd, struct filename *name, long ret) { calls[5]++; return 0; }

SEC("lsm/bprm_check_security")
int BPF_PROG(on_lsm_bprm_check, struct linux_binprm *bprm) { calls[6]++; return 0; }

char LICENSE[] SEC("license") = "GPL";
