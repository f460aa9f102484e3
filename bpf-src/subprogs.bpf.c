/* BPF-to-BPF calls: static and global non-inlined subprograms, a .text
 * function called from two sections, and a bpf_loop callback. check_* are
 * runnable with BPF_PROG_TEST_RUN and return 0 or the failing line. */
#include "common.h"

/* Static subprogram in .text. */
static __noinline int add_static(int a, int b)
{
	return a + b;
}

/* Static subprogram calling another one (two levels of linking). */
static __noinline int mul_add(int a, int b, int c)
{
	return add_static(a * b, c);
}

/* Global subprogram: verified on its own (arguments are unknown scalars). */
__noinline int global_square(int x)
{
	return x * x;
}

/* Global subprogram taking a context pointer. */
__noinline int global_ctx_len(struct __sk_buff *skb)
{
	if (!skb)
		return -1;
	return skb->len;
}

/* The callbacks accumulate in .bss (not in a stack context with known
 * constants) so the verifier's callback states converge quickly. */
u64 loop_sum;
u32 loop_calls;

static int sum_callback(u32 index, void *data)
{
	loop_sum += index;
	loop_calls++;
	return 0;		/* 0 = continue */
}

static int stop_at_five(u32 index, void *data)
{
	loop_calls++;
	return index == 4;	/* 1 = stop */
}

/* Shared by two entry programs in different sections. */
__noinline int shared_helper(int x)
{
	return add_static(x, 1000);
}

SEC("xdp")
int check_subprogs(struct xdp_md *ctx)
{
	CHECK(add_static(2, 3) == 5);
	CHECK(mul_add(3, 4, 5) == 17);
	CHECK(global_square(9) == 81);
	CHECK(shared_helper(1) == 1001);
	return 0;
}

SEC("xdp")
int check_loop(struct xdp_md *ctx)
{
	loop_sum = 0;
	loop_calls = 0;
	CHECK(bpf_loop(10, sum_callback, NULL, 0) == 10);
	CHECK(loop_sum == 45 && loop_calls == 10);
	loop_calls = 0;
	CHECK(bpf_loop(100, stop_at_five, NULL, 0) == 5);
	CHECK(loop_calls == 5);
	return 0;
}

SEC("tc")
int check_tc_subprogs(struct __sk_buff *skb)
{
	CHECK(global_ctx_len(skb) == (int)skb->len);
	CHECK(shared_helper(2) == 1002);
	CHECK(global_square(-3) == 9);
	return 0;
}

SEC("raw_tp/sys_enter")
int check_raw_tp_subprogs(void *ctx)
{
	CHECK(mul_add(1, 1, 1) == 2);
	CHECK(shared_helper(5) == 1005);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
