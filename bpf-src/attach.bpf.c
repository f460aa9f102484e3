/* One program per attach family that this project's test kernel can load
 * and attach (see attach_kernel.bpf.c for kprobe/fentry/lsm). Every program
 * only counts its hits in a per-program slot of `hits`. */
#include "common.h"
#include <linux/ptrace.h>
#include <bpf/bpf_tracing.h>

enum {
	HIT_TRACEPOINT, HIT_TP_ALIAS, HIT_RAW_TP, HIT_RAW_TP_EXIT, HIT_TP_BTF,
	HIT_UPROBE_PATH, HIT_UPROBE, HIT_URETPROBE, HIT_UPROBE_SLEEPABLE,
	HIT_XDP, HIT_TCX_INGRESS, HIT_TCX_EGRESS, HIT_CGROUP_INGRESS,
	HIT_CGROUP_EGRESS, HIT_SOCKET, HIT_PERF_EVENT, HIT_ITER_TASK, HIT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HIT_MAX);
	__type(key, u32);
	__type(value, u64);
} hits SEC(".maps");

static __always_inline void hit(u32 slot)
{
	u64 *count = bpf_map_lookup_elem(&hits, &slot);

	if (count)
		__sync_fetch_and_add(count, 1);
}

/* Kernel types for tp_btf and iter (only the members used). */
struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_tracepoint(void *ctx) { hit(HIT_TRACEPOINT); return 0; }

SEC("tp/syscalls/sys_exit_getpid")
int on_tp_alias(void *ctx) { hit(HIT_TP_ALIAS); return 0; }

SEC("raw_tp/sys_enter")
int on_raw_tp(struct bpf_raw_tracepoint_args *ctx) { hit(HIT_RAW_TP); return 0; }

/* Not loaded unless the user asks for it (leading '?'). */
SEC("?raw_tp/sys_exit")
int on_raw_tp_exit_optional(struct bpf_raw_tracepoint_args *ctx) { hit(HIT_RAW_TP_EXIT); return 0; }

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_tp_btf, struct task_struct *p, int old_pid)
{
	if (p->tgid)
		hit(HIT_TP_BTF);
	return 0;
}

/* Target function the test binary is expected to export. */
SEC("uprobe//proc/self/exe:swift_load_uprobe_target")
int BPF_KPROBE(on_uprobe_path, int arg) { hit(HIT_UPROBE_PATH); return 0; }

/* No target in the section: the user supplies binary and offset. */
SEC("uprobe")
int BPF_KPROBE(on_uprobe, int arg) { hit(HIT_UPROBE); return 0; }

SEC("uretprobe//proc/self/exe:swift_load_uprobe_target")
int BPF_KRETPROBE(on_uretprobe, int ret) { hit(HIT_URETPROBE); return 0; }

/* Sleepable uprobe: may use helpers that fault in user memory. */
SEC("uprobe.s//proc/self/exe:swift_load_uprobe_target")
int BPF_KPROBE(on_uprobe_sleepable, const char *arg)
{
	char buf[8];

	if (bpf_copy_from_user(buf, sizeof(buf), arg) >= 0)
		hit(HIT_UPROBE_SLEEPABLE);
	return 0;
}

SEC("xdp")
int on_xdp(struct xdp_md *ctx) { hit(HIT_XDP); return XDP_PASS; }

SEC("tcx/ingress")
int on_tcx_ingress(struct __sk_buff *skb) { hit(HIT_TCX_INGRESS); return 0; /* TCX_NEXT is -1; 0 = TC_ACT_OK */ }

SEC("tcx/egress")
int on_tcx_egress(struct __sk_buff *skb) { hit(HIT_TCX_EGRESS); return 0; }

SEC("cgroup_skb/ingress")
int on_cgroup_ingress(struct __sk_buff *skb) { hit(HIT_CGROUP_INGRESS); return 1; /* allow */ }

SEC("cgroup_skb/egress")
int on_cgroup_egress(struct __sk_buff *skb) { hit(HIT_CGROUP_EGRESS); return 1; }

SEC("socket")
int on_socket(struct __sk_buff *skb) { hit(HIT_SOCKET); return skb->len; /* keep whole packet */ }

SEC("perf_event")
int on_perf_event(void *ctx) { hit(HIT_PERF_EVENT); return 0; }

SEC("iter/task")
int on_iter_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	u32 pid;

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0)
		hit(HIT_ITER_TASK);
	pid = task->pid;
	bpf_seq_write(seq, &pid, sizeof(pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
