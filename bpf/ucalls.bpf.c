/* ucalls: method calls of language runtimes (Python, Java, Ruby, Perl, PHP, Tcl) from their
 * USDT entry/return probes, counted per (class, method) with, optionally, the time spent.
 *
 * Each runtime passes class and method in different arguments, as C strings or as (pointer,
 * length) pairs (Java). The agent encodes where they are in the attach cookie (see
 * src/modules/ucalls-lang.ts), so one pair of programs serves every runtime and processes of
 * different runtimes at once:
 *   bits 0-7 class argument (1-based, 0: none), 8-15 its length argument (0: NUL-terminated),
 *   bits 16-23 method argument, 24-31 its length argument.
 *
 * Latency keeps a small per-thread stack of entry times, so recursion and nesting are timed
 * right (a map keyed by thread and method, as BCC's ucalls used, loses the outer calls of a
 * recursion). A return without a recorded entry (the call began before we attached, or nested
 * deeper than the stack) is not timed; `timed` counts the calls that were. */
#include "common.bpf.h"
#include "maps.bpf.h"

#define BPF_USDT_MAX_SPEC_CNT 1024
#include <bpf/usdt.bpf.h>

#define NAME_LEN 128	/* pmdabcc's MAX_STRING_LENGTH */
#define STACK_DEPTH 32

struct method_key {
	char clazz[NAME_LEN];
	char method[NAME_LEN];
};

struct call_stats {
	__u64 calls;
	__u64 timed;
	__u64 total_ns;
};

struct thread_stack {
	__u32 depth;
	__u32 pad;
	__u64 ts[STACK_DEPTH];
};

const volatile bool latency = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct method_key);
	__type(value, struct call_stats);
} counts SEC(".maps");

/* Threads with calls in flight; LRU so threads that exit mid-call age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct thread_stack);
} stacks SEC(".maps");

/* Scratch for the key: 256 bytes is too much for the 512-byte BPF stack beside the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct method_key);
} scratch SEC(".maps");

static __always_inline void read_name(struct pt_regs *ctx, char *dst, __u32 arg, __u32 len_arg)
{
	long ptr = 0, len = 0;

	if (!arg || bpf_usdt_arg(ctx, arg - 1, &ptr) || !ptr)
		return;
	if (!len_arg) {
		bpf_probe_read_user_str(dst, NAME_LEN, (void *)ptr);
		return;
	}
	if (bpf_usdt_arg(ctx, len_arg - 1, &len) || len <= 0)
		return;
	if (len > NAME_LEN - 1)
		len = NAME_LEN - 1;
	bpf_probe_read_user(dst, len & (NAME_LEN - 1), (void *)ptr);
}

static __always_inline struct method_key *method_of(struct pt_regs *ctx)
{
	__u64 layout = bpf_usdt_cookie(ctx);
	__u32 zero = 0;
	struct method_key *k = bpf_map_lookup_elem(&scratch, &zero);

	if (!k)
		return NULL;
	__builtin_memset(k, 0, sizeof(*k));
	read_name(ctx, k->clazz, layout & 0xff, (layout >> 8) & 0xff);
	read_name(ctx, k->method, (layout >> 16) & 0xff, (layout >> 24) & 0xff);
	return k;
}

SEC("usdt")
int ucall_entry(struct pt_regs *ctx)
{
	struct call_stats zero = {}, *s;
	struct method_key *k = method_of(ctx);

	if (!k)
		return 0;
	s = lookup_or_init(&counts, k, &zero);
	if (s)
		__sync_fetch_and_add(&s->calls, 1);
	if (latency) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct thread_stack fresh = {}, *st;
		__u32 d;

		st = bpf_map_lookup_elem(&stacks, &tid);
		if (!st) {
			bpf_map_update_elem(&stacks, &tid, &fresh, BPF_ANY);
			st = bpf_map_lookup_elem(&stacks, &tid);
			if (!st)
				return 0;
		}
		d = st->depth;
		if (d < STACK_DEPTH)
			st->ts[d] = bpf_ktime_get_ns();
		/* Deeper than the stack: counted, not timed; the depth still tracks the returns. */
		if (d < 1000000)
			st->depth = d + 1;
	}
	return 0;
}

SEC("usdt")
int ucall_return(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_stack *st = bpf_map_lookup_elem(&stacks, &tid);
	struct call_stats zero = {}, *s;
	struct method_key *k;
	__u64 start;
	__u32 d;

	if (!st || st->depth == 0)
		return 0;	/* the call began before we attached */
	d = --st->depth;
	if (d >= STACK_DEPTH)
		return 0;
	start = st->ts[d];
	k = method_of(ctx);
	if (!k)
		return 0;
	s = lookup_or_init(&counts, k, &zero);
	if (s) {
		__sync_fetch_and_add(&s->timed, 1);
		__sync_fetch_and_add(&s->total_ns, bpf_ktime_get_ns() - start);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
