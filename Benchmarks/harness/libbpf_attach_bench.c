/* The reference for the `attach` row of Benchmarks/run: a minimal libbpf loader doing what the headline
 * command `swift-load OBJ --attach PROGRAM=tracepoint/CAT/NAME --duration 0` does, in one process:
 * open the object, load it, attach the program to the tracepoint, print one line, detach, unload, exit.
 * The run script times whole processes of both, start to exit.
 *
 *   libbpf_attach_bench OBJECT PROGRAM CATEGORY NAME
 *
 * Built against Debian's libbpf-dev (1.1), used only here as the reference, never by swift-load. */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>

static int quiet(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level;
	(void)format;
	(void)args;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s OBJECT PROGRAM CATEGORY NAME\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	struct bpf_object *object = bpf_object__open_file(argv[1], NULL);
	if (!object) {
		fprintf(stderr, "libbpf_attach_bench: cannot open %s\n", argv[1]);
		return 1;
	}
	if (bpf_object__load(object)) {
		fprintf(stderr, "libbpf_attach_bench: cannot load %s\n", argv[1]);
		bpf_object__close(object);
		return 1;
	}
	struct bpf_program *program = bpf_object__find_program_by_name(object, argv[2]);
	struct bpf_link *link = program ? bpf_program__attach_tracepoint(program, argv[3], argv[4]) : NULL;
	if (!link) {
		fprintf(stderr, "libbpf_attach_bench: cannot attach %s to %s/%s\n", argv[2], argv[3], argv[4]);
		bpf_object__close(object);
		return 1;
	}
	printf("attached %s -> tracepoint/%s/%s\n", argv[2], argv[3], argv[4]);
	fflush(stdout);
	bpf_link__destroy(link);
	bpf_object__close(object);
	return 0;
}
