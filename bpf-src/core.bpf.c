/* CO-RE: every relocation kind, struct flavors, bitfields and .kconfig
 * externs. Kernel types are declared here with preserve_access_index; only
 * the fields used are listed, in any order (CO-RE matches them by name). */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct list_head {
	struct list_head *next, *prev;
} __attribute__((preserve_access_index));

struct mm_struct {
	unsigned long start_stack;
	unsigned long arg_start;
	unsigned long total_vm;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int __state;
	unsigned int flags;
	struct mm_struct *mm;
	unsigned sched_reset_on_fork:1;
	unsigned sched_contributes_to_load:1;
	unsigned in_execve:1;
	unsigned in_iowait:1;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
} __attribute__((preserve_access_index));

/* Flavor for kernels before 5.14, where the state field was `long state`. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* A type that no kernel has: type/field existence must be 0. */
struct swift_load_no_such_type {
	int nothing;
} __attribute__((preserve_access_index));

/* Local enum flavor: essential names bpf_func_id / BPF_FUNC_loop. */
enum bpf_func_id___local {
	BPF_FUNC_loop___local = 1,
	BPF_FUNC_swift_load_missing___local = 2,
};

extern u32 LINUX_KERNEL_VERSION __kconfig;
extern u32 CONFIG_HZ __kconfig;
extern int CONFIG_SWIFT_LOAD_NOT_A_CONFIG __kconfig __weak;

struct task_info {
	u32 pid;
	u32 ppid;
	u32 state;
	u32 in_execve;
	u64 arg_start;
	u32 comm_size;
	u32 kernel_version;
	u32 hz;
	u32 missing_config;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct task_info);
} task_infos SEC(".maps");

static __always_inline u32 task_state(struct task_struct *task)
{
	struct task_struct___old *old = (void *)task;

	if (bpf_core_field_exists(old->state))
		return BPF_CORE_READ(old, state);
	return BPF_CORE_READ(task, __state);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int core_read_task(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_info info = {};
	u32 pid;

	info.pid = BPF_CORE_READ(task, tgid);
	info.ppid = BPF_CORE_READ(task, real_parent, tgid);
	info.state = task_state(task);
	info.in_execve = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	info.arg_start = BPF_CORE_READ(task, mm, arg_start);
	info.comm_size = bpf_core_field_size(task->comm);
	BPF_CORE_READ_STR_INTO(&info.comm, task, comm);
	info.kernel_version = LINUX_KERNEL_VERSION;
	info.hz = CONFIG_HZ;
	info.missing_config = CONFIG_SWIFT_LOAD_NOT_A_CONFIG;
	pid = info.pid;
	bpf_map_update_elem(&task_infos, &pid, &info, BPF_ANY);
	return 0;
}

/* BTF-enabled tracepoint: direct loads from the typed pointer are relocated
 * by patching the load instruction's offset. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(core_exec_direct, struct task_struct *p, int old_pid)
{
	struct task_info info = {};
	u32 pid = p->tgid;

	info.pid = pid;
	info.ppid = p->real_parent->tgid;
	info.state = p->__state;
	info.in_execve = p->in_execve;
	bpf_map_update_elem(&task_infos, &pid, &info, BPF_ANY);
	return 0;
}

/* Deterministic CO-RE results on any kernel with BTF. Run with
 * BPF_PROG_TEST_RUN: 0 = all checks passed, else the failing line. */
SEC("syscall")
int check_core(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct list_head *lh = 0;

	/* type_exists / type_matches / type_size / ids */
	CHECK(bpf_core_type_exists(struct task_struct) == 1);
	CHECK(bpf_core_type_exists(struct swift_load_no_such_type) == 0);
	CHECK(bpf_core_type_matches(struct list_head) == 1);
	CHECK(bpf_core_type_size(struct list_head) == 16);
	CHECK(bpf_core_type_id_kernel(struct task_struct) != 0);
	CHECK(bpf_core_type_id_local(struct task_struct) != 0);
	/* fields */
	CHECK(bpf_core_field_exists(task->comm) == 1);
	CHECK(bpf_core_field_exists(((struct task_struct___old *)task)->state) == 0);
	CHECK(bpf_core_field_exists(((struct swift_load_no_such_type *)task)->nothing) == 0);
	CHECK(bpf_core_field_size(task->comm) == 16);
	CHECK(bpf_core_field_size(task->pid) == 4);
	CHECK(bpf_core_field_offset(lh->prev) == 8);
	/* enums */
	CHECK(bpf_core_enum_value_exists(enum bpf_func_id___local, BPF_FUNC_loop___local) == 1);
	CHECK(bpf_core_enum_value_exists(enum bpf_func_id___local, BPF_FUNC_swift_load_missing___local) == 0);
	CHECK(bpf_core_enum_value(enum bpf_func_id___local, BPF_FUNC_loop___local) == 181);
	CHECK(bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF) == 27);
	/* bitfield read of the running task (not exec-ing) and a kconfig value */
	CHECK(BPF_CORE_READ_BITFIELD_PROBED(task, in_execve) == 0);
	CHECK(BPF_CORE_READ(task, pid) != 0);
	CHECK(CONFIG_HZ >= 100);
	CHECK(CONFIG_SWIFT_LOAD_NOT_A_CONFIG == 0);
	CHECK(LINUX_KERNEL_VERSION >= (5 << 16));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
