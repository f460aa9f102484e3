/* Verifier must reject: reads 8 bytes past the end of an 8-byte map value
 * ("invalid access to map value"). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} small SEC(".maps");

SEC("xdp")
int err_oob_map_value(struct xdp_md *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&small, &zero);

	if (!v)
		return 0;
	return *(volatile u64 *)((char *)v + 8);
}

char LICENSE[] SEC("license") = "GPL";
