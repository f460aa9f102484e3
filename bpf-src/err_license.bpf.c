/* Verifier must reject: a GPL-only helper (bpf_trace_printk) called from a
 * program whose license is not GPL-compatible. */
#include "common.h"

SEC("tracepoint/syscalls/sys_enter_execve")
int err_gpl_helper(void *ctx)
{
	bpf_printk("not allowed");
	return 0;
}

char LICENSE[] SEC("license") = "Proprietary";
