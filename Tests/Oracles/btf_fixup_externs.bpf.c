/* Test input for the BTF fix-up differential (ObjectKernelBTFOracleTests): compiled by the test run with
 * clang -target bpfel (skipped without a BPF clang), then its BTF is prepared by libbpf
 * (libbpf_btf_fixup.c) and by swift-load and compared byte for byte. It holds what the fixtures lack:
 * a kfunc with an unnamed parameter, typed and typeless ksyms, a kconfig value, hidden, static and
 * visible variables, a float, a hidden global subprogram. Never loaded into a kernel.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

extern int bpf_kfunc_call_test1(int, long b) __ksym;
extern const int bpf_prog_active __ksym;
extern const void bpf_link_fops __ksym __weak;
extern unsigned int CONFIG_HZ __kconfig;

__attribute__((visibility("hidden"))) int hidden_var = 3;
int visible_var = 4;
static volatile int static_var = 5;
char buffer[40];
float ratio = 1.5f;

__attribute__((visibility("hidden"))) __attribute__((noinline)) int hidden_sub(int x)
{
	return x * visible_var + hidden_var;
}

__attribute__((noinline)) int global_sub(int x)
{
	return x + static_var;
}

SEC("tc")
int main_prog(struct __sk_buff *skb)
{
	int r = hidden_sub(1) + global_sub(2) + bpf_kfunc_call_test1(1, 2) + bpf_prog_active;
	buffer[3] = (char)r;
	return r + CONFIG_HZ + (int)sizeof(ratio) + (&bpf_link_fops ? 1 : 0);
}

char LICENSE[] SEC("license") = "GPL";
