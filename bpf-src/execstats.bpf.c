/* Per-CPU statistics of execve calls, kept the way bcc and libbpf-tools keep
 * them (each CPU updates its own copy, no atomics; user space adds the CPUs
 * up): calls and filename bytes per command name, a log2 histogram of the
 * filename's length as libbpf-tools' `struct hist`, and a bcc-style keyed
 * histogram (BPF_HISTOGRAM: slot -> count) of the argument count. */
#include "common.h"

#define COMM_LEN 16
#define MAX_SLOTS 16
#define MAX_ARGS 32

/* The tracepoint's record (events/syscalls/sys_enter_execve/format). */
struct sys_enter_execve_args {
	u64 common;
	s32 syscall_nr;
	u32 pad;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

struct comm_key {
	char comm[COMM_LEN];
};

struct exec_stat {
	u64 calls;
	u64 filename_bytes;
};

struct hist {
	u32 slots[MAX_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 128);
	__type(key, struct comm_key);
	__type(value, struct exec_stat);
} exec_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct hist);
} filename_len SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_SLOTS);
	__type(key, u32);
	__type(value, u64);
} argc_hist SEC(".maps");

/* floor(log2(v)), 0 for 0 and 1: the histogram slot of v. */
static __always_inline u32 log2_slot(u64 v)
{
	u32 slot = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; slot |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; slot |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; slot |= shift;
	shift = (v > 0xF) << 2; v >>= shift; slot |= shift;
	shift = (v > 0x3) << 1; v >>= shift; slot |= shift;
	slot |= (v >> 1);
	return slot;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int exec_stats_execve(struct sys_enter_execve_args *ctx)
{
	struct comm_key key = {};
	struct exec_stat *stat, fresh = {};
	struct hist *hist;
	char filename[256];
	u64 *count, nothing = 0;
	u32 zero = 0, slot, argc = 0;
	long length;

	length = bpf_probe_read_user_str(filename, sizeof(filename), ctx->filename);
	if (length < 1)
		return 0;
	length -= 1; /* without the NUL */

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	stat = bpf_map_lookup_elem(&exec_stats, &key);
	if (!stat) {
		bpf_map_update_elem(&exec_stats, &key, &fresh, BPF_NOEXIST);
		stat = bpf_map_lookup_elem(&exec_stats, &key);
		if (!stat)
			return 0;
	}
	stat->calls += 1;
	stat->filename_bytes += length;

	hist = bpf_map_lookup_elem(&filename_len, &zero);
	if (hist) {
		slot = log2_slot(length);
		if (slot >= MAX_SLOTS)
			slot = MAX_SLOTS - 1;
		hist->slots[slot] += 1;
	}

	for (int i = 0; i < MAX_ARGS; i++) {
		const char *arg = 0;

		if (bpf_probe_read_user(&arg, sizeof(arg), &ctx->argv[i]) || !arg)
			break;
		argc++;
	}
	slot = log2_slot(argc);
	count = bpf_map_lookup_elem(&argc_hist, &slot);
	if (!count) {
		/* A new key holds zero on every other CPU; another CPU may add it first. */
		bpf_map_update_elem(&argc_hist, &slot, &nothing, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&argc_hist, &slot);
		if (!count)
			return 0;
	}
	*count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
