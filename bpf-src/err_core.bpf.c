/* Loads but fails verification: an unguarded CO-RE read of a field that no
 * kernel has. The loader poisons the instruction (call 0xbad2310) and should
 * explain the failure as an unresolved CO-RE relocation. */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct task_struct {
	int swift_load_no_such_field;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_execve")
int err_core_missing_field(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	return BPF_CORE_READ(task, swift_load_no_such_field);
}

char LICENSE[] SEC("license") = "GPL";
