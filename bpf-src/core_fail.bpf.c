/* CO-RE relocations that libbpf refuses: the object is relocated against
 * Fixtures/core_fail.target.o (this file built with -DTARGET) and every
 * program but ok_after_failures has one relocation that fails, so
 *   swift-load reloc Fixtures/core_fail.o --btf Fixtures/core_fail.target.o
 * must exit 1. They are kept apart from core_reloc.bpf.c because libbpf stops
 * at the first failing relocation; each program uses its own types so that
 * no failure can influence another relocation through the candidate cache.
 *
 * Expected results:
 *   fail_offset_ambiguity  byte_off(sl_amb.x)      failed: two target candidates
 *                          (sl_amb: x at 0, sl_amb___b: x at 8) disagree on the
 *                          offset ("field offset ambiguity")
 *   fail_value_ambiguity   byte_sz(sl_amb2.x)      failed: same offset 0, sizes 4
 *                          and 8 ("relocation decision ambiguity")
 *   fail_type_id_ambiguity target_type_id(sl_twin) failed: two identical target
 *                          structs with different IDs ("relocation decision
 *                          ambiguity"), as cilium's err_ambiguous
 *   fail_bitfield          byte_off(sl_wide.bf)    failed: the target bitfield
 *                          spans bits 60..67 of a packed struct, no load of at
 *                          most 8 bytes holds it ("can't be satisfied for bitfield")
 *   fail_offset_too_big    sl_huge->x (LDX)        failed: target offset 40000
 *                          does not fit the 16-bit LDX offset ("value too big")
 *   fail_too_deep          byte_off(sl_deep.x)     failed: in the target x sits
 *                          inside 68 nested anonymous structs, deeper than
 *                          libbpf's 64-level spec (error -E2BIG while matching)
 *   fail_anonymous_root    byte_off(<anon>.r)      failed: the root type of the
 *                          access is an anonymous struct; libbpf searches no
 *                          candidates for it ("target candidate search failed")
 *   ok_after_failures      byte_off(sl_fine.y)     patched 0 -> 8
 */
#include "common.h"
#include <bpf/bpf_core_read.h>

#define CORE __attribute__((preserve_access_index))

#ifndef TARGET

struct sl_amb {
	int x;
} CORE;

struct sl_amb2 {
	int x;
} CORE;

struct sl_twin {
	int a;
} CORE;

struct sl_wide {
	unsigned int x;
	unsigned int bf : 8;
} CORE;

struct sl_huge {
	int x;
} CORE;

struct sl_deep {
	int x;
} CORE;

struct sl_fine {
	int y;
} CORE;

SEC("syscall")
int fail_offset_ambiguity(u64 *out)
{
	struct sl_amb *p = (void *)(long)out[0];

	out[1] = bpf_core_field_offset(p->x);
	return 0;
}

SEC("syscall")
int fail_value_ambiguity(u64 *out)
{
	struct sl_amb2 *p = (void *)(long)out[0];

	out[1] = bpf_core_field_size(p->x);
	return 0;
}

SEC("syscall")
int fail_type_id_ambiguity(u64 *out)
{
	out[1] = bpf_core_type_id_kernel(struct sl_twin);
	return 0;
}

SEC("syscall")
int fail_bitfield(u64 *out)
{
	struct sl_wide *p = (void *)(long)out[0];

	out[1] = bpf_core_field_offset(p->bf);
	return 0;
}

SEC("syscall")
int fail_offset_too_big(u64 *out)
{
	struct sl_huge *p = (void *)(long)out[0];

	out[1] = p->x;
	return 0;
}

SEC("syscall")
int fail_too_deep(u64 *out)
{
	struct sl_deep *p = (void *)(long)out[0];

	out[1] = bpf_core_field_offset(p->x);
	return 0;
}

SEC("syscall")
int fail_anonymous_root(u64 *out)
{
	struct {
		int q;
		int r;
	} CORE *p = (void *)(long)out[0];

	out[1] = bpf_core_field_offset(p->r);
	return 0;
}

SEC("syscall")
int ok_after_failures(u64 *out)
{
	struct sl_fine *p = (void *)(long)out[0];

	out[1] = bpf_core_field_offset(p->y);
	return 0;
}

#else /* TARGET */

struct sl_amb {
	int x;			/* 0 */
};

struct sl_amb___b {
	long pad;
	int x;			/* 8 */
};

struct sl_amb2 {
	int x;			/* 0, 4 bytes */
};

struct sl_amb2___b {
	long x;			/* 0, 8 bytes */
};

struct sl_twin {
	int a;
};

struct sl_twin___2 {
	int a;
};

struct sl_wide {
	unsigned long long pad : 60;
	unsigned long long bf : 8;	/* bits 60..67 */
} __attribute__((packed));

struct sl_huge {
	char pad[40000];
	int x;			/* 40000 */
};

/* N<k>(m): m wrapped in k anonymous structs. */
#define N1(m) struct { m; }
#define N2(m) N1(N1(m))
#define N4(m) N2(N2(m))
#define N8(m) N4(N4(m))
#define N16(m) N8(N8(m))
#define N32(m) N16(N16(m))
#define N64(m) N32(N32(m))

struct sl_deep {
	int pad;
	N64(N4(int x));
};

struct sl_fine {
	long pad;
	int y;			/* 8 */
};

struct sl_fail_target_types {
	struct sl_amb amb;
	struct sl_amb___b amb_b;
	struct sl_amb2 amb2;
	struct sl_amb2___b amb2_b;
	struct sl_twin twin;
	struct sl_twin___2 twin2;
	struct sl_wide wide;
	struct sl_huge huge;
	struct sl_deep deep;
	struct sl_fine fine;
};

SEC("syscall")
int sl_fail_target_types(struct sl_fail_target_types *types)
{
	return types ? 0 : 1;
}

#endif /* TARGET */

char LICENSE[] SEC("license") = "GPL";
