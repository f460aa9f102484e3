/*
 * libbpf_core: the libbpf side of swift-load's differential CO-RE tests.
 *
 * Usage: libbpf_core [--log] OBJECT TARGET
 *
 * Relocates every CO-RE relocation of OBJECT against TARGET (raw BTF, or an ELF file with .BTF) with
 * libbpf 1.1.2's own relocation engine, and prints libbpf's decision for each one as a JSON line in the
 * shape of `swift-load reloc OBJ --btf TARGET --json`'s relocation records:
 *
 *   {"program":P,"section":S,"instruction":N,"kind":K,"local":L,"target":T,
 *    "outcome":"patched"|"poisoned"|"failed","old":A,"new":B,"error":E}
 *
 * How: Debian's static libbpf.a exports the internal CO-RE functions that libbpf.c's
 * bpf_object__relocate_core drives (bpf_core_add_cands, bpf_core_calc_relo_insn, bpf_core_patch_insn,
 * bpf_core_free_cands). This harness plays the part of libbpf.c around them: it reads .BTF.ext's
 * core_relo records and the instruction bytes itself (libelf), looks candidates up in TARGET the way
 * bpf_core_find_cands does with an overriding target BTF (no module BTFs), keeps one candidate list per
 * local type ID for the whole object (libbpf prunes that list as relocations are resolved, so decisions
 * depend on it), and processes relocations in .BTF.ext order as libbpf does. The specs are taken from
 * libbpf's own debug lines (captured with libbpf_set_print); old/new are the instruction field before
 * and after bpf_core_patch_insn patched a private copy of the instructions:
 *   ALU/ALU64: imm (signed 32-bit); LDX/ST/STX: off (signed 16-bit); LD_IMM64: the 64-bit immediate
 *   (printed as a signed 64-bit integer).
 *
 * Where this differs from libbpf on purpose:
 *   - libbpf stops at the first failing relocation; the harness records it as "failed" and goes on.
 *     A failed relocation leaves the candidate list as it was before it (libbpf may have compacted
 *     part of it in place before failing; that state is never observable in libbpf itself).
 *   - relocations of programs libbpf would not autoload ("?" sections) are reported too.
 *   - local_type_id relocations search no candidate: "target" is null.
 *
 * Exit status: 0 with JSON lines on stdout (failed relocations are data, not an error); 2 with one line
 * on stderr when the object cannot be processed (no .BTF, foreign byte order: libbpf refuses those);
 * 1 on bad usage or an internal error. --log copies libbpf's debug output to stderr.
 *
 * A test oracle only: built by the test run with `cc ... -l:libbpf.a -lelf -lz`, never part of the product.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "oracle_json.h"

/* ---- libbpf 1.1 internals exported by libbpf.a (src/relo_core.h, src/libbpf_internal.h) ---- */

/* One candidate target type; the two small structs are part of the calling convention. */
struct bpf_core_cand {
	const struct btf *btf;
	__u32 id;
};

/* A growable candidate list; libbpf reallocs `cands` and prunes `len`. */
struct bpf_core_cand_list {
	struct bpf_core_cand *cands;
	int len;
};

/* Opaque to the harness: passed as zeroed buffers larger than libbpf's structs. */
struct bpf_core_spec;
struct bpf_core_relo_res;

int bpf_core_add_cands(struct bpf_core_cand *local_cand, size_t local_essent_len,
		       const struct btf *targ_btf, const char *targ_btf_name, int targ_start_id,
		       struct bpf_core_cand_list *cands);
void bpf_core_free_cands(struct bpf_core_cand_list *cands);
size_t bpf_core_essential_name_len(const char *name);
int bpf_core_calc_relo_insn(const char *prog_name, const struct bpf_core_relo *relo, int relo_idx,
			    const struct btf *local_btf, struct bpf_core_cand_list *cands,
			    struct bpf_core_spec *specs_scratch, struct bpf_core_relo_res *targ_res);
