/* Cross-target CO-RE: every relocation kind against a different "kernel".
 *
 * Built twice by scripts/build-fixtures:
 *   Fixtures/core_reloc.o         the programs, with the LOCAL layouts below;
 *   Fixtures/core_reloc.target.o  -DTARGET: the same-named types with the
 *                                 TARGET layouts (the "other kernel"), no
 *                                 CO-RE relocations of its own.
 * and relocated offline with
 *   swift-load reloc Fixtures/core_reloc.o --btf Fixtures/core_reloc.target.o
 *
 * Every program is a `syscall` program writing each CO-RE result into its own
 * slot of the context buffer (out[N]), so that every relocation survives -O2
 * as one instruction. The target layouts are synthetic: the object is for
 * offline relocation, not for loading.
 *
 * Expected results (local -> target, computed from the C layouts below with
 * libbpf's rules; Tests/SwiftLoadCLITests/CoreRelocationTests.swift holds the
 * same table with the BTF type IDs). Offsets are bytes unless noted.
 *
 * reloc_fields (struct sl_basic, struct sl_flex)
 *   out[1]  p->a (LDX)                        byte_off 0 -> 16 (moved)
 *   out[2]  p->b (LDX, u32 -> u64)            byte_off 4 -> 8; load widened 4 -> 8 bytes
 *   out[3]  p->sgn (LDX, int -> long)         byte_off 8: poisoned (signed int resized:
 *                                             the load cannot be adjusted)
 *   out[4]  field_exists(p->gone)             1 -> 0 (renamed in the target)
 *   out[5]  BPF_CORE_READ(p, gone)            byte_off 16: poisoned (no target field)
 *   out[6]  field_size(p->name)               byte_sz 16 -> 32 (char[16] -> char[32])
 *   out[7]  field_offset(p->arr[3])           byte_off 52 -> 84 (array moved)
 *   out[8]  field_size(p->arr[3])             byte_sz 4 -> 4 (element)
 *   out[9]  field_exists(p->arr[5])           1 -> 0 (target array has 4 elements)
 *   out[10] field_size(p->b)                  byte_sz 4 -> 8
 *   out[11] field_exists(p->a)                1 -> 1
 *   out[12] signed(p->sgn)                    1 -> 1
 *   out[13] signed(p->b)                      0 -> 0
 *   out[14] lshift_u64(p->b)                  32 -> 0 (non-bitfield: 64 - 8 * size)
 *   out[15] rshift_u64(p->b)                  32 -> 0
 *   out[16] field_offset(f->data[3])          byte_off 32 -> 48 (flexible array moved)
 *   out[17] f->data[3] (LDX)                  byte_off 32 -> 48
 *   out[18] field_size(f->len)                byte_sz 4 -> 8
 *   plus the .text subprograms it calls:
 *   sl_read_a (static):    p->a (LDX) byte_off 0 -> 16; field_size(p->name) 16 -> 32
 *   sl_global_read (global): BPF_CORE_READ(p, b) byte_off 4 -> 8 (the probe-read size
 *                          stays 4: it is not relocated); field_exists(p->gone) 1 -> 0
 *
 * reloc_bitfields (struct sl_bits; local bits: lo 32:3, mid 35:5, sval 40:6
 * signed, uflip 46:4 unsigned; target bits: mid 112:7 u16, lo 119:3 u16,
 * sval 122:6 int, uflip 128:4 int). Per field, in macro order byte_off,
 * byte_sz, lshift_u64, signed, rshift_u64 (twice: both branches). The local
 * byte_off/byte_sz/lshift values are clang's choice of load (libbpf does not
 * validate them for bitfields); the target values are libbpf's:
 *   lo    (PROBED)  byte_off 4 -> 14, byte_sz 4 -> 2, lshift 61 -> 54, signed 0 -> 0, rshift 61 -> 61
 *   mid   (direct)  byte_off 4 -> 14, byte_sz 4 -> 2, lshift 56 -> 57, signed 0 -> 0, rshift 59 -> 57
 *   sval  (direct)  byte_off 4 -> 12, byte_sz 4 -> 4, lshift 50 -> 32, signed 1 -> 1, rshift 58 -> 58
 *   uflip (PROBED)  byte_off 4 -> 16, byte_sz 4 -> 4, lshift 46 -> 60, signed 0 -> 1, rshift 60 -> 60
 *
 * reloc_enums (enum sl_color, enum64 sl_big, signed sl_signed, flavor
 * sl_color___old, enum sl_mixed that is an enum64 in the target)
 *   out[0]  enumval_exists(SL_GREEN)          1 -> 1
 *   out[1]  enumval_value(SL_GREEN)           1 -> 30
 *   out[2]  enumval_exists(SL_GONE)           1 -> 0
 *   out[3]  enumval_value(SL_GONE)            3: poisoned
 *   out[4]  enumval_value(SL_RED)             0 -> 20
 *   out[5]  enumval_value(SL_BIG_HUGE)        0x100000000 -> 0x200000000 (LD_IMM64)
 *   out[6]  enumval_value(SL_BIG_SMALL)       1 -> 2
 *   out[7]  enumval_exists(SL_BIG_GONE)       1 -> 0
 *   out[8]  enumval_value(SL_BIG_GONE)        0x300000000: poisoned (both LD_IMM64 slots)
 *   out[9]  enumval_value(SL_NEG)             -5 -> -9 (signed enum)
 *   out[10] enumval_value(SL_RED___old)       5 -> 20 (enum and enumerator flavors; against
 *                                             this object's own BTF this one fails: both
 *                                             sl_color (SL_RED = 0) and sl_color___old
 *                                             (SL_RED___old = 5) are candidates, ambiguous)
 *   out[11] enumval_exists(SL_VIOLET___old)   1 -> 0
 *   out[12] enumval_value(SL_MIXED_A)         1 -> 0x100000005 (a 4-byte enum locally, an
 *                                             enum64 in the target; clang loads every
 *                                             enumval_value with LD_IMM64, so nothing is cut)
 *
 * reloc_nesting (anonymous members)
 *   out[0]  s->x (LDX)                        byte_off 0 -> 12 (target: x inside an
 *                                             anonymous struct inside an anonymous union)
 *   out[1]  field_offset(s->y)                4 -> 16
 *   out[2]  field_offset(s2->v)               0 -> 4 (local: v in an anonymous union;
 *                                             target: flat)
 *   out[3]  field_offset(s2->w)               4 -> 0
 *   out[4]  field_exists(s2->uv)              1 -> 0
 *   out[5]  field_offset(t->w)                4 -> 8 (root is a typedef of an anonymous
 *                                             struct: candidates are typedefs named sl_anon_t)
 *
 * reloc_flavors (___flavor names on both sides)
 *   out[0]  field_exists(sl_task___v1->pid)   1 -> 1 (local flavor, target sl_task)
 *   out[1]  field_offset(sl_task___v1->pid)   0 -> 8
 *   out[2]  field_exists(sl_task___v2->tgid_v2) 1 -> 0
 *   out[3]  type_exists(sl_task___v2)         1 -> 1 (struct vs struct is compatible)
 *   out[4]  type_matches(sl_task___v2)        1 -> 0 (tgid_v2 missing)
 *   out[5]  type_matches(sl_task___v1)        1 -> 1
 *   out[6]  field_offset(sl_dup->b)           0 -> 4 (two identical target candidates,
 *                                             sl_dup and sl_dup___2: fine, first wins)
 *   out[7]  type_size(sl_dup)                 4 -> 8 (both candidates agree)
 *   out[8]  field_offset(sl_only->extra)      4 -> 4 (only sl_only___new has it; the
 *                                             candidate list of sl_only is pruned to it)
 *   out[9]  type_size(sl_only)                8 -> 8 (only with the pruned list: sl_only
 *                                             itself has size 4 and would be ambiguous)
 *   out[10] field_offset(sl_only->a)          0 -> 0 (target sl_only___new.a)
 *   out[11] type_id_kernel(sl_task___v1)      local id -> id of target sl_task
 *
 * reloc_types (type-based kinds)
 *   out[0]  type_exists(struct sl_basic)      1 -> 1
 *   out[1]  type_exists(struct sl_absent)     1 -> 0
 *   out[2]  type_size(struct sl_basic)        72 -> 88
 *   out[3]  type_size(struct sl_absent)       4 -> 0 (no target: 0, not poisoned)
 *   out[4]  type_matches(struct sl_match)     1 -> 1 (members reordered, extra member)
 *   out[5]  type_matches(struct sl_nomatch)   1 -> 0 (int a vs long a)
 *   out[6]  type_exists(sl_handle_t)          1 -> 1 (typedef u32 vs typedef u64)
 *   out[7]  type_size(sl_handle_t)            4 -> 8
 *   out[8]  type_matches(sl_handle_t)         1 -> 0
 *   out[9]  type_id_local(struct sl_basic)    id -> id (no target search)
 *   out[10] type_id_kernel(struct sl_basic)   local id -> target id (LD_IMM64)
 *   out[11] type_id_kernel(struct sl_absent)  local id -> 0
 *   out[12] type_exists(enum sl_color)        1 -> 1
 *   out[13] type_size(enum sl_big)            8 -> 8
 *   out[14] type_matches(enum sl_color)       1 -> 0 (SL_GONE missing)
 *   out[15] type_matches(enum sl_signed)      1 -> 1
 *   out[16] type_exists(union sl_union)       1 -> 1
 *   out[17] type_size(union sl_union)         8 -> 8
 *   out[18] type_matches(union sl_union)      1 -> 0 (member i missing)
 */
