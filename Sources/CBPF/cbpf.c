#define _GNU_SOURCE
#include "cbpf.h"
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

long cbpf_bpf(int cmd, union bpf_attr *attr, unsigned int size) {
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -errno : r;
}

long cbpf_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags) {
    long r = syscall(__NR_perf_event_open, attr, pid, cpu, group_fd, flags);
    return r < 0 ? -errno : r;
}

long cbpf_ioctl(int fd, unsigned long request, unsigned long arg) {
    long r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}
