/* A map value holding a struct bpf_spin_lock (needs BTF for the value type)
 * and a BPF_F_NO_PREALLOC hash map. check_spin_lock runs under
 * BPF_PROG_TEST_RUN (tc) and returns 0 or the failing line. */
#include "common.h"

struct locked_counter {
	struct bpf_spin_lock lock;
	u64 value;
	u64 updates;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct locked_counter);
} locked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, u64);
} sparse SEC(".maps");

SEC("tc")
int check_spin_lock(struct __sk_buff *skb)
{
	u32 zero = 0, key = 7;
	u64 value = 42, *found;
	struct locked_counter *c = bpf_map_lookup_elem(&locked, &zero);
	u64 before;

	CHECK(c);
	bpf_spin_lock(&c->lock);
	before = c->value;
	c->value = before + 5;
	c->updates++;
	bpf_spin_unlock(&c->lock);
	CHECK(c->value >= 5);

	CHECK(bpf_map_update_elem(&sparse, &key, &value, BPF_ANY) == 0);
	found = bpf_map_lookup_elem(&sparse, &key);
	CHECK(found && *found == 42);
	CHECK(bpf_map_delete_elem(&sparse, &key) == 0);
	CHECK(bpf_map_lookup_elem(&sparse, &key) == 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
