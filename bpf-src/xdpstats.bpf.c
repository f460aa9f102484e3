/* XDP: per-source-IPv4 packet/byte counters in an LRU hash, updated with
 * atomic adds. Passes every packet. */
#include "common.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>

struct ip_stats {
	u64 packets;
	u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);		/* source address, network order */
	__type(value, struct ip_stats);
} src_stats SEC(".maps");

SEC("xdp")
int xdp_ip_stats(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct ip_stats *stats, fresh = {};
	u64 len = data_end - data;
	u32 saddr;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	saddr = ip->saddr;
	stats = bpf_map_lookup_elem(&src_stats, &saddr);
	if (!stats) {
		bpf_map_update_elem(&src_stats, &saddr, &fresh, BPF_NOEXIST);
		stats = bpf_map_lookup_elem(&src_stats, &saddr);
		if (!stats)
			return XDP_PASS;
	}
	__sync_fetch_and_add(&stats->packets, 1);
	__sync_fetch_and_add(&stats->bytes, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
