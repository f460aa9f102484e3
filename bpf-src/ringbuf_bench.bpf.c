/* Ring buffer consumption benchmark (Benchmarks/run's `ringbuf` rows): on
 * every getpid() of the benchmark's own process, writes RECORDS_PER_HIT
 * 16-byte records into `rb` as fast as bpf_ringbuf_output allows, and counts
 * what it wrote and what did not fit. The process to serve is set by user
 * space in bench_state[0] (its tgid); other processes' getpid() calls return
 * at once. bench_state[1] and [2] count written and dropped records. The
 * ring is small here (this object is also a fixture every loader test loads);
 * the benchmark harnesses resize it before loading. */
#include "common.h"

#define RECORDS_PER_HIT 64

struct bench_record {
	u64 sequence;
	u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* the benchmarks resize it before loading */
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, u32);
	__type(value, u64);
} bench_state SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int ringbuf_bench(void *ctx)
{
	u32 key = 0;
	u64 *target = bpf_map_lookup_elem(&bench_state, &key);
	struct bench_record record = {};
	u64 written = 0, dropped = 0;
	u64 *counter;

	if (!target || *target != bpf_get_current_pid_tgid() >> 32)
		return 0;
	for (int i = 0; i < RECORDS_PER_HIT; i++) {
		record.sequence = i;
		record.value = i * 3 + 1;
		if (bpf_ringbuf_output(&rb, &record, sizeof(record), 0))
			dropped++;
		else
			written++;
	}
	key = 1;
	counter = bpf_map_lookup_elem(&bench_state, &key);
	if (counter)
		__sync_fetch_and_add(counter, written);
	key = 2;
	counter = bpf_map_lookup_elem(&bench_state, &key);
	if (counter)
		__sync_fetch_and_add(counter, dropped);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
