/* Test-only oracle for swift-load's BTF fix-ups: writes to stdout the object's BTF as libbpf would hand it
 * to BPF_BTF_LOAD on a kernel that supports every BTF feature (so nothing is sanitised).
 *
 * "open" mode: the BTF right after bpf_object__open_file, which has made the open-time fix-ups
 * (.ksyms/.kconfig layout and the dummy_ksym VAR in bpf_object__collect_externs, DATASEC sizes, offsets,
 * hidden variables and sorting in the DATASEC fix-up).
 * "load" mode: additionally runs the load pipeline in light-skeleton mode (bpf_object__gen_loader), which
 * records syscalls instead of making them and assumes every kernel feature; its BTF step also marks
 * hidden global subprograms' FUNCs static. The BTF is written even when a later load step fails.
 *
 * Exit status: 0 success, 2 libbpf refused to open the object, 3 the load failed before the BTF step,
 * 4 the object has no BTF.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static int print_warnings(enum libbpf_print_level level, const char *format, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, format, args) : 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	const void *data;
	struct btf *btf;
	__u32 size;
	int load;

	if (argc != 3 || (strcmp(argv[1], "open") != 0 && strcmp(argv[1], "load") != 0)) {
		fprintf(stderr, "usage: %s open|load OBJECT\n", argv[0]);
		return 64;
	}
	load = strcmp(argv[1], "load") == 0;
	libbpf_set_print(print_warnings);
	obj = bpf_object__open_file(argv[2], NULL);
	if (!obj) {
		fprintf(stderr, "open failed: %d\n", -errno);
		return 2;
	}
	if (load) {
		LIBBPF_OPTS(gen_loader_opts, gen);

		bpf_object__for_each_program(prog, obj) {
			enum bpf_prog_type type = bpf_program__type(prog);

			if (type == BPF_PROG_TYPE_UNSPEC || type == BPF_PROG_TYPE_EXT)
				bpf_program__set_type(prog, BPF_PROG_TYPE_SOCKET_FILTER);
		}
		bpf_object__for_each_map(map, obj)
			bpf_map__set_pin_path(map, NULL);
		if (bpf_object__gen_loader(obj, &gen)) {
			fprintf(stderr, "gen_loader failed\n");
			return 3;
		}
		/* Errors after the BTF step do not matter; libbpf keeps the fixed-up BTF in the object. */
		bpf_object__load(obj);
	}
	btf = bpf_object__btf(obj);
	if (!btf)
		return 4;
	data = btf__raw_data(btf, &size);
	if (!data) {
		fprintf(stderr, "no raw BTF\n");
		return 3;
	}
	fwrite(data, 1, size, stdout);
	bpf_object__close(obj);
	return 0;
}