#include "common.h"
#include <bpf/bpf_core_read.h>

#define CORE __attribute__((preserve_access_index))

#ifndef TARGET

/* ------------------------------------------------------------ local types */

struct sl_basic {
	int a;			/* 0 */
	unsigned int b;		/* 4 */
	int sgn;		/* 8 */
	long gone;		/* 16 */
	char name[16];		/* 24 */
	int arr[8];		/* 40 */
} CORE;				/* size 72 */

struct sl_flex {
	u32 len;		/* 0 */
	u32 pad;		/* 4 */
	u64 data[];		/* 8 */
} CORE;

struct sl_bits {
	unsigned int flags;	/* bits 0..31 */
	unsigned int lo : 3;	/* 32 */
	unsigned int mid : 5;	/* 35 */
	int sval : 6;		/* 40, signed */
	unsigned int uflip : 4;	/* 46, unsigned here, signed in the target */
} CORE;

enum sl_color { SL_RED = 0, SL_GREEN = 1, SL_BLUE = 2, SL_GONE = 3 };
enum sl_big { SL_BIG_SMALL = 1, SL_BIG_HUGE = 0x100000000ULL, SL_BIG_GONE = 0x300000000ULL };
enum sl_signed { SL_NEG = -5, SL_POS = 7 };
enum sl_color___old { SL_RED___old = 5, SL_VIOLET___old = 6 };
enum sl_mixed { SL_MIXED_A = 1 };

