// Fixed-arity wrappers around the variadic syscall(2) for bpf(2) and friends, and one attribute struct per
// bpf() command. Swift cannot call variadic C functions, so every system call swift-load makes that glibc
// does not wrap goes through here. Every wrapper returns the result, or -errno on failure (never touches
// the caller's errno).
//
// Why our own attribute structs: `union bpf_attr` is a union of anonymous structs whose field names Swift
// imports ambiguously (`flags` exists in several), and the system's <linux/bpf.h> (Debian's 6.1 headers)
// lacks newer fields (`log_true_size`, tcx, path_fd). Each struct below mirrors one anonymous member of
// the kernel's union byte for byte; cbpf.c checks every field the system header has against it at compile
// time, so only the newer fields are ours alone.
#ifndef CBPF_H
#define CBPF_H

#include <stdint.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/perf_event.h>

/// BPF_MAP_CREATE.
struct cbpf_map_create_attr {
    uint32_t map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node;
    char map_name[16];
    uint32_t map_ifindex, btf_fd, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id;
    uint64_t map_extra;
} __attribute__((aligned(8)));

/// BPF_MAP_LOOKUP_ELEM, UPDATE_ELEM, DELETE_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE.
struct cbpf_map_elem_attr {
    uint32_t map_fd, pad;
    uint64_t key;
    uint64_t value; // or next_key
    uint64_t flags;
};

/// BPF_MAP_*_BATCH.
struct cbpf_map_batch_attr {
    uint64_t in_batch, out_batch, keys, values;
    uint32_t count, map_fd;
    uint64_t elem_flags, flags;
};

/// BPF_PROG_LOAD (through log_true_size, kernel 6.4).
struct cbpf_prog_load_attr {
    uint32_t prog_type, insn_cnt;
    uint64_t insns, license;
    uint32_t log_level, log_size;
    uint64_t log_buf;
    uint32_t kern_version, prog_flags;
    char prog_name[16];
    uint32_t prog_ifindex, expected_attach_type, prog_btf_fd, func_info_rec_size;
    uint64_t func_info;
    uint32_t func_info_cnt, line_info_rec_size;
    uint64_t line_info;
    uint32_t line_info_cnt, attach_btf_id;
    uint32_t attach_btf_obj_fd; // or attach_prog_fd
    uint32_t core_relo_cnt;
    uint64_t fd_array, core_relos;
    uint32_t core_relo_rec_size, log_true_size;
};

/// BPF_BTF_LOAD (through btf_log_true_size, kernel 6.4).
struct cbpf_btf_load_attr {
    uint64_t btf, btf_log_buf;
    uint32_t btf_size, btf_log_size, btf_log_level, btf_log_true_size;
};

/// BPF_OBJ_PIN, BPF_OBJ_GET.
struct cbpf_obj_attr {
    uint64_t pathname;
    uint32_t bpf_fd, file_flags;
};

/// BPF_PROG_GET_NEXT_ID, MAP_/BTF_/LINK_GET_NEXT_ID, *_GET_FD_BY_ID.
struct cbpf_id_attr {
    uint32_t id, next_id, open_flags;
};

/// BPF_OBJ_GET_INFO_BY_FD.
struct cbpf_info_attr {
    uint32_t bpf_fd, info_len;
    uint64_t info;
};

/// BPF_PROG_TEST_RUN.
struct cbpf_test_run_attr {
    uint32_t prog_fd, retval, data_size_in, data_size_out;
    uint64_t data_in, data_out;
    uint32_t repeat, duration, ctx_size_in, ctx_size_out;
    uint64_t ctx_in, ctx_out;
    uint32_t flags, cpu, batch_size, pad;
};

/// BPF_PROG_BIND_MAP.
struct cbpf_prog_bind_map_attr {
    uint32_t prog_fd, map_fd, flags;
};

/// BPF_RAW_TRACEPOINT_OPEN.
struct cbpf_raw_tracepoint_attr {
    uint64_t name;
    uint32_t prog_fd, pad;
};

/// BPF_PROG_ATTACH, BPF_PROG_DETACH (legacy attachment of cgroup and sockmap programs).
struct cbpf_prog_attach_attr {
    uint32_t target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd;
};

/// BPF_LINK_CREATE: the common head and the per-link-type tail (kernel 6.6 for tcx).
struct cbpf_link_create_attr {
    uint32_t prog_fd;       // or map_fd
    uint32_t target;        // target_fd or target_ifindex
    uint32_t attach_type, flags;
    union {
        uint32_t target_btf_id;
        struct { uint64_t iter_info; uint32_t iter_info_len, pad; } iter;
        struct { uint64_t bpf_cookie; } perf_event;
        struct { uint32_t flags, cnt; uint64_t syms, addrs, cookies; } kprobe_multi;
        struct { uint32_t target_btf_id, pad; uint64_t cookie; } tracing;
        struct { uint32_t relative_fd, pad; uint64_t expected_revision; } tcx;
        struct { uint64_t path, offsets, ref_ctr_offsets, cookies; uint32_t cnt, flags, pid, pad; } uprobe_multi;
    } tail;
};

/// BPF_LINK_UPDATE.
struct cbpf_link_update_attr {
    uint32_t link_fd, new_prog_fd, flags, old_prog_fd;
};

/// BPF_LINK_DETACH.
struct cbpf_link_detach_attr {
    uint32_t link_fd;
};

/// BPF_ENABLE_STATS.
struct cbpf_enable_stats_attr {
    uint32_t type;
};

/// BPF_ITER_CREATE.
struct cbpf_iter_create_attr {
    uint32_t link_fd, flags;
};

/// bpf(cmd, attr, size). Returns the result (often a new fd) or -errno.
long cbpf_bpf(int cmd, void *attr, unsigned int size);

/// perf_event_open(attr, pid, cpu, group_fd, flags). Returns the fd or -errno.
long cbpf_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags);

/// ioctl(fd, request, arg) with an integer argument. Returns the result or -errno.
long cbpf_ioctl(int fd, unsigned long request, unsigned long arg);

/// fcntl(fd, F_DUPFD_CLOEXEC, minimum): a close-on-exec duplicate numbered at least `minimum`, or -errno.
int cbpf_dup_cloexec(int fd, int minimum);

/// statfs(path).f_type (the filesystem magic), or -errno.
long cbpf_filesystem_magic(const char *path);

/// The ioctl request numbers Swift cannot import (they are function-like macros).
extern const unsigned long cbpf_PERF_EVENT_IOC_ENABLE;
extern const unsigned long cbpf_PERF_EVENT_IOC_DISABLE;
extern const unsigned long cbpf_PERF_EVENT_IOC_SET_BPF;

#endif
