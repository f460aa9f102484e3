/* Counts execve calls per command name (the calling task's comm, zero padded
 * to 64 bytes). User space may insert keys beforehand (the classic libbpf
 * example does); a name seen for the first time gets its entry here. */
#include "common.h"

#define COMM_LEN 64

struct comm_key {
	char comm[COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct comm_key);
	__type(value, u64);
} exec_counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int count_execve(void *ctx)
{
	struct comm_key key = {};
	u64 *count;

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	count = bpf_map_lookup_elem(&exec_counts, &key);
	if (!count) {
		u64 one = 1;

		/* Another CPU may insert the same name first: then add to its entry. */
		if (bpf_map_update_elem(&exec_counts, &key, &one, BPF_NOEXIST) == 0)
			return 0;
		count = bpf_map_lookup_elem(&exec_counts, &key);
	}
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
