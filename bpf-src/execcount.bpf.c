/* Counts execve calls per command name. User space inserts the keys (comm,
 * zero padded to 64 bytes); the program only increments existing entries. */
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
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
