// libbpf_load_bench: the reference side of Benchmarks/run's object-load and map-access rows: libbpf 1.1.2
// (Debian's libbpf-dev, linked statically) doing what load-bench (Sources/load-bench) does with swift-load.
//
// Usage (same modes and output as load-bench):
//   libbpf_load_bench list [--pin DIR] OBJECT...
//       For every program of every object: a fresh bpf_object__open_file with only that program's autoload
//       set, bpf_object__load, close; then the whole object once (libbpf 1.1 loads some programs only with
//       the others: it initializes PROG_ARRAY slots of programs it did not load). Prints
//       "ok OBJECT PROGRAM" for every program that loaded either way (possibly twice).
//   libbpf_load_bench load [-n ROUNDS] [--pin DIR] OBJECT:PROGRAM[,PROGRAM...]...
//       Each round, for every spec: bpf_object__open_file, autoload set for exactly those programs,
//       bpf_object__load (relocation, CO-RE, externs, BTF, maps, programs), unpin what it pinned,
//       bpf_object__close. Prints "iter R wall_ns W kernel_ns K prog_ns P map_ns M btf_ns B loads N".
//   libbpf_load_bench maps [-n OPERATIONS] [-r ROUNDS]
//       bpf_map_create(HASH, u32 -> u64, 65,536 entries); per round OPERATIONS bpf_map_update_elem (BPF_ANY,
//       keys cycling over the map) then OPERATIONS bpf_map_lookup_elem. Prints
//       "iter R update_ns U lookup_ns L ops N".
// Every mode ends with "maxrss_kb N" (getrusage).
//
// Time inside the kernel: libbpf makes its BPF_PROG_LOAD, BPF_MAP_CREATE and BPF_BTF_LOAD calls through its
// own bpf_prog_load / bpf_map_create / bpf_btf_load (bpf.o), which libbpf.o, btf.o and libbpf_probes.o call
// as external symbols; linking the static archive with
//   -Wl,--wrap=bpf_prog_load,--wrap=bpf_map_create,--wrap=bpf_btf_load
// sends those calls through the __wrap_ functions below, which time them. That covers every such call
// libbpf makes during a load, its feature probes included (bpf_object__load loads a trivial program each
// time to check that bpf() works).
//
// Build: cc -O2 -o libbpf_load_bench libbpf_load_bench.c -Wl,--wrap=... -l:libbpf.a -lelf -lz

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// --- Time inside the kernel's load commands (see the header) ------------------------------------------
static uint64_t prog_load_ns, map_create_ns, btf_load_ns;

int __real_bpf_prog_load(enum bpf_prog_type prog_type, const char *prog_name, const char *license,
			 const struct bpf_insn *insns, size_t insn_cnt, const struct bpf_prog_load_opts *opts);
int __real_bpf_map_create(enum bpf_map_type map_type, const char *map_name, __u32 key_size, __u32 value_size,
			  __u32 max_entries, const struct bpf_map_create_opts *opts);
int __real_bpf_btf_load(const void *btf_data, size_t btf_size, const struct bpf_btf_load_opts *opts);

int __wrap_bpf_prog_load(enum bpf_prog_type prog_type, const char *prog_name, const char *license,
			 const struct bpf_insn *insns, size_t insn_cnt, const struct bpf_prog_load_opts *opts)
{
	uint64_t start = now_ns();
	int result = __real_bpf_prog_load(prog_type, prog_name, license, insns, insn_cnt, opts);
	int saved = errno;
	prog_load_ns += now_ns() - start;
	errno = saved;
	return result;
}

int __wrap_bpf_map_create(enum bpf_map_type map_type, const char *map_name, __u32 key_size, __u32 value_size,
			  __u32 max_entries, const struct bpf_map_create_opts *opts)
{
	uint64_t start = now_ns();
	int result = __real_bpf_map_create(map_type, map_name, key_size, value_size, max_entries, opts);
	int saved = errno;
	map_create_ns += now_ns() - start;
	errno = saved;
	return result;
}

int __wrap_bpf_btf_load(const void *btf_data, size_t btf_size, const struct bpf_btf_load_opts *opts)
{
	uint64_t start = now_ns();
	int result = __real_bpf_btf_load(btf_data, btf_size, opts);
	int saved = errno;
	btf_load_ns += now_ns() - start;
	errno = saved;
	return result;
}

// --- Helpers ------------------------------------------------------------------------------------------
static int quiet(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level;
	(void)format;
	(void)args;
	return 0;
}

static void fail(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fputs("libbpf_load_bench: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
	va_end(args);
	exit(2);
}

static void print_maxrss(void)
{
	struct rusage usage;
	getrusage(RUSAGE_SELF, &usage);
	printf("maxrss_kb %ld\n", usage.ru_maxrss);
}

static struct bpf_object *open_object(const char *path, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, options, .pin_root_path = pin_root);
	return bpf_object__open_file(path, &options);
}

