/* Ring buffer + perf event array + config hash map on a tracepoint. Each
 * execve is sent to both buffers; a config entry (key 0) can mute either. */
#include "common.h"

struct event {
	u32 pid;
	u32 uid;
	char comm[16];
	char message[32];
};

struct config {
	u32 mute_ringbuf;
	u32 mute_perf;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct config);
} config SEC(".maps");

static const char greeting[] = "execve seen";

/* A function of its own (not inlined) on purpose: its prototype names
 * `struct event`, which is how the type reaches the object's BTF (clang emits
 * only the types that maps, globals and functions name, and a local variable
 * is none of those). User space needs it there to decode records by name,
 * e.g. `swift-load events.o --event-type event`. A global of that type would
 * do the same but add a .bss map. */
static __noinline void fill(struct event *e)
{
	u64 id = bpf_get_current_pid_tgid();

	e->pid = id >> 32;
	e->uid = (u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->message, greeting, sizeof(greeting));
}

SEC("tracepoint/syscalls/sys_enter_execve")
int emit_events(void *ctx)
{
	u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct event *e;
	struct event pe = {};

	if (!cfg || !cfg->mute_ringbuf) {
		e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
		if (e) {
			__builtin_memset(e, 0, sizeof(*e));
			fill(e);
			bpf_ringbuf_submit(e, 0);
		}
	}
	if (!cfg || !cfg->mute_perf) {
		fill(&pe);
		bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &pe, sizeof(pe));
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
