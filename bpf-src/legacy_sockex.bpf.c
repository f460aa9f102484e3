/* samples/bpf sockex1-style socket filter with a legacy SEC("maps") map:
 * struct bpf_map_def records (5 x u32 = 20 bytes each). Counts bytes per IP
 * protocol. libbpf >= 1.0 refuses legacy maps; swift-load supports them. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <stddef.h>

#define SEC(name) __attribute__((section(name), used))

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

struct bpf_map_def SEC("maps") proto_bytes = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(long),
	.max_entries = 256,
};

/* A second legacy map so record size = section size / symbol count is
 * visible (2 records of 20 bytes). */
struct bpf_map_def SEC("maps") proto_packets = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(long),
	.max_entries = 256,
	.map_flags = 0,
};

SEC("socket")
int count_proto_bytes(struct __sk_buff *skb)
{
	__u32 index = load_byte(skb, ETH_HLEN + offsetof(struct iphdr, protocol));
	long *value;

	if (skb->pkt_type != PACKET_OUTGOING)
		return 0;

	value = bpf_map_lookup_elem(&proto_bytes, &index);
	if (value)
		__sync_fetch_and_add(value, skb->len);
	value = bpf_map_lookup_elem(&proto_packets, &index);
	if (value)
		__sync_fetch_and_add(value, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0xFFFFFFFE;
