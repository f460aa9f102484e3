/*
 * libbpf_inspect: the libbpf side of swift-load's differential `inspect` tests.
 *
 * Opens a BPF ELF object with libbpf (bpf_object__open_file, never loads it) and prints, as one JSON
 * document, what libbpf sees: programs and maps, in the shape of `swift-load inspect OBJ --json`.
 * It is a test oracle only: built by the test run with `cc ... -lbpf -lelf -lz`, never part of the product.
 *
 * Exit status: 0 with JSON on stdout; 2 with one line "libbpf refuses: <reason>" on stderr when libbpf
 * cannot open the object (legacy `maps` section, big-endian objects on a little-endian host, ...);
 * 1 on bad usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "oracle_json.h"

/* The last libbpf warning, kept so that a refused object can say why. */
static char last_warning[512];

static int keep_last_warning(enum libbpf_print_level level, const char *format, va_list args)
{
	if (level == LIBBPF_WARN) {
		vsnprintf(last_warning, sizeof(last_warning), format, args);
		size_t length = strlen(last_warning);
		while (length > 0 && (last_warning[length - 1] == '\n' || last_warning[length - 1] == ' '))
			last_warning[--length] = '\0';
	}
	return 0;
}

/*
 * The attach type to report for a program, or NULL when its section defines none.
 *
 * libbpf keeps `expected_attach_type` as a plain enum where 0 means both "none" and
 * BPF_CGROUP_INET_INGRESS. Only `cgroup_skb/ingress` sections mean the latter, so 0 is reported as
 * "cgroup_inet_ingress" for those and as null for everything else. A nonzero value always comes
 * from the section definition (or from the program type guessed from it).
 */
static const char *attach_type_name(const struct bpf_program *program)
{
	enum bpf_attach_type attach_type = bpf_program__expected_attach_type(program);
	if (attach_type != 0)
		return libbpf_bpf_attach_type_str(attach_type);
	const char *section = bpf_program__section_name(program);
	enum bpf_prog_type section_type;
	enum bpf_attach_type section_attach_type;
	if (libbpf_prog_type_by_name(section, &section_type, &section_attach_type) != 0)
		return NULL;
	if (section_type == BPF_PROG_TYPE_CGROUP_SKB && strncmp(section, "cgroup_skb/ingress", 18) == 0)
		return libbpf_bpf_attach_type_str(0);
	return NULL;
}

static void print_programs(struct bpf_object *object)
{
	struct bpf_program *program;
	bool first = true;
	fputs("\"programs\":[", stdout);
	bpf_object__for_each_program(program, object) {
		if (!first)
			putchar(',');
		first = false;
		fputs("{\"name\":", stdout);
		print_json_string(bpf_program__name(program));
		fputs(",\"section\":", stdout);
		print_json_string(bpf_program__section_name(program));
		fputs(",\"type\":", stdout);
		print_json_string(libbpf_bpf_prog_type_str(bpf_program__type(program)));
		fputs(",\"attach_type\":", stdout);
		print_json_string(attach_type_name(program));
		printf(",\"instructions\":%zu", bpf_program__insn_cnt(program));
		printf(",\"autoload\":%s}", bpf_program__autoload(program) ? "true" : "false");
	}
	putchar(']');
}

static void print_maps(struct bpf_object *object)
{
	struct bpf_map *map;
	bool first = true;
	fputs("\"maps\":[", stdout);
	bpf_object__for_each_map(map, object) {
		if (!first)
			putchar(',');
		first = false;
		fputs("{\"name\":", stdout);
		print_json_string(bpf_map__name(map));
		fputs(",\"type\":", stdout);
		print_json_string(libbpf_bpf_map_type_str(bpf_map__type(map)));
		printf(",\"key_size\":%u,\"value_size\":%u,\"max_entries\":%u,\"flags\":%u",
		       bpf_map__key_size(map), bpf_map__value_size(map), bpf_map__max_entries(map),
		       bpf_map__map_flags(map));
		/* libbpf sets a pin path at open only for LIBBPF_PIN_BY_NAME maps. */
		fputs(",\"pinning\":", stdout);
		print_json_string(bpf_map__pin_path(map) ? "by_name" : "none");
		printf(",\"internal\":%s}", bpf_map__is_internal(map) ? "true" : "false");
	}
	putchar(']');
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJECT\n", argv[0]);
		return 1;
	}
	libbpf_set_print(keep_last_warning);
	struct bpf_object *object = bpf_object__open_file(argv[1], NULL);
	long error = libbpf_get_error(object);
	if (!object || error) {
		int code = error ? (int)-error : errno;
		fprintf(stderr, "libbpf refuses: %s (%s)\n", last_warning[0] ? last_warning : "no message",
			strerror(code));
		return 2;
	}
	fputs("{\"object\":", stdout);
	print_json_string(bpf_object__name(object));
	fputs(",\"license\":", stdout);
	/* libbpf 1.1.2 has no getter for the license; the test does not compare it. */
	fputs("null,", stdout);
	print_programs(object);
	putchar(',');
	print_maps(object);
	fputs("}\n", stdout);
	bpf_object__close(object);
	return 0;
}
