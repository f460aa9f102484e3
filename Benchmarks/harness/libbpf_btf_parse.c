// libbpf_btf_parse: the reference side of Benchmarks/run's btf_parse_index measurement.
//
// Usage: libbpf_btf_parse [-n ITERATIONS] [-f STRUCT_NAME] [FILE]
//        (FILE defaults to /sys/kernel/btf/vmlinux, STRUCT_NAME to task_struct)
//
// Each iteration calls btf__parse(FILE, NULL) (read the file, validate, build libbpf's type offset table)
// and btf__free, then one btf__find_by_name_kind(STRUCT_NAME, BTF_KIND_STRUCT) on the parsed BTF
// (libbpf has no name index: that lookup is a linear scan). Output matches btf-bench's:
//
//   iter 3 total_ns 5123456 cpu_ns 5100000 find_ns 1234 found 114
//   maxrss_kb 23456 types 123456
//
// Build: cc -O2 -o libbpf_btf_parse libbpf_btf_parse.c -lbpf

#include <bpf/btf.h>
#include <errno.h>
#include <linux/btf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall time, and process CPU time (not inflated when other processes compete for the cores). */
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

int main(int argc, char **argv) {
    int iterations = 20;
    const char *path = "/sys/kernel/btf/vmlinux";
    const char *find = "task_struct";
    int opt;
    while ((opt = getopt(argc, argv, "n:f:")) != -1) {
        if (opt == 'n') {
            iterations = atoi(optarg);
            if (iterations <= 0) {
                fprintf(stderr, "libbpf_btf_parse: -n needs a positive integer\n");
                return 2;
            }
        } else if (opt == 'f') {
            find = optarg;
        } else {
            fprintf(stderr, "usage: libbpf_btf_parse [-n ITERATIONS] [-f STRUCT_NAME] [FILE]\n");
            return 2;
        }
    }
    if (optind < argc) path = argv[optind];

    unsigned types = 0;
    for (int i = 0; i < iterations; i++) {
        uint64_t c0 = cpu_ns();
        uint64_t t0 = now_ns();
        struct btf *btf = btf__parse(path, NULL);
        uint64_t t1 = now_ns();
        uint64_t c1 = cpu_ns();
        if (btf == NULL) { /* libbpf 1.x: NULL and errno on failure */
            fprintf(stderr, "libbpf_btf_parse: btf__parse(%s): %s\n", path, strerror(errno));
            return 1;
        }
        uint64_t f0 = now_ns();
        int id = btf__find_by_name_kind(btf, find, BTF_KIND_STRUCT);
        uint64_t t2 = now_ns();
        if (id < 0) {
            fprintf(stderr, "libbpf_btf_parse: struct %s not found in %s\n", find, path);
            return 1;
        }
        types = btf__type_cnt(btf) - 1;
        printf("iter %d total_ns %llu cpu_ns %llu find_ns %llu found %d\n", i, (unsigned long long)(t1 - t0),
               (unsigned long long)(c1 - c0), (unsigned long long)(t2 - f0), id);
        btf__free(btf);
    }
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("maxrss_kb %ld types %u\n", usage.ru_maxrss, types);
    return 0;
}
