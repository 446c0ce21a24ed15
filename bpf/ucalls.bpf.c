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
 * Latency keeps a small per-thread stack of entry times and names, so recursion and nesting
 * are timed right (a map keyed by thread and method, as BCC's ucalls used, loses the outer
 * calls of a recursion). A return without a recorded entry (the call began before we
 * attached, or nested deeper than the stack) is not timed; `timed` counts the calls that were. */
#include "common.bpf.h"
#include "maps.bpf.h"

#define BPF_USDT_MAX_SPEC_CNT 1024
#include <bpf/usdt.bpf.h>

#define NAME_LEN 128	/* pmdabcc's MAX_STRING_LENGTH */
#define STACK_DEPTH 16

struct method_key {
	char clazz[NAME_LEN];
	char method[NAME_LEN];
};

struct call_stats {
	__u64 calls;
	__u64 timed;
	__u64 total_ns;
};

/* Where a name is in the traced process: a C string (len < 0) or len bytes. */
struct name_ref {
	__u64 ptr;
	__s64 len;
};

/* A call in flight: its entry time and where the entry probe's names are. A return is paired
 * with the frame whose name pointers it repeats; the strings stay valid for the call's
 * duration (code object, HotSpot symbol), so they are read again at return. */
struct frame {
	__u64 ts;
	struct name_ref clazz;
	struct name_ref method;
};

struct thread_stack {
	__u32 depth;
	__u32 pad;
	struct frame f[STACK_DEPTH];
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
	__uint(max_entries, 4096);
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

static __always_inline struct name_ref arg_name(struct pt_regs *ctx, __u32 arg, __u32 len_arg)
{
	struct name_ref r = { .ptr = 0, .len = -1 };
	long v = 0;

	if (!arg || bpf_usdt_arg(ctx, arg - 1, &v))
		return r;
	r.ptr = v;
	if (len_arg) {
		if (bpf_usdt_arg(ctx, len_arg - 1, &v) || v < 0)
			v = 0;
		r.len = v;
	}
	return r;
}

static __always_inline void read_name(char *dst, struct name_ref r)
{
	__s64 len = r.len;

	if (!r.ptr)
		return;
	if (len < 0) {
		bpf_probe_read_user_str(dst, NAME_LEN, (void *)r.ptr);
		return;
	}
	if (len > NAME_LEN - 1)
		len = NAME_LEN - 1;
	if (len > 0)
		bpf_probe_read_user(dst, len & (NAME_LEN - 1), (void *)r.ptr);
}

static __always_inline struct call_stats *stats_of(struct name_ref clazz, struct name_ref method)
{
	struct call_stats zero = {};
	__u32 zero_key = 0;
	struct method_key *k = bpf_map_lookup_elem(&scratch, &zero_key);

	if (!k)
		return NULL;
	__builtin_memset(k, 0, sizeof(*k));
	read_name(k->clazz, clazz);
	read_name(k->method, method);
	return lookup_or_init(&counts, k, &zero);
}

SEC("usdt")
int ucall_entry(struct pt_regs *ctx)
{
	__u64 layout = bpf_usdt_cookie(ctx);
	struct name_ref clazz = arg_name(ctx, layout & 0xff, (layout >> 8) & 0xff);
	struct name_ref method = arg_name(ctx, (layout >> 16) & 0xff, (layout >> 24) & 0xff);
	struct call_stats *s = stats_of(clazz, method);

	if (s)
		__sync_fetch_and_add(&s->calls, 1);
	if (latency) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct thread_stack *st;
		__u32 d;

		st = bpf_map_lookup_elem(&stacks, &tid);
		if (!st) {
			/* All zero, in a global: 648 bytes do not fit the BPF stack. */
			static const struct thread_stack fresh;

			bpf_map_update_elem(&stacks, &tid, &fresh, BPF_NOEXIST);
			st = bpf_map_lookup_elem(&stacks, &tid);
			if (!st)
				return 0;
		}
		d = st->depth;
		if (d < STACK_DEPTH) {
			st->f[d].ts = bpf_ktime_get_ns();
			st->f[d].clazz = clazz;
			st->f[d].method = method;
		}
		/* Deeper than the stack: counted, not timed; the depth still pairs the returns. */
		if (d < 1000000)
			st->depth = d + 1;
	}
	return 0;
}

/* Frames a return may skip to find its entry: inner calls whose return never came. */
#define MATCH_DEPTH 4

SEC("usdt")
int ucall_return(struct pt_regs *ctx)
{
	__u64 layout = bpf_usdt_cookie(ctx);
	struct name_ref clazz = arg_name(ctx, layout & 0xff, (layout >> 8) & 0xff);
	struct name_ref method = arg_name(ctx, (layout >> 16) & 0xff, (layout >> 24) & 0xff);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_stack *st = bpf_map_lookup_elem(&stacks, &tid);
	struct call_stats *s;
	__u32 depth, i;

	if (!st)
		return 0;
	depth = st->depth;
	/* The return must name the frame it ends: with a profile hook set, CPython 3.11 also
	 * fires function__return for the hook's own frames, whose entries it never reported.
	 * Those match nothing here and are ignored. */
	for (i = 0; i < MATCH_DEPTH; i++) {
		__u32 d = depth - 1 - i;
		struct frame f;

		if (depth < i + 1)
			return 0;	/* the call began before we attached */
		if (d >= STACK_DEPTH)
			continue;	/* deeper than the stack: counted, never timed */
		/* Same index; the barrier stops clang from dropping the mask the verifier needs. */
		asm volatile("" : "+r"(d));
		f = st->f[d & (STACK_DEPTH - 1)];
		if (f.clazz.ptr != clazz.ptr || f.method.ptr != method.ptr)
			continue;
		st->depth = d;
		s = stats_of(f.clazz, f.method);
		if (s) {
			__sync_fetch_and_add(&s->timed, 1);
			__sync_fetch_and_add(&s->total_ns, bpf_ktime_get_ns() - f.ts);
		}
		return 0;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