// Whether `name` is one of the comma-separated names in `list` (NULL: every program keeps its autoload).
static bool listed(const char *name, const char *list)
{
	size_t length = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t item = end ? (size_t)(end - p) : strlen(p);
		if (item == length && strncmp(p, name, length) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

// Opens `path`, sets autoload for exactly the programs in `programs` (all defaults when NULL), loads,
// unpins what the load pinned and closes. Returns bpf_object__load's result (-errno), or -ENOENT-like
// failure of the open as -errno.
static int load_object(const char *path, const char *programs, const char *pin_root)
{
	struct bpf_object *object = open_object(path, pin_root);
	if (!object)
		return -errno;
	if (programs) {
		struct bpf_program *program;
		bpf_object__for_each_program(program, object)
			bpf_program__set_autoload(program, listed(bpf_program__name(program), programs));
	}
	int result = bpf_object__load(object);
	struct bpf_map *map;
	bpf_object__for_each_map(map, object) {
		if (bpf_map__is_pinned(map))
			bpf_map__unpin(map, NULL);
	}
	bpf_object__close(object);
	return result;
}

// --- Modes --------------------------------------------------------------------------------------------
static void list(char **objects, int count, const char *pin_root)
{
	for (int i = 0; i < count; i++) {
		struct bpf_object *object = open_object(objects[i], pin_root);
		if (!object)
			continue;
		struct bpf_program *program;
		bpf_object__for_each_program(program, object) {
			const char *name = bpf_program__name(program);
			if (load_object(objects[i], name, pin_root) == 0)
				printf("ok %s %s\n", objects[i], name);
		}
		if (load_object(objects[i], NULL, pin_root) == 0) {
			bpf_object__for_each_program(program, object) {
				if (bpf_program__autoload(program))
					printf("ok %s %s\n", objects[i], bpf_program__name(program));
			}
		}
		bpf_object__close(object);
	}
}

static void load(char **specs, int count, int rounds, const char *pin_root)
{
	if (count == 0)
		fail("load: no OBJECT:PROGRAM given");
	char **paths = calloc((size_t)count, sizeof(char *));
	const char **programs = calloc((size_t)count, sizeof(char *));
	for (int i = 0; i < count; i++) {
		char *colon = strrchr(specs[i], ':');
		if (!colon || colon[1] == '\0')
			fail("%s: expected OBJECT:PROGRAM[,PROGRAM...]", specs[i]);
		paths[i] = strndup(specs[i], (size_t)(colon - specs[i]));
		programs[i] = colon + 1;
	}
	for (int round = 0; round < rounds; round++) {
		prog_load_ns = map_create_ns = btf_load_ns = 0;
		uint64_t start = now_ns();
		for (int i = 0; i < count; i++) {
			int result = load_object(paths[i], programs[i], pin_root);
			if (result != 0)
				fail("%s (%s): load failed: %s", paths[i], programs[i], strerror(-result));
		}
		uint64_t wall = now_ns() - start;
		uint64_t kernel = prog_load_ns + map_create_ns + btf_load_ns;
		printf("iter %d wall_ns %llu kernel_ns %llu prog_ns %llu map_ns %llu btf_ns %llu loads %d\n", round,
		       (unsigned long long)wall, (unsigned long long)kernel, (unsigned long long)prog_load_ns,
		       (unsigned long long)map_create_ns, (unsigned long long)btf_load_ns, count);
	}
}

static void maps(long operations, int rounds)
{
	const uint32_t entries = 65536;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "bench_hash", sizeof(uint32_t), sizeof(uint64_t), entries, NULL);
	if (fd < 0)
		fail("creating the hash map: %s", strerror(errno));
	uint64_t checksum = 0;
	for (int round = 0; round < rounds; round++) {
		uint32_t key;
		uint64_t value;
		uint64_t t0 = now_ns();
		for (long i = 0; i < operations; i++) {
			key = (uint32_t)i & (entries - 1);
			value = (uint64_t)i;
			if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0)
				fail("update: %s", strerror(errno));
		}
		uint64_t t1 = now_ns();
		for (long i = 0; i < operations; i++) {
			key = (uint32_t)i & (entries - 1);
			if (bpf_map_lookup_elem(fd, &key, &value) == 0)
				checksum += value;
			else if (errno != ENOENT)
				fail("lookup: %s", strerror(errno));
		}
		uint64_t t2 = now_ns();
		printf("iter %d update_ns %llu lookup_ns %llu ops %ld\n", round, (unsigned long long)(t1 - t0),
		       (unsigned long long)(t2 - t1), operations);
	}
	printf("checksum %llu\n", (unsigned long long)checksum);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		fail("usage: libbpf_load_bench list|load|maps ... (see the header of harness/libbpf_load_bench.c)");
	const char *mode = argv[1];
	int rounds = 5;
	long operations = 1000000;
	const char *pin_root = NULL;
	char **operands = calloc((size_t)argc, sizeof(char *));
	int count = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			long n = atol(argv[++i]);
			if (n <= 0)
				fail("-n needs a positive integer");
			if (strcmp(mode, "maps") == 0)
				operations = n;
			else
				rounds = (int)n;
		} else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds <= 0)
				fail("-r needs a positive integer");
		} else if (strcmp(argv[i], "--pin") == 0 && i + 1 < argc) {
			pin_root = argv[++i];
		} else if (argv[i][0] == '-') {
			fail("unknown option %s", argv[i]);
		} else {
			operands[count++] = argv[i];
		}
	}
	libbpf_set_print(quiet);
	if (strcmp(mode, "list") == 0)
		list(operands, count, pin_root);
	else if (strcmp(mode, "load") == 0)
		load(operands, count, rounds, pin_root);
	else if (strcmp(mode, "maps") == 0)
		maps(operations, rounds);
	else
		fail("unknown mode %s (list, load, maps)", mode);
	print_maxrss();
	return 0;
}