struct sl_anon {
	int x;			/* 0 */
	int y;			/* 4 */
} CORE;

struct sl_anon2 {
	union {
		int v;		/* 0 */
		unsigned int uv;
	};
	int w;			/* 4 */
} CORE;

typedef struct {
	int v;
	int w;			/* 4 */
} CORE sl_anon_t;

struct sl_task___v1 {
	int pid;
} CORE;

struct sl_task___v2 {
	long tgid_v2;
} CORE;

struct sl_dup {
	int b;
} CORE;

struct sl_only {
	int a;			/* 0 */
	int extra;		/* 4 */
} CORE;

struct sl_absent {
	int x;
} CORE;

struct sl_match {
	int a;
	long b;
} CORE;

struct sl_nomatch {
	int a;
} CORE;

union sl_union {
	int i;
	long l;
} CORE;

typedef unsigned int sl_handle_t;

/* --------------------------------------------------------------- programs */

/* A static subprogram in .text: its relocations are counted from its own
 * first instruction. */
static __noinline u64 sl_read_a(struct sl_basic *p)
{
	return p->a + bpf_core_field_size(p->name);
}

/* A global subprogram in .text. */
__noinline u64 sl_global_read(struct sl_basic *p)
{
	u64 exists = bpf_core_field_exists(p->gone);

	return BPF_CORE_READ(p, b) + exists;
}

SEC("syscall")
int reloc_fields(u64 *out)
{
	struct sl_basic *p = (void *)(long)out[0];
	struct sl_flex *f = (void *)(long)out[0];

	out[1] = p->a;
	out[2] = p->b;
	out[3] = p->sgn;
	out[4] = bpf_core_field_exists(p->gone);
	out[5] = BPF_CORE_READ(p, gone);
	out[6] = bpf_core_field_size(p->name);
	out[7] = bpf_core_field_offset(p->arr[3]);
	out[8] = bpf_core_field_size(p->arr[3]);
	out[9] = bpf_core_field_exists(p->arr[5]);
	out[10] = bpf_core_field_size(p->b);
	out[11] = bpf_core_field_exists(p->a);
	out[12] = __builtin_preserve_field_info(p->sgn, BPF_FIELD_SIGNED);
	out[13] = __builtin_preserve_field_info(p->b, BPF_FIELD_SIGNED);
	out[14] = __builtin_preserve_field_info(p->b, BPF_FIELD_LSHIFT_U64);
	out[15] = __builtin_preserve_field_info(p->b, BPF_FIELD_RSHIFT_U64);
	out[16] = bpf_core_field_offset(f->data[3]);
	out[17] = f->data[3];
	out[18] = bpf_core_field_size(f->len);
	out[19] = sl_read_a(p) + sl_global_read(p);
	return 0;
}

