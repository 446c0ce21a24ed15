/* runqlat: run queue latency, from a task becoming runnable (wakeup, new task, or preempted
 * while runnable) to it getting a CPU, as a log2 histogram in microseconds.
 *
 * Three variants of the same three hooks; the agent loads one (src/modules/runqlat.ts):
 *   tp_btf     - typed task pointers, no probe reads;
 *   raw_tp     - the same arguments through CO-RE probe reads (kernels without tp_btf);
 *   tracepoint - classic tracefs events, which only carry PIDs. */
#include "common.bpf.h"
#include "core_fixes.bpf.h"
#include "filter.bpf.h"

#define TASK_RUNNING 0
/* Classic sched_switch reports prev_state through __trace_sched_switch_state(): a preempted
 * task shows TASK_REPORT_MAX (0x100), a running one 0; the low byte holds the sleep states. */
#define TP_STATE_SLEEP_MASK 0xff

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, __u64); /* ns when it became runnable */
} start SEC(".maps");

HIST_MAP(hist, 1);

/* Classic variant with a filter: the switched-in task is not `current` at sched_switch, so its
 * sample waits here until the next switch on this CPU, which runs in its context. */
struct pending {
	__u32 tid;
	__u64 usec;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

static __always_inline void enqueue_at(__u32 tid, __u64 ts)
{
	if (tid)
		bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
}

static __always_inline void enqueue(__u32 tid)
{
	enqueue_at(tid, bpf_ktime_get_ns());
}

#define NO_SAMPLE (~0ULL)

/* Latency of tid in µs at `now`, removing its start entry; NO_SAMPLE if it had none.
 * (Unsigned: BPF has no signed division.) */
static __always_inline __u64 dequeue_at(__u32 tid, __u64 now)
{
	__u64 *tsp, ts;

	if (!tid)
		return NO_SAMPLE;
	tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return NO_SAMPLE;
	ts = *tsp;
	bpf_map_delete_elem(&start, &tid);
	return now < ts ? NO_SAMPLE : (now - ts) / 1000;
}

/* One clock read per switch serves both the re-queued prev and the dequeued next. */
static __always_inline void on_switch(__u32 prev, bool prev_runnable, __u32 next, __u64 now)
{
	__u64 us;

	if (prev_runnable)
		enqueue_at(prev, now);
	us = dequeue_at(next, now);
	if (us != NO_SAMPLE)
		hist_add(&hist, 0, us);
}

/* ---- tp_btf ---- */

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tpbtf_wakeup, struct task_struct *p)
{
	if (pass_filter_task(p))
		enqueue(p->pid);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tpbtf_wakeup_new, struct task_struct *p)
{
	if (pass_filter_task(p))
		enqueue(p->pid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tpbtf_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(prev->pid, task_state_btf(prev) == TASK_RUNNING && pass_filter_task(prev), next->pid,
		  bpf_ktime_get_ns());
	return 0;
}

/* ---- raw_tp ---- */

SEC("raw_tp/sched_wakeup")
int BPF_PROG(rawtp_wakeup, struct task_struct *p)
{
	if (pass_filter_task(p))
		enqueue(BPF_CORE_READ(p, pid));
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(rawtp_wakeup_new, struct task_struct *p)
{
	if (pass_filter_task(p))
		enqueue(BPF_CORE_READ(p, pid));
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(rawtp_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(BPF_CORE_READ(prev, pid), task_state(prev) == TASK_RUNNING && pass_filter_task(prev),
		  BPF_CORE_READ(next, pid), bpf_ktime_get_ns());
	return 0;
}

/* ---- classic tracepoints ---- */

SEC("tracepoint/sched/sched_wakeup")
int tp_wakeup(struct trace_event_raw_sched_wakeup_template *ctx)
{
	enqueue(ctx->pid);
	return 0;
}

SEC("tracepoint/sched/sched_wakeup_new")
int tp_wakeup_new(struct trace_event_raw_sched_wakeup_template *ctx)
{
	enqueue(ctx->pid);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int tp_switch(struct trace_event_raw_sched_switch *ctx)
{
	__u32 zero = 0, prev = ctx->prev_pid, next = ctx->next_pid;
	bool filtering = filter_tgid_on || filter_cgroup_id;
	struct pending *pd;
	__u64 now = bpf_ktime_get_ns(), us;

	/* Here current is prev: its own pending sample (from when it was switched in) can now
	 * be filtered with pass_filter(). */
	if (filtering) {
		pd = bpf_map_lookup_elem(&pending, &zero);
		if (!pd)
			return 0;
		if (pd->tid == prev && pd->tid && pass_filter())
			hist_add(&hist, 0, pd->usec);
		pd->tid = 0;
	}
	if (!filtering) {
		on_switch(prev, (ctx->prev_state & TP_STATE_SLEEP_MASK) == 0, next, now);
		return 0;
	}
	if ((ctx->prev_state & TP_STATE_SLEEP_MASK) == 0)
		enqueue_at(prev, now);
	us = dequeue_at(next, now);
	if (us == NO_SAMPLE)
		return 0;
	pd = bpf_map_lookup_elem(&pending, &zero);
	if (pd) {
		pd->tid = next;
		pd->usec = us;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