int bpf_core_patch_insn(const char *prog_name, struct bpf_insn *insn, int insn_idx,
			const struct bpf_core_relo *relo, int relo_idx, const struct bpf_core_relo_res *res);

/* sizeof(struct bpf_core_spec) is 1312 bytes in libbpf 1.1 and the result 40; these are ample. */
#define SPEC_SCRATCH_BYTES (3 * 8192)
#define RELO_RES_BYTES 1024

#define POISON_IMM 0xbad2310

static const char *const kind_names[] = {
	"byte_off",	 "byte_sz",	   "field_exists", "signed",	    "lshift_u64",
	"rshift_u64",	 "local_type_id", "target_type_id", "type_exists", "type_size",
	"enumval_exists", "enumval_value", "type_matches",
};

/* libbpf's btf_kind_str names, for the one message the harness writes itself. */
static const char *kind_text(const struct btf_type *type)
{
	static const char *const names[] = {
		"unknown", "int", "ptr", "array", "struct", "union", "enum", "fwd", "typedef", "volatile",
		"const", "restrict", "func", "func_proto", "var", "datasec", "float", "decl_tag", "type_tag",
		"enum64",
	};
	unsigned kind = type ? btf_kind(type) : 0;
	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

static void fatal(int status, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	fputs("libbpf_core: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
	va_end(args);
	exit(status);
}

/* ---- capturing libbpf's output for the relocation being resolved ---- */

static bool echo_log;

/* What libbpf said while resolving and patching the current relocation. */
static struct {
	char local[512];	/* spec after "<kind> " in the "relo #N: <kind> ..." line */
	char target[512];	/* spec of the first "matching candidate" line */
	char warning[1024];	/* last warning, with "libbpf: prog '...': relo #N: " removed */
	bool no_targets;	/* "no matching targets found" */
} captured;

static void chomp(char *text)
{
	size_t length = strlen(text);
	while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == ' '))
		text[--length] = '\0';
}

/* The text after "<kind> " in a formatted spec ("<byte_off> [3] struct s.a (0:1 @ offset 4)"). */
static const char *spec_body(const char *spec)
{
	if (spec[0] != '<')
		return spec;
	const char *close = strstr(spec, "> ");
	return close ? close + 2 : spec;
}

/* The message after "prog 'P': relo #N: " (or the whole line without "libbpf: "). */
static const char *relo_message(const char *line)
{
	if (strncmp(line, "libbpf: ", 8) == 0)
		line += 8;
	const char *relo = strstr(line, "relo #");
	if (!relo)
		return line;
	const char *colon = strstr(relo, ": ");
	return colon ? colon + 2 : line;
}

/* Copies `source` into `destination`, truncated to fit. */
static void copy_text(char *destination, size_t size, const char *source)
{
	size_t length = strlen(source);
	if (length >= size)
		length = size - 1;
	memcpy(destination, source, length);
	destination[length] = '\0';
}

static int capture_print(enum libbpf_print_level level, const char *format, va_list args)
{
	char line[2048];
	vsnprintf(line, sizeof(line), format, args);
	if (echo_log)
		fputs(line, stderr);
	chomp(line);
	const char *message = relo_message(line);
	if (level == LIBBPF_WARN) {
		copy_text(captured.warning, sizeof(captured.warning), message);
		return 0;
	}
	if (message == line || message[0] == '\0')
		return 0;
	if (message[0] == '<' && !captured.local[0]) {
		copy_text(captured.local, sizeof(captured.local), spec_body(message));
	} else if (strncmp(message, "matching candidate #", 20) == 0 && !captured.target[0]) {
		const char *spec = strchr(message + 20, ' ');
		if (spec)
			copy_text(captured.target, sizeof(captured.target), spec_body(spec + 1));
	} else if (strncmp(message, "no matching targets found", 25) == 0) {
		captured.no_targets = true;
	}
	return 0;
}

/* ---- ELF: sections and function symbols ---- */