SEC("syscall")
int reloc_bitfields(u64 *out)
{
	struct sl_bits *b = (void *)(long)out[0];

	out[0] = BPF_CORE_READ_BITFIELD_PROBED(b, lo);
	out[1] = BPF_CORE_READ_BITFIELD(b, mid);
	out[2] = BPF_CORE_READ_BITFIELD(b, sval);
	out[3] = BPF_CORE_READ_BITFIELD_PROBED(b, uflip);
	return 0;
}

SEC("syscall")
int reloc_enums(u64 *out)
{
	out[0] = bpf_core_enum_value_exists(enum sl_color, SL_GREEN);
	out[1] = bpf_core_enum_value(enum sl_color, SL_GREEN);
	out[2] = bpf_core_enum_value_exists(enum sl_color, SL_GONE);
	out[3] = bpf_core_enum_value(enum sl_color, SL_GONE);
	out[4] = bpf_core_enum_value(enum sl_color, SL_RED);
	out[5] = bpf_core_enum_value(enum sl_big, SL_BIG_HUGE);
	out[6] = bpf_core_enum_value(enum sl_big, SL_BIG_SMALL);
	out[7] = bpf_core_enum_value_exists(enum sl_big, SL_BIG_GONE);
	out[8] = bpf_core_enum_value(enum sl_big, SL_BIG_GONE);
	out[9] = bpf_core_enum_value(enum sl_signed, SL_NEG);
	out[10] = bpf_core_enum_value(enum sl_color___old, SL_RED___old);
	out[11] = bpf_core_enum_value_exists(enum sl_color___old, SL_VIOLET___old);
	out[12] = bpf_core_enum_value(enum sl_mixed, SL_MIXED_A);
	return 0;
}

SEC("syscall")
int reloc_nesting(u64 *out)
{
	struct sl_anon *s = (void *)(long)out[0];
	struct sl_anon2 *s2 = (void *)(long)out[0];
	sl_anon_t *t = (void *)(long)out[0];

	out[0] = s->x;
	out[1] = bpf_core_field_offset(s->y);
	out[2] = bpf_core_field_offset(s2->v);
	out[3] = bpf_core_field_offset(s2->w);
	out[4] = bpf_core_field_exists(s2->uv);
	out[5] = bpf_core_field_offset(t->w);
	return 0;
}

SEC("syscall")
int reloc_flavors(u64 *out)
{
	struct sl_task___v1 *t1 = (void *)(long)out[0];
	struct sl_task___v2 *t2 = (void *)(long)out[0];
	struct sl_dup *d = (void *)(long)out[0];
	struct sl_only *o = (void *)(long)out[0];

	out[0] = bpf_core_field_exists(t1->pid);
	out[1] = bpf_core_field_offset(t1->pid);
	out[2] = bpf_core_field_exists(t2->tgid_v2);
	out[3] = bpf_core_type_exists(struct sl_task___v2);
	out[4] = bpf_core_type_matches(struct sl_task___v2);
	out[5] = bpf_core_type_matches(struct sl_task___v1);
	out[6] = bpf_core_field_offset(d->b);
	out[7] = bpf_core_type_size(struct sl_dup);
	out[8] = bpf_core_field_offset(o->extra);
	out[9] = bpf_core_type_size(struct sl_only);
	out[10] = bpf_core_field_offset(o->a);
	out[11] = bpf_core_type_id_kernel(struct sl_task___v1);
	return 0;
}

