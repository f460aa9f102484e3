#define _GNU_SOURCE
#include "cbpf.h"
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

// Every field the system's union bpf_attr has must sit where our struct puts it; a mismatch fails the build.
#define SAME(ours, field, theirs) \
    _Static_assert(offsetof(struct ours, field) == offsetof(union bpf_attr, theirs), #ours "." #field)

SAME(cbpf_map_create_attr, map_type, map_type); SAME(cbpf_map_create_attr, numa_node, numa_node);
SAME(cbpf_map_create_attr, map_name, map_name); SAME(cbpf_map_create_attr, btf_fd, btf_fd);
SAME(cbpf_map_create_attr, btf_vmlinux_value_type_id, btf_vmlinux_value_type_id);
SAME(cbpf_map_create_attr, map_extra, map_extra);
SAME(cbpf_map_elem_attr, map_fd, map_fd); SAME(cbpf_map_elem_attr, key, key);
SAME(cbpf_map_elem_attr, value, value); SAME(cbpf_map_elem_attr, flags, flags);
SAME(cbpf_map_batch_attr, in_batch, batch.in_batch); SAME(cbpf_map_batch_attr, count, batch.count);
SAME(cbpf_map_batch_attr, map_fd, batch.map_fd); SAME(cbpf_map_batch_attr, flags, batch.flags);
SAME(cbpf_map_batch_attr, elem_flags, batch.elem_flags);
SAME(cbpf_prog_load_attr, insns, insns); SAME(cbpf_prog_load_attr, log_buf, log_buf);
SAME(cbpf_prog_load_attr, prog_name, prog_name); SAME(cbpf_prog_load_attr, func_info, func_info);
SAME(cbpf_prog_load_attr, line_info_cnt, line_info_cnt); SAME(cbpf_prog_load_attr, attach_btf_id, attach_btf_id);
SAME(cbpf_prog_load_attr, attach_btf_obj_fd, attach_btf_obj_fd);
SAME(cbpf_prog_load_attr, fd_array, fd_array); SAME(cbpf_prog_load_attr, core_relo_rec_size, core_relo_rec_size);
SAME(cbpf_btf_load_attr, btf, btf); SAME(cbpf_btf_load_attr, btf_log_level, btf_log_level);
SAME(cbpf_obj_attr, pathname, pathname); SAME(cbpf_obj_attr, file_flags, file_flags);
SAME(cbpf_id_attr, id, start_id); SAME(cbpf_id_attr, next_id, next_id); SAME(cbpf_id_attr, open_flags, open_flags);
SAME(cbpf_info_attr, bpf_fd, info.bpf_fd); SAME(cbpf_info_attr, info, info.info);
SAME(cbpf_test_run_attr, retval, test.retval); SAME(cbpf_test_run_attr, ctx_out, test.ctx_out);
SAME(cbpf_test_run_attr, batch_size, test.batch_size);
SAME(cbpf_prog_bind_map_attr, flags, prog_bind_map.flags);
SAME(cbpf_raw_tracepoint_attr, prog_fd, raw_tracepoint.prog_fd);
SAME(cbpf_prog_attach_attr, replace_bpf_fd, replace_bpf_fd);
SAME(cbpf_link_create_attr, attach_type, link_create.attach_type);
SAME(cbpf_link_create_attr, tail.target_btf_id, link_create.target_btf_id);
SAME(cbpf_link_create_attr, tail.iter.iter_info_len, link_create.iter_info_len);
SAME(cbpf_link_create_attr, tail.perf_event.bpf_cookie, link_create.perf_event.bpf_cookie);
SAME(cbpf_link_create_attr, tail.kprobe_multi.cookies, link_create.kprobe_multi.cookies);
SAME(cbpf_link_update_attr, old_prog_fd, link_update.old_prog_fd);
SAME(cbpf_link_detach_attr, link_fd, link_detach.link_fd);
SAME(cbpf_enable_stats_attr, type, enable_stats.type);
SAME(cbpf_iter_create_attr, flags, iter_create.flags);

const unsigned long cbpf_PERF_EVENT_IOC_ENABLE = PERF_EVENT_IOC_ENABLE;
const unsigned long cbpf_PERF_EVENT_IOC_DISABLE = PERF_EVENT_IOC_DISABLE;
const unsigned long cbpf_PERF_EVENT_IOC_SET_BPF = PERF_EVENT_IOC_SET_BPF;

long cbpf_bpf(int cmd, void *attr, unsigned int size) {
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

int cbpf_dup_cloexec(int fd, int minimum) {
    int r = fcntl(fd, F_DUPFD_CLOEXEC, minimum);
    return r < 0 ? -errno : r;
}

long cbpf_filesystem_magic(const char *path) {
    struct statfs info;
    return statfs(path, &info) < 0 ? -errno : (long)info.f_type;
}
