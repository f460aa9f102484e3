// libbpf_ringbuf_bench: the reference side of Benchmarks/run's `ringbuf` rows: libbpf 1.1.2 (Debian's
// libbpf-dev) consuming the ring buffer of Fixtures/ringbuf_bench.o with ring_buffer__poll /
// ring_buffer__consume, doing what ringbuf-bench (Sources/ringbuf-bench) does with swift-load.
//
// Usage (same modes and output as ringbuf-bench):
//   libbpf_ringbuf_bench stream [-n ROUNDS] [-d MILLISECONDS] [--size BYTES] OBJECT
//       Each round: a producer thread calls getpid() in a loop while this thread consumes with
//       ring_buffer__poll(rb, 100) for the duration; prints
//         iter R events N ns T cpu_ns C written W dropped D hits H
//   libbpf_ringbuf_bench drain [-n ROUNDS] [--size BYTES] OBJECT
//       Each round: getpid() until the ring is three-quarters full, then one ring_buffer__consume; prints
//         iter R events N ns T
// Then "checksum C" and "maxrss_kb N". The ring `rb` is resized to --size bytes (bpf_map__set_max_entries)
// before loading; the program is attached from its section (bpf_program__attach). Failures exit 2.
//
// Build: cc -O2 -o libbpf_ringbuf_bench libbpf_ringbuf_bench.c -lbpf -lpthread

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

enum { RECORDS_PER_HIT = 64, RECORD_BYTES = 24 };

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void fail(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fputs("libbpf_ringbuf_bench: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
	va_end(args);
	exit(2);
}

static int quiet(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level;
	(void)format;
	(void)args;
	return 0;
}

static atomic_bool producing;
static atomic_uint_fast64_t producer_hits;
static uint64_t checksum;
static long consumed;
static int state_fd;

static void *producer(void *unused)
{
	(void)unused;
	while (atomic_load_explicit(&producing, memory_order_relaxed)) {
		getpid();
		atomic_fetch_add_explicit(&producer_hits, 1, memory_order_relaxed);
	}
	return NULL;
}

// Whether the callback counts: off while the ring is emptied between rounds (one ring_buffer instance for
// both, as the Swift side has one reader: a second instance would map, and fault in, the data again).
static bool counting;

static int handle(void *context, void *data, size_t size)
{
	(void)context;
	(void)size;
	if (!counting)
		return 0;
	uint64_t value;
	consumed++;
	memcpy(&value, (const char *)data + 8, sizeof(value));
	checksum += value;
	return 0;
}

static void drain_all(struct ring_buffer *ring)
{
	counting = false;
	while (ring_buffer__consume(ring) > 0) {
	}
	counting = true;
}

static uint64_t counter(uint32_t key)
{
	uint64_t value = 0;
	if (bpf_map_lookup_elem(state_fd, &key, &value))
		fail("bench_state lookup: %s", strerror(errno));
	return value;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "stream") && strcmp(argv[1], "drain")))
		fail("usage: libbpf_ringbuf_bench stream|drain [-n ROUNDS] [-d MILLISECONDS] [--size BYTES] OBJECT");
	const char *mode = argv[1];
	int rounds = 5;
	long duration_ms = 1000;
	long ring_size = 16 << 20;
	const char *path = NULL;
	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "-d") || !strcmp(argv[i], "--size")) && i + 1 < argc) {
			long value = strtol(argv[i + 1], NULL, 10);
			if (value <= 0)
				fail("%s needs a positive integer", argv[i]);
			if (!strcmp(argv[i], "-n"))
				rounds = (int)value;
			else if (!strcmp(argv[i], "-d"))
				duration_ms = value;
			else
				ring_size = value;
			i++;
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			fail("unexpected argument %s", argv[i]);
		}
	}
	if (!path)
		fail("no object given");
	libbpf_set_print(quiet);

	struct bpf_object *object = bpf_object__open_file(path, NULL);
	if (!object)
		fail("opening %s: %s", path, strerror(errno));
	struct bpf_map *rb_map = bpf_object__find_map_by_name(object, "rb");
	struct bpf_map *state_map = bpf_object__find_map_by_name(object, "bench_state");
	struct bpf_program *program = bpf_object__find_program_by_name(object, "ringbuf_bench");
	if (!rb_map || !state_map || !program)
		fail("%s lacks rb, bench_state or ringbuf_bench", path);
	if (bpf_map__set_max_entries(rb_map, (uint32_t)ring_size))
		fail("resizing rb");
	if (bpf_object__load(object))
		fail("loading %s: %s", path, strerror(errno));
	state_fd = bpf_map__fd(state_map);
	uint32_t key = 0;
	uint64_t pid = (uint64_t)getpid();
	if (bpf_map_update_elem(state_fd, &key, &pid, BPF_ANY))
		fail("bench_state update: %s", strerror(errno));
	struct bpf_link *link = bpf_program__attach(program);
	if (!link)
		fail("attaching: %s", strerror(errno));
	struct ring_buffer *ring = ring_buffer__new(bpf_map__fd(rb_map), handle, NULL, NULL);
	if (!ring)
		fail("ring_buffer__new: %s", strerror(errno));

	if (!strcmp(mode, "stream")) {
		for (int round = 0; round < rounds; round++) {
			drain_all(ring);
			uint64_t written0 = counter(1), dropped0 = counter(2);
			atomic_store(&producer_hits, 0);
			atomic_store(&producing, true);
			pthread_t thread;
			if (pthread_create(&thread, NULL, producer, NULL))
				fail("pthread_create");
			consumed = 0;
			uint64_t start = now_ns(), cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
			uint64_t end = start + (uint64_t)duration_ms * 1000000ull;
			while (now_ns() < end) {
				int result = ring_buffer__poll(ring, 100);
				if (result < 0 && result != -EINTR)
					fail("ring_buffer__poll: %d", result);
			}
			uint64_t elapsed = now_ns() - start, cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
			long events = consumed;
			atomic_store(&producing, false);
			pthread_join(thread, NULL);
			printf("iter %d events %ld ns %llu cpu_ns %llu written %llu dropped %llu hits %llu\n", round, events,
			       (unsigned long long)elapsed, (unsigned long long)cpu, (unsigned long long)(counter(1) - written0),
			       (unsigned long long)(counter(2) - dropped0), (unsigned long long)atomic_load(&producer_hits));
		}
	} else {
		long hits_per_round = ring_size / RECORD_BYTES / RECORDS_PER_HIT * 3 / 4;
		for (int round = 0; round < rounds; round++) {
			drain_all(ring);
			uint64_t dropped0 = counter(2);
			for (long i = 0; i < hits_per_round; i++)
				getpid();
			if (counter(2) != dropped0)
				fail("the ring overflowed while filling");
			consumed = 0;
			uint64_t start = now_ns();
			int result = ring_buffer__consume(ring);
			uint64_t elapsed = now_ns() - start;
			if (result < 0)
				fail("ring_buffer__consume: %d", result);
			if (consumed != hits_per_round * RECORDS_PER_HIT)
				fail("consumed %ld of %ld", consumed, hits_per_round * RECORDS_PER_HIT);
			printf("iter %d events %ld ns %llu\n", round, consumed, (unsigned long long)elapsed);
		}
	}
	bpf_link__destroy(link);
	ring_buffer__free(ring);
	bpf_object__close(object);
	printf("checksum %llu\n", (unsigned long long)checksum);
	struct rusage usage;
	getrusage(RUSAGE_SELF, &usage);
	printf("maxrss_kb %ld\n", usage.ru_maxrss);
	return 0;
}
