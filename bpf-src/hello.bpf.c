/* Minimal tracepoint program: prints a line on every execve. */
#include "common.h"

SEC("tracepoint/syscalls/sys_enter_execve")
int hello(void *ctx)
{
	bpf_printk("Hello, World from swift-load!");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
