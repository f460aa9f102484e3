/*
 * libbpf_load: the libbpf side of swift-load's per-program load comparison.
 *
 * Opens a BPF ELF object with libbpf (Debian's libbpf-dev, 1.1.2) and loads it into the running kernel
 * program by program: for every program, a fresh bpf_object__open_file with only that program's autoload
 * set, then bpf_object__load (which creates every map, loads the object's BTF and that one program), then
 * bpf_object__close. Finally the whole object once, as libbpf loads it by default (every program whose
 * autoload is set; libbpf stops at the first failure). It prints one JSON document:
 *
 *   {"object": NAME,
 *    "programs": [{"name", "section", "autoload": BOOL, "loaded": BOOL, "errno": N,
 *                  "error": FIRST-WARNING-OR-NULL}, ...],
 *    "object_load": {"loaded": BOOL, "errno": N, "error": ...}}
 *
 * `autoload` is the program's default (false for `SEC("?...")`); the whole-object load takes those.
 * `errno` is the positive errno bpf_object__load returned (0 when it loaded); `error` is the first warning
 * libbpf printed during that load, usually "prog 'x': BPF program load failed: <reason>".
 *
 * libbpf 1.1 fails a one-program load of an object whose PROG_ARRAY declares initial slots for other
 * programs (it initializes slots of programs it did not load: EBADF); such programs load only with the
 * whole object, which is why both results are printed.
 *
 * Maps with pinning = LIBBPF_PIN_BY_NAME are pinned under `--pin-root DIR` (which must be on bpffs;
 * libbpf's default is /sys/fs/bpf) and unpinned again after every load, so each load starts fresh and
 * nothing is left behind.
 *
 * Usage: libbpf_load [--pin-root DIR] [--program NAME]... OBJECT
 *   --program: load only these programs one by one (and skip the whole-object load).
 *
 * It is a test oracle only, built by the test run with `cc ... -l:libbpf.a -lelf -lz`, never part of the
 * product. Exit status: 0 with JSON on stdout (whether or not programs loaded); 2 with one line
 * "libbpf refuses: <reason>" on stderr when libbpf cannot open the object (legacy `maps` section,
 * big-endian object, ...); 1 on bad usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "oracle_json.h"

/* The first libbpf warning since the last reset: the reason a load failed. Later warnings of the same
 * load (the verifier log, "failed to load object") add nothing a comparison needs. */
static char first_warning[1024];
static bool have_warning;
/* Everything libbpf prints goes to stderr too when LIBBPF_LOAD_DEBUG is set. */
static bool debug;

static int keep_first_warning(enum libbpf_print_level level, const char *format, va_list args)
{
	if (debug) {
		va_list copy;
		va_copy(copy, args);
		vfprintf(stderr, format, copy);
		va_end(copy);
	}
	if (level == LIBBPF_WARN && !have_warning) {
		vsnprintf(first_warning, sizeof(first_warning), format, args);
		size_t length = strlen(first_warning);
		while (length > 0 && (first_warning[length - 1] == '\n' || first_warning[length - 1] == ' '))
			first_warning[--length] = '\0';
		have_warning = true;
	}
	return 0;
}

static void reset_warning(void)
{
	have_warning = false;
	first_warning[0] = '\0';
}

static struct bpf_object *open_object(const char *path, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, options, .pin_root_path = pin_root);
	return bpf_object__open_file(path, &options);
}

/* Removes the pins this load made (maps with pinning = LIBBPF_PIN_BY_NAME), so the next load starts from
 * nothing and the directory is left as it was. */
static void unpin_maps(struct bpf_object *object)
{
	struct bpf_map *map;
	bpf_object__for_each_map(map, object) {
		if (bpf_map__is_pinned(map))
			bpf_map__unpin(map, NULL);
	}
}

/* The outcome of one bpf_object__load. */
struct outcome {
	bool loaded;
	int error_number;
	char error[sizeof(first_warning)];
	bool has_error;
};

/* Opens `path` afresh and loads it with autoload set only for `only` (every default-autoload program
 * when `only` is NULL). Returns false when the object does not open at all. */
