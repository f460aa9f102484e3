/* Global data: const volatile knobs (.rodata), initialised .data, zeroed
 * .bss, and a string literal in .rodata.str1.1. check_globals (XDP, run with
 * BPF_PROG_TEST_RUN) returns 0 when the values are the compiled-in ones; a
 * loader that rewrites the knobs before load should see a failure line. */
#include "common.h"

const volatile u32 knob_u32 = 7;
const volatile u64 knob_u64 = 0x1122334455667788ULL;
const volatile char knob_name[8] = "swift";
const volatile u32 knob_zero;		/* in .rodata, value 0 */

u32 data_counter = 100;
u64 data_array[4] = { 1, 2, 3, 4 };

u32 bss_counter;
u64 bss_array[8];

/* A static (LOCAL symbol) array in .rodata next to the knobs. */
static const char banner_fmt[] = "globals: knob=%u data=%u\n";

char message[32];

SEC("xdp")
int check_globals(struct xdp_md *ctx)
{
	const char *literal = "string literal in .rodata.str1.1";
	int i;

	/* keep the pointer opaque so the literal stays in .rodata.str1.1 */
	asm volatile("" : "+r"(literal));

	CHECK(knob_u32 == 7);
	CHECK(knob_u64 == 0x1122334455667788ULL);
	CHECK(knob_name[0] == 's' && knob_name[4] == 't' && knob_name[5] == 0);
	CHECK(knob_zero == 0);
	CHECK(data_array[0] == 1 && data_array[3] == 4);
	CHECK(data_counter >= 100);
	/* .bss starts zero; every run adds one, so both move together */
	CHECK(bss_counter == data_counter - 100);
	bss_counter++;
	data_counter++;
	bss_array[7] = 0xabcdef;
	CHECK(bss_array[7] == 0xabcdef);
	for (i = 0; i < 6; i++)
		message[i] = literal[i];
	CHECK(message[0] == 's' && message[5] == 'g');
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int print_globals(void *ctx)
{
	bpf_trace_printk(banner_fmt, sizeof(banner_fmt), knob_u32, data_counter);
	bpf_trace_printk("literal %s\n", sizeof("literal %s\n"), message);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