struct function {
	char *name;
	size_t section;	    /* ELF section index */
	size_t first_insn;  /* in the section */
	size_t insn_count;
};

struct section {
	char *name;
	struct bpf_insn *insns; /* private copy, patched in place */
	size_t insn_count;
};

static Elf *elf;
static size_t section_count;
static struct section *sections;
static struct function *functions;
static size_t function_count;

static void read_elf(int fd)
{
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		fatal(2, "not an ELF file");
	GElf_Ehdr header;
	if (!gelf_getehdr(elf, &header))
		fatal(2, "no ELF header");
	bool little = header.e_ident[EI_DATA] == ELFDATA2LSB;
	if (little != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__))
		fatal(2, "libbpf refuses: endianness mismatch");
	size_t strings;
	if (elf_getshdrnum(elf, &section_count) || elf_getshdrstrndx(elf, &strings))
		fatal(2, "bad section table");
	sections = calloc(section_count, sizeof(*sections));
	Elf_Scn *symtab = NULL;
	for (size_t index = 1; index < section_count; index++) {
		Elf_Scn *scn = elf_getscn(elf, index);
		GElf_Shdr shdr;
		if (!scn || !gelf_getshdr(scn, &shdr))
			fatal(2, "bad section %zu", index);
		const char *name = elf_strptr(elf, strings, shdr.sh_name);
		sections[index].name = strdup(name ? name : "");
		if (shdr.sh_type == SHT_SYMTAB)
			symtab = scn;
		if (shdr.sh_type == SHT_PROGBITS && (shdr.sh_flags & SHF_EXECINSTR)) {
			Elf_Data *data = elf_getdata(scn, NULL);
			if (data && data->d_size) {
				sections[index].insns = malloc(data->d_size);
				memcpy(sections[index].insns, data->d_buf, data->d_size);
				sections[index].insn_count = data->d_size / sizeof(struct bpf_insn);
			}
		}
	}
	if (!symtab)
		fatal(2, "no symbol table");
	GElf_Shdr symtab_header;
	gelf_getshdr(symtab, &symtab_header);
	Elf_Data *symbols = elf_getdata(symtab, NULL);
	size_t symbol_count = symtab_header.sh_entsize ? symtab_header.sh_size / symtab_header.sh_entsize : 0;
	functions = calloc(symbol_count + 1, sizeof(*functions));
	for (size_t index = 0; index < symbol_count; index++) {
		GElf_Sym symbol;
		if (!gelf_getsym(symbols, (int)index, &symbol))
			continue;
		if (GELF_ST_TYPE(symbol.st_info) != STT_FUNC || symbol.st_shndx == SHN_UNDEF ||
		    symbol.st_shndx >= section_count || !sections[symbol.st_shndx].insns)
			continue;
		const char *name = elf_strptr(elf, symtab_header.sh_link, symbol.st_name);
		struct function *function = &functions[function_count++];
		function->name = strdup(name ? name : "");
		function->section = symbol.st_shndx;
		function->first_insn = symbol.st_value / sizeof(struct bpf_insn);
		function->insn_count = symbol.st_size / sizeof(struct bpf_insn);
	}
}

static size_t section_named(const char *name)
{
	for (size_t index = 1; index < section_count; index++)
		if (sections[index].name && strcmp(sections[index].name, name) == 0)
			return index;
	return 0;
}

static struct function *function_at(size_t section, size_t insn)
{
	for (size_t index = 0; index < function_count; index++) {
		struct function *function = &functions[index];
		if (function->section == section && insn >= function->first_insn &&
		    insn < function->first_insn + function->insn_count)
			return function;
	}
	return NULL;
}

/* ---- .BTF.ext core_relo records ---- */

struct record {
	struct bpf_core_relo relo;
	size_t section;
	int relo_index; /* within its .BTF.ext block, as libbpf's "relo #N" */
};

static struct record *records;
static size_t record_count;

static uint32_t read_u32(const unsigned char *bytes)
{
	uint32_t value;
	memcpy(&value, bytes, 4);
	return value;
}

