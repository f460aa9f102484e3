/* Test-only oracle for swift-load's subprogram linker: prints each autoloaded program's instructions as
 * libbpf links them, without touching the kernel.
 *
 * libbpf has no public "link but do not load" call. Its light-skeleton mode (bpf_object__gen_loader)
 * runs the whole load pipeline -- relocation, subprogram linking, data relocations -- but records the
 * syscalls into a loader blob instead of making them, and leaves every program's final instructions
 * in bpf_program__insns(). In that mode CO-RE relocations are recorded, not applied, so the
 * instructions are exactly what the linker produced from the file's code.
 *
 * Adjustments that do not affect linking: programs of a type libbpf 1.1 does not know (tcx, newer
 * sections) or freplace programs (which need a target fd) are given SOCKET_FILTER, and map pinning is
 * turned off. With libbpf 1.1 the load step may still end in -EOPNOTSUPP: initializing program arrays
 * is refused in this mode, and that is its last step, after the programs were linked.
 *
 * Output: "program NAME COUNT", then one line per slot: "code dst src off imm" (decimal).
 * Exit status: 0 success, 2 libbpf refused to open the object, 3 refused to link (message on stderr).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJECT\n", argv[0]);
		return 64;
	}
	libbpf_set_print(print_warnings);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open failed: %d\n", -errno);
		return 2;
	}
	bpf_object__for_each_program(prog, obj) {
		enum bpf_prog_type type = bpf_program__type(prog);

		if (type == BPF_PROG_TYPE_UNSPEC || type == BPF_PROG_TYPE_EXT)
			bpf_program__set_type(prog, BPF_PROG_TYPE_SOCKET_FILTER);
	}
	bpf_object__for_each_map(map, obj)
		bpf_map__set_pin_path(map, NULL);

	LIBBPF_OPTS(gen_loader_opts, gen);
	if (bpf_object__gen_loader(obj, &gen)) {
		fprintf(stderr, "gen_loader failed\n");
		return 3;
	}
	err = bpf_object__load(obj);
	if (err && err != -EOPNOTSUPP) {
		fprintf(stderr, "load failed: %d\n", err);
		return 3;
	}
	bpf_object__for_each_program(prog, obj) {
		const struct bpf_insn *insns = bpf_program__insns(prog);
		size_t count = bpf_program__insn_cnt(prog);

		if (!bpf_program__autoload(prog))
			continue;
		printf("program %s %zu\n", bpf_program__name(prog), count);
		for (size_t i = 0; i < count; i++)
			printf("%u %u %u %d %d\n", insns[i].code, insns[i].dst_reg, insns[i].src_reg,
			       insns[i].off, insns[i].imm);
	}
	bpf_object__close(obj);
	return 0;
}