static bool load_once(const char *path, const char *pin_root, const char *only, struct outcome *outcome)
{
	reset_warning();
	struct bpf_object *object = open_object(path, pin_root);
	if (!object)
		return false;
	if (only) {
		struct bpf_program *program;
		bpf_object__for_each_program(program, object)
			bpf_program__set_autoload(program, strcmp(bpf_program__name(program), only) == 0);
	}
	int result = bpf_object__load(object);
	outcome->loaded = result == 0;
	outcome->error_number = result < 0 ? -result : 0;
	outcome->has_error = result != 0 && have_warning;
	snprintf(outcome->error, sizeof(outcome->error), "%s", first_warning);
	unpin_maps(object);
	bpf_object__close(object);
	return true;
}

static void print_outcome(const struct outcome *outcome)
{
	printf("\"loaded\":%s,\"errno\":%d,\"error\":", outcome->loaded ? "true" : "false", outcome->error_number);
	print_json_string(outcome->has_error ? outcome->error : NULL);
}

static bool selected(const char *name, char **only, int only_count)
{
	if (only_count == 0)
		return true;
	for (int i = 0; i < only_count; i++)
		if (strcmp(only[i], name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *pin_root = NULL;
	const char *path = NULL;
	char **only = calloc((size_t)argc, sizeof(char *));
	int only_count = 0;
	bool usage_error = !only;
	for (int i = 1; i < argc && !usage_error; i++) {
		if (strcmp(argv[i], "--pin-root") == 0 && i + 1 < argc)
			pin_root = argv[++i];
		else if (strcmp(argv[i], "--program") == 0 && i + 1 < argc)
			only[only_count++] = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			usage_error = true;
	}
	if (!path || usage_error) {
		fprintf(stderr, "usage: %s [--pin-root DIR] [--program NAME]... OBJECT\n", argv[0]);
		return 1;
	}
	debug = getenv("LIBBPF_LOAD_DEBUG") != NULL;
	libbpf_set_print(keep_first_warning);

	/* One open to learn the programs' names and sections (and whether libbpf takes the object at all). */
	reset_warning();
	struct bpf_object *object = open_object(path, pin_root);
	if (!object) {
		int error_number = errno;
		fprintf(stderr, "libbpf refuses: %s (%s)\n", have_warning ? first_warning : "bpf_object__open_file failed",
			strerror(error_number));
		return 2;
	}
	int count = 0;
	struct bpf_program *program;
	bpf_object__for_each_program(program, object)
		count++;
	char **names = calloc((size_t)count + 1, sizeof(char *));
	char **sections = calloc((size_t)count + 1, sizeof(char *));
	bool *autoload = calloc((size_t)count + 1, sizeof(bool));
	int index = 0;
	bpf_object__for_each_program(program, object) {
		names[index] = strdup(bpf_program__name(program));
		sections[index] = strdup(bpf_program__section_name(program));
		autoload[index] = bpf_program__autoload(program);
		index++;
	}
	fputs("{\"object\":", stdout);
	print_json_string(bpf_object__name(object));
	bpf_object__close(object);

	fputs(",\"programs\":[", stdout);
	bool first = true;
	for (int i = 0; i < count; i++) {
		if (!selected(names[i], only, only_count))
			continue;
		struct outcome outcome = { 0 };
		if (!load_once(path, pin_root, names[i], &outcome)) {
			/* It opened a moment ago; failing now is the machine's fault (memory), not the object's. */
			fprintf(stderr, "libbpf_load: %s no longer opens: %s\n", path, strerror(errno));
			return 1;
		}
		if (!first)
			putchar(',');
		first = false;
		fputs("{\"name\":", stdout);
		print_json_string(names[i]);
		fputs(",\"section\":", stdout);
		print_json_string(sections[i]);
		printf(",\"autoload\":%s,", autoload[i] ? "true" : "false");
		print_outcome(&outcome);
		putchar('}');
		fflush(stdout);
	}
	putchar(']');
	if (only_count == 0) {
		struct outcome outcome = { 0 };
		if (!load_once(path, pin_root, NULL, &outcome)) {
			fprintf(stderr, "libbpf_load: %s no longer opens: %s\n", path, strerror(errno));
			return 1;
		}
		fputs(",\"object_load\":{", stdout);
		print_outcome(&outcome);
		putchar('}');
	}
	puts("}");
	return 0;
}