static void read_core_relos(const struct btf *local_btf)
{
	size_t strings;
	elf_getshdrstrndx(elf, &strings);
	Elf_Data *data = NULL;
	for (size_t index = 1; index < section_count; index++)
		if (strcmp(sections[index].name, ".BTF.ext") == 0)
			data = elf_getdata(elf_getscn(elf, index), NULL);
	if (!data)
		return; /* no .BTF.ext: no CO-RE relocations */
	const unsigned char *bytes = data->d_buf;
	size_t size = data->d_size;
	if (size < 8 || bytes[0] != 0x9f || bytes[1] != 0xeb)
		fatal(2, ".BTF.ext: bad header");
	uint32_t header_length = read_u32(bytes + 4);
	if (header_length < 32 || header_length > size)
		return; /* no core_relo subsection */
	uint32_t offset = read_u32(bytes + 24), length = read_u32(bytes + 28);
	if (length == 0)
		return;
	if ((uint64_t)header_length + offset + length > size || length < 4)
		fatal(2, ".BTF.ext: core_relo subsection out of bounds");
	const unsigned char *cursor = bytes + header_length + offset;
	const unsigned char *end = cursor + length;
	uint32_t record_size = read_u32(cursor);
	cursor += 4;
	if (record_size < sizeof(struct bpf_core_relo))
		fatal(2, ".BTF.ext: core_relo record size %u", record_size);
	while (cursor + 8 <= end) {
		uint32_t name_offset = read_u32(cursor), count = read_u32(cursor + 4);
		cursor += 8;
		if ((uint64_t)count * record_size > (uint64_t)(end - cursor))
			fatal(2, ".BTF.ext: core_relo block past the end");
		const char *name = btf__name_by_offset(local_btf, name_offset);
		size_t section = name ? section_named(name) : 0;
		if (!section)
			fatal(2, ".BTF.ext: core_relo block for unknown section '%s'", name ? name : "?");
		records = realloc(records, (record_count + count) * sizeof(*records));
		for (uint32_t index = 0; index < count; index++, cursor += record_size) {
			struct record *record = &records[record_count++];
			memcpy(&record->relo, cursor, sizeof(record->relo));
			record->section = section;
			record->relo_index = (int)index;
		}
	}
}

/* ---- candidates, cached per local type ID as libbpf does ---- */

struct cache_entry {
	__u32 local_id;
	struct bpf_core_cand_list *cands;
};

static struct cache_entry *cache;
static size_t cache_count;

static struct bpf_core_cand_list *candidates(const struct btf *local_btf, __u32 local_id,
					     const struct btf *target_btf, int *error)
{
	for (size_t index = 0; index < cache_count; index++)
		if (cache[index].local_id == local_id)
			return cache[index].cands;
	const struct btf_type *type = btf__type_by_id(local_btf, local_id);
	const char *name = type ? btf__name_by_offset(local_btf, type->name_off) : NULL;
	if (!name || !name[0]) {
		*error = -EINVAL;
		return NULL;
	}
	struct bpf_core_cand local = { .btf = local_btf, .id = local_id };
	struct bpf_core_cand_list *cands = calloc(1, sizeof(*cands));
	*error = bpf_core_add_cands(&local, bpf_core_essential_name_len(name), target_btf, "vmlinux", 1, cands);
	if (*error) {
		bpf_core_free_cands(cands);
		return NULL;
	}
	cache = realloc(cache, (cache_count + 1) * sizeof(*cache));
	cache[cache_count++] = (struct cache_entry){ .local_id = local_id, .cands = cands };
	return cands;
}

/* ---- decisions ---- */

struct decision {
	const struct function *function;
	size_t section;
	size_t section_insn;
	size_t instruction; /* from the start of the function */
	const char *kind;
	char *local, *target, *error;
	const char *outcome;
	long long old_value, new_value;
	bool has_new;
};

static struct decision *decisions;
static size_t decision_count;