SEC("syscall")
int reloc_types(u64 *out)
{
	out[0] = bpf_core_type_exists(struct sl_basic);
	out[1] = bpf_core_type_exists(struct sl_absent);
	out[2] = bpf_core_type_size(struct sl_basic);
	out[3] = bpf_core_type_size(struct sl_absent);
	out[4] = bpf_core_type_matches(struct sl_match);
	out[5] = bpf_core_type_matches(struct sl_nomatch);
	out[6] = bpf_core_type_exists(sl_handle_t);
	out[7] = bpf_core_type_size(sl_handle_t);
	out[8] = bpf_core_type_matches(sl_handle_t);
	out[9] = bpf_core_type_id_local(struct sl_basic);
	out[10] = bpf_core_type_id_kernel(struct sl_basic);
	out[11] = bpf_core_type_id_kernel(struct sl_absent);
	out[12] = bpf_core_type_exists(enum sl_color);
	out[13] = bpf_core_type_size(enum sl_big);
	out[14] = bpf_core_type_matches(enum sl_color);
	out[15] = bpf_core_type_matches(enum sl_signed);
	out[16] = bpf_core_type_exists(union sl_union);
	out[17] = bpf_core_type_size(union sl_union);
	out[18] = bpf_core_type_matches(union sl_union);
	return 0;
}

#else /* TARGET */

/* ----------------------------------------------------------- target types */

struct sl_basic {
	long pad0;		/* 0 */
	unsigned long b;	/* 8: u32 -> u64 */
	int a;			/* 16: moved */
	long sgn;		/* 24: int -> long */
	long renamed;		/* 32: was `gone` */
	char name[32];		/* 40: char[16] -> char[32] */
	int arr[4];		/* 72: int[8] -> int[4] */
};				/* size 88 */

struct sl_flex {
	u64 len;		/* 0 */
	u32 flags;		/* 8 */
	u32 pad;		/* 12 */
	u64 stuff;		/* 16 */
	u64 data[];		/* 24 */
};

struct sl_bits {
	unsigned long long pad;	/* bits 0..63 */
	unsigned int flags;	/* 64 */
	unsigned short other;	/* 96 */
	unsigned short mid : 7;	/* 112 */
	unsigned short lo : 3;	/* 119 */
	int sval : 6;		/* 122 */
	int uflip : 4;		/* 128, now signed */
};

enum sl_color { SL_BLUE = 10, SL_RED = 20, SL_GREEN = 30 };
enum sl_big { SL_BIG_HUGE = 0x200000000ULL, SL_BIG_SMALL = 2 };
enum sl_signed { SL_NEG = -9, SL_POS = 7 };
enum sl_mixed { SL_MIXED_A = 0x100000005ULL };

struct sl_anon {
	long hdr;		/* 0 */
	union {			/* 8 */
		struct {
			int pad;	/* 8 */
			int x;		/* 12 */
		};
		long both;
	};
	int y;			/* 16 */
};

struct sl_anon2 {
	int w;			/* 0 */
	int v;			/* 4 */
};

typedef struct {
	long z;
	int w;			/* 8 */
} sl_anon_t;

struct sl_task {
	long start;		/* 0 */
	int pid;		/* 8 */
	int other;		/* 12 */
};

/* Two identical candidates for the local sl_dup. */
struct sl_dup {
	int a;
	int b;			/* 4 */
};

struct sl_dup___2 {
	int a;
	int b;			/* 4 */
};

/* Only the flavor has `extra`. */
struct sl_only {
	int a;
};				/* size 4 */

struct sl_only___new {
	int a;			/* 0 */
	int extra;		/* 4 */
};				/* size 8 */

struct sl_match {
	long b;
	int a;
	char extra;
};

struct sl_nomatch {
	long a;
};

union sl_union {
	long l;
};

typedef unsigned long sl_handle_t;

/* Every target type reachable from a program signature (by value: clang
 * emits a pointee of a member pointer only as a FWD), so that the target
 * object's BTF has all of them in full. */
struct sl_target_types {
	struct sl_basic basic;
	struct sl_bits bits;
	struct sl_anon anon;
	struct sl_anon2 anon2;
	sl_anon_t anon_typedef;
	struct sl_task task;
	struct sl_dup dup;
	struct sl_dup___2 dup2;
	struct sl_only only;
	struct sl_only___new only_new;
	struct sl_match match;
	struct sl_nomatch nomatch;
	union sl_union un;
	sl_handle_t handle;
	enum sl_color color;
	enum sl_big big;
	enum sl_signed sgn;
	enum sl_mixed mixed;
};

SEC("syscall")
int sl_target_types(struct sl_target_types *types)
{
	return types ? 0 : 1;
}

/* sl_flex ends in a flexible array, so it cannot be a member above. */
SEC("syscall")
int sl_target_flex(struct sl_flex *flex)
{
	return flex ? 0 : 1;
}

#endif /* TARGET */

char LICENSE[] SEC("license") = "GPL";
