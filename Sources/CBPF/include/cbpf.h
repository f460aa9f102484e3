// Fixed-arity wrappers around the variadic syscall(2) for bpf(2) and friends. Swift cannot call variadic C
// functions, so every system call swift-load makes that glibc does not wrap goes through here.
// Every wrapper returns the result, or -errno on failure (never touches the caller's errno).
#ifndef CBPF_H
#define CBPF_H

#include <stdint.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/perf_event.h>

/// bpf(cmd, attr, size). Returns the result (often a new fd) or -errno.
long cbpf_bpf(int cmd, union bpf_attr *attr, unsigned int size);

/// perf_event_open(attr, pid, cpu, group_fd, flags). Returns the fd or -errno.
long cbpf_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags);

/// ioctl(fd, request, arg) with an integer argument. Returns the result or -errno.
long cbpf_ioctl(int fd, unsigned long request, unsigned long arg);

#endif