/* The relocatable field of `insn`, as the contract reports it. */
static long long field_value(const struct bpf_insn *insn, size_t available)
{
	switch (BPF_CLASS(insn->code)) {
	case BPF_ALU:
	case BPF_ALU64:
		return (__s32)insn->imm;
	case BPF_LDX:
	case BPF_ST:
	case BPF_STX:
		return (__s16)insn->off;
	case BPF_LD:
		if (insn->code == (BPF_LD | BPF_IMM | BPF_DW) && available >= 2)
			return (long long)((__u64)(__u32)insn[0].imm | ((__u64)(__u32)insn[1].imm << 32));
		return insn->imm;
	default:
		return insn->imm;
	}
}

static char *duplicate_or_null(const char *text)
{
	return text && text[0] ? strdup(text) : NULL;
}

static void resolve(const struct btf *local_btf, const struct btf *target_btf, const struct record *record)
{
	const struct bpf_core_relo *relo = &record->relo;
	struct section *section = &sections[record->section];
	struct decision decision = { .section = record->section };
	if (relo->insn_off % sizeof(struct bpf_insn))
		fatal(1, "relocation at misaligned offset %u in %s", relo->insn_off, section->name);
	decision.section_insn = relo->insn_off / sizeof(struct bpf_insn);
	decision.function = function_at(record->section, decision.section_insn);
	if (!decision.function) {
		/* libbpf: "skipping CO-RE relocation ... eliminated weak subprogram" */
		return;
	}
	decision.instruction = decision.section_insn - decision.function->first_insn;
	decision.kind = relo->kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[relo->kind] : "unknown";

	struct bpf_insn *insn = &section->insns[decision.section_insn];
	size_t available = section->insn_count - decision.section_insn;
	decision.old_value = field_value(insn, available);

	memset(&captured, 0, sizeof(captured));
	static _Alignas(16) unsigned char scratch[SPEC_SCRATCH_BYTES];
	static _Alignas(16) unsigned char result[RELO_RES_BYTES];
	memset(scratch, 0, sizeof(scratch));
	memset(result, 0, sizeof(result));

	const char *name = decision.function->name;
	int error = 0;
	struct bpf_core_cand_list *cands = NULL;
	struct bpf_core_cand *saved = NULL;
	int saved_len = 0;
	if (relo->kind != BPF_CORE_TYPE_ID_LOCAL) {
		cands = candidates(local_btf, relo->type_id, target_btf, &error);
		if (!cands) {
			const struct btf_type *type = btf__type_by_id(local_btf, relo->type_id);
			const char *type_name = type ? btf__name_by_offset(local_btf, type->name_off) : NULL;
			snprintf(captured.warning, sizeof(captured.warning),
				 "target candidate search failed for [%u] %s %s: %d", relo->type_id,
				 kind_text(type), type_name ? type_name : "", error);
		} else {
			saved_len = cands->len;
			saved = malloc((saved_len + 1) * sizeof(*saved));
			memcpy(saved, cands->cands, saved_len * sizeof(*saved));
		}
	}
	if (!error)
		error = bpf_core_calc_relo_insn(name, relo, record->relo_index, local_btf, cands,
						(struct bpf_core_spec *)scratch, (struct bpf_core_relo_res *)result);
	if (!error) {
		/* bpf_core_patch_insn only warns; its debug lines hold nothing the harness needs. */
		char warning_before[sizeof(captured.warning)];
		copy_text(warning_before, sizeof(warning_before), captured.warning);
		captured.warning[0] = '\0';
		error = bpf_core_patch_insn(name, insn, (int)decision.instruction, relo, record->relo_index,
					    (struct bpf_core_relo_res *)result);
		if (!captured.warning[0])
			copy_text(captured.warning, sizeof(captured.warning), warning_before);
	}

	decision.local = duplicate_or_null(captured.local);
	decision.target = duplicate_or_null(captured.target);
	if (error) {
		if (cands) { /* a failed relocation prunes nothing */
			memcpy(cands->cands, saved, saved_len * sizeof(*saved));
			cands->len = saved_len;
		}
		decision.outcome = "failed";
		decision.error = duplicate_or_null(captured.warning[0] ? captured.warning : "libbpf error");
	} else if (insn->code == (BPF_JMP | BPF_CALL) && insn->imm == POISON_IMM) {
		decision.outcome = "poisoned";
		decision.error = duplicate_or_null(captured.warning[0] ? captured.warning
					: captured.no_targets ? "no matching targets found" : "poisoned");
	} else {
		decision.outcome = "patched";
		decision.new_value = field_value(insn, available);
		decision.has_new = true;
	}
	free(saved);
	decisions = realloc(decisions, (decision_count + 1) * sizeof(*decisions));
	decisions[decision_count++] = decision;
}

