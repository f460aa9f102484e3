/* Shared includes and helpers for the swift-load test fixtures.
 * Kernel types are declared per fixture (no vmlinux.h) so the objects are
 * small and reproducible. */
#ifndef FIXTURES_COMMON_H
#define FIXTURES_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

/* Self-checking programs return 0 on success and the failing line otherwise,
 * so a test that runs them with BPF_PROG_TEST_RUN can name the assertion. */
#define CHECK(c) do { if (!(c)) return __LINE__; } while (0)

#endif
