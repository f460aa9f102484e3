/* iproute2-style classifier with legacy SEC("maps") maps using the larger
 * struct bpf_elf_map record (9 x u32 = 36 bytes: the extra id, pinning,
 * inner_id and inner_idx fields follow the five standard ones). */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))

#define PIN_NONE 0
#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;

struct bpf_elf_map SEC("maps") cls_counter = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 1,
	.id = 1,
	.pinning = PIN_NONE,
};

struct bpf_elf_map SEC("maps") cls_marks = {
	.type = BPF_MAP_TYPE_HASH,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 64,
	.flags = BPF_F_NO_PREALLOC,
	.id = 2,
	.pinning = PIN_NONE,
};

SEC("classifier")
int cls_main(struct __sk_buff *skb)
{
	__u32 zero = 0, mark = skb->mark;
	__u64 *count = bpf_map_lookup_elem(&cls_counter, &zero);

	if (count)
		__sync_fetch_and_add(count, 1);
	bpf_map_update_elem(&cls_marks, &mark, &zero, BPF_ANY);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "GPL";
