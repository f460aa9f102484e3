/* Verifier must reject: dereferences a map lookup result without a NULL
 * check ("invalid mem access 'map_value_or_null'"). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} table SEC(".maps");

SEC("xdp")
int err_null_deref(struct xdp_md *ctx)
{
	u32 key = 1;
	u64 *v = bpf_map_lookup_elem(&table, &key);

	return *(volatile u64 *)v;
}

char LICENSE[] SEC("license") = "GPL";
