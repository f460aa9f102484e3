/* BTF-defined map features: pinning by name, a PROG_ARRAY with static
 * initial slots and tail calls, map-in-map (array of maps with static
 * values, hash of maps with an inline inner definition), a bloom filter
 * (map_extra) and a map with numa_node. check_maps and check_tail_call are
 * XDP programs for BPF_PROG_TEST_RUN: 0 = pass, else the failing line. */
#include "common.h"

/* pinned under <pin root>/pinned_counts; reused if compatible */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_counts SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, u32);
	__array(values, struct inner_map);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_b, [2] = &inner_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 8);
		__type(key, u32);
		__type(value, u64);
	});
} outer_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__type(value, u32);
	__uint(map_extra, 3);		/* number of hash functions */
} bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_NUMA_NODE);
	__uint(numa_node, 0);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} numa_array SEC(".maps");

u32 tail_hits;

SEC("xdp")
int tail_slot0(struct xdp_md *ctx)
{
	tail_hits |= 1;
	return 0;
}

SEC("xdp")
int tail_slot2(struct xdp_md *ctx)
{
	tail_hits |= 4;
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(u32));
	__array(values, int (struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = { [0] = (void *)&tail_slot0, [2] = (void *)&tail_slot2 },
};

/* Jumps to slot 0; falls through only if the slot is empty. */
SEC("xdp")
int check_tail_call(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jump_table, 0);
	return __LINE__;
}

/* Slot 1 is empty: the tail call must fall through. */
SEC("xdp")
int check_tail_call_empty(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jump_table, 1);
	return 0;
}

SEC("xdp")
int check_maps(struct xdp_md *ctx)
{
	u32 key = 3, zero = 0, two = 2, v32, *p32;
	u64 v64 = 1234, *p64;
	void *inner;

	/* hash round trip on the pinned map */
	CHECK(bpf_map_update_elem(&pinned_counts, &key, &v64, BPF_ANY) == 0);
	p64 = bpf_map_lookup_elem(&pinned_counts, &key);
	CHECK(p64 && *p64 == 1234);

	/* numa array */
	CHECK(bpf_map_update_elem(&numa_array, &zero, &v64, BPF_ANY) == 0);
	p64 = bpf_map_lookup_elem(&numa_array, &zero);
	CHECK(p64 && *p64 == 1234);

	/* static map-in-map slots: 0 -> inner_b, 1 empty, 2 -> inner_a */
	inner = bpf_map_lookup_elem(&outer_array, &zero);
	CHECK(inner);
	p32 = bpf_map_lookup_elem(inner, &zero);
	CHECK(p32);
	*p32 = 0xb;
	CHECK(bpf_map_lookup_elem(&outer_array, &key) == 0);
	inner = bpf_map_lookup_elem(&outer_array, &two);
	CHECK(inner);
	p32 = bpf_map_lookup_elem(inner, &zero);
	CHECK(p32);
	*p32 = 0xa;

	/* bloom filter: pushed values are always found */
	v32 = 99;
	CHECK(bpf_map_push_elem(&bloom, &v32, 0) == 0);
	CHECK(bpf_map_peek_elem(&bloom, &v32) == 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
