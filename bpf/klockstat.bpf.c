/* klockstat → bcc.kernel.lock.mutex.{spin,hold}.*: per calling kernel function, how long tasks
 * waited for contended mutexes (spin: pmdabcc's name for the wait) and, where kprobes exist,
 * how long mutexes were held.
 *
 * Wait: lock:contention_begin / contention_end. The kernel fires them on the mutex slow path
 * only (the uncontended cmpxchg fast path fires nothing): begin(MUTEX|SPIN) before optimistic
 * spinning, begin(MUTEX) again before sleeping, end once it has the lock. The first begin of a
 * thread starts its wait, the end closes it: spin + sleep. The same tracepoints fire for rwsems,
 * rtmutexes, spinlocks and per-CPU rwsems; the flags select mutexes (LCB_F_MUTEX).
 * pmdabcc timed every mutex_lock() call, contended or not, with kprobes: here only contended
 * acquisitions are counted.
 * Hold: kprobes on mutex_lock (return) and mutex_unlock, keyed by lock address; not on kernels
 * without kprobes (the agent reports hold as no values and says so in the variant). */
#include "common.bpf.h"
#include "filter.bpf.h"
#include "maps.bpf.h"

#define LCB_F_MUTEX (1U << 5)
#define MAX_STACK 24

struct lock_stats {
	__u64 spin_count;
	__u64 spin_total;
	__u64 spin_max;
	__u64 hold_count;
	__u64 hold_total;
	__u64 hold_max;
};

struct wait {
	__u64 ts;
	__s64 stackid;
};

/* Per caller stack (the stack id of the lock call); the agent names it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __s64);
	__type(value, struct lock_stats);
} counts SEC(".maps");

/* stack_storage_size sets max_entries at load. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__uint(value_size, MAX_STACK * sizeof(__u64));
} stacks SEC(".maps");

/* The open wait of each thread (a thread waits for one lock at a time). LRU: a thread killed
 * while waiting never reaches contention_end. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct wait);
} waits SEC(".maps");

static __always_inline void begin(void *ctx, unsigned int flags)
{
	struct wait w = {};
	__u32 tid;

	if (!(flags & LCB_F_MUTEX) || !pass_filter())
		return;
	tid = (__u32)bpf_get_current_pid_tgid();
	/* The second begin (sleeping after spinning) keeps the first one's start. */
	if (bpf_map_lookup_elem(&waits, &tid))
		return;
	w.ts = bpf_ktime_get_ns();
	w.stackid = bpf_get_stackid(ctx, &stacks, 0);
	if (w.stackid < 0)
		count_drop();
	bpf_map_update_elem(&waits, &tid, &w, BPF_NOEXIST);
}

static __always_inline void end(void)
{
	struct lock_stats zero = {}, *s;
	struct wait *w;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 d;

	w = bpf_map_lookup_elem(&waits, &tid);
	if (!w)
		return;
	d = bpf_ktime_get_ns() - w->ts;
	s = lookup_or_init(&counts, &w->stackid, &zero);
	bpf_map_delete_elem(&waits, &tid);
	if (!s)
		return;
	__sync_fetch_and_add(&s->spin_count, 1);
	__sync_fetch_and_add(&s->spin_total, d);
	if (d > s->spin_max)
		s->spin_max = d; /* a racing larger max may be overwritten: a max, not a sum */
}

SEC("tp_btf/contention_begin")
int BPF_PROG(tpbtf_begin, void *lock, unsigned int flags)
{
	begin(ctx, flags);
	return 0;
}

SEC("tp_btf/contention_end")
int BPF_PROG(tpbtf_end, void *lock, int ret)
{
	end();
	return 0;
}

SEC("tracepoint/lock/contention_begin")
int tp_begin(struct trace_event_raw_contention_begin *ctx)
{
	begin(ctx, ctx->flags);
	return 0;
}

SEC("tracepoint/lock/contention_end")
int tp_end(struct trace_event_raw_contention_end *ctx)
{
	end();
	return 0;
}

/* ---- hold time: kprobes (not on every kernel) ----------------------------------------- */

struct held {
	__u64 ts;
	__s64 stackid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* lock address */
	__type(value, struct held);
} holds SEC(".maps");

/* The lock being taken by each thread, between mutex_lock's entry and return. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} taking SEC(".maps");

SEC("kprobe/mutex_lock")
int BPF_KPROBE(kp_lock, void *lock)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 addr = (__u64)lock;

	if (!pass_filter())
		return 0;
	bpf_map_update_elem(&taking, &tid, &addr, BPF_ANY);
	return 0;
}

SEC("kretprobe/mutex_lock")
int BPF_KRETPROBE(krp_lock)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct held h = {};
	__u64 *addr = bpf_map_lookup_elem(&taking, &tid);

	if (!addr)
		return 0;
	h.ts = bpf_ktime_get_ns();
	h.stackid = bpf_get_stackid(ctx, &stacks, 0);
	bpf_map_update_elem(&holds, addr, &h, BPF_ANY);
	bpf_map_delete_elem(&taking, &tid);
	return 0;
}

SEC("kprobe/mutex_unlock")
int BPF_KPROBE(kp_unlock, void *lock)
{
	struct lock_stats zero = {}, *s;
	__u64 addr = (__u64)lock, d;
	struct held *h = bpf_map_lookup_elem(&holds, &addr);

	if (!h)
		return 0;
	d = bpf_ktime_get_ns() - h->ts;
	s = lookup_or_init(&counts, &h->stackid, &zero);
	bpf_map_delete_elem(&holds, &addr);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->hold_count, 1);
	__sync_fetch_and_add(&s->hold_total, d);
	if (d > s->hold_max)
		s->hold_max = d;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