/* ---- output ---- */

/* Contract order: entry programs (non-.text sections, by section then offset), then .text
 * subprograms; within a function by instruction. */
static int order_key_compare(const void *left_pointer, const void *right_pointer)
{
	const struct decision *left = left_pointer, *right = right_pointer;
	bool left_text = strcmp(sections[left->section].name, ".text") == 0;
	bool right_text = strcmp(sections[right->section].name, ".text") == 0;
	if (left_text != right_text)
		return left_text ? 1 : -1;
	if (left->section != right->section)
		return left->section < right->section ? -1 : 1;
	if (left->section_insn != right->section_insn)
		return left->section_insn < right->section_insn ? -1 : 1;
	return 0;
}

static void print_decisions(void)
{
	qsort(decisions, decision_count, sizeof(*decisions), order_key_compare);
	for (size_t index = 0; index < decision_count; index++) {
		const struct decision *decision = &decisions[index];
		fputs("{\"program\":", stdout);
		print_json_string(decision->function->name);
		fputs(",\"section\":", stdout);
		print_json_string(sections[decision->section].name);
		printf(",\"instruction\":%zu,\"kind\":", decision->instruction);
		print_json_string(decision->kind);
		fputs(",\"local\":", stdout);
		print_json_string(decision->local);
		fputs(",\"target\":", stdout);
		print_json_string(decision->target);
		fputs(",\"outcome\":", stdout);
		print_json_string(decision->outcome);
		printf(",\"old\":%lld,\"new\":", decision->old_value);
		if (decision->has_new)
			printf("%lld", decision->new_value);
		else
			fputs("null", stdout);
		fputs(",\"error\":", stdout);
		print_json_string(decision->error);
		fputs("}\n", stdout);
	}
}

int main(int argc, char **argv)
{
	int argument = 1;
	if (argc > 1 && strcmp(argv[1], "--log") == 0) {
		echo_log = true;
		argument++;
	}
	if (argc - argument != 2) {
		fprintf(stderr, "usage: %s [--log] OBJECT TARGET\n", argv[0]);
		return 1;
	}
	const char *object_path = argv[argument], *target_path = argv[argument + 1];
	libbpf_set_print(capture_print);

	int fd = open(object_path, O_RDONLY);
	if (fd < 0)
		fatal(2, "cannot open %s: %s", object_path, strerror(errno));
	read_elf(fd);

	struct btf *local_btf = btf__parse_elf(object_path, NULL);
	if (!local_btf)
		fatal(2, "libbpf refuses: no usable .BTF in %s (%d)", object_path, -errno);
	struct btf *target_btf = btf__parse(target_path, NULL);
	if (!target_btf)
		fatal(2, "libbpf refuses: failed to parse target BTF %s (%d)", target_path, -errno);

	read_core_relos(local_btf);
	for (size_t index = 0; index < record_count; index++)
		resolve(local_btf, target_btf, &records[index]);
	print_decisions();

	for (size_t index = 0; index < cache_count; index++)
		bpf_core_free_cands(cache[index].cands);
	btf__free(target_btf);
	btf__free(local_btf);
	elf_end(elf);
	close(fd);
	return 0;
}
