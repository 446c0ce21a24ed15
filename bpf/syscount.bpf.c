/* syscount → bcc.proc.syscall.{count,latency.avg,latency.cml}: syscalls per number (and, with
 * `details`, per process and number), from raw_syscalls:sys_enter/sys_exit like pmdabcc.
 * Counted at exit, where the return value is known (the errno / failed filters). Latency is
 * the time from entry to exit of the same thread; with latency off the entry program is not
 * loaded and the start map has one slot, so the cost is one exit hook.
 * Variants of both hooks: tp_btf, raw_tp, tracepoint. */
#include "common.bpf.h"
#include "filter.bpf.h"
#include "maps.bpf.h"

struct sc_key {
	__u32 tgid; /* 0: every process (the per-syscall total); else the details of one process */
	__u32 nr;
};

struct sc_counts {
	__u64 calls;
	__u64 lat_ns; /* total latency of the calls whose entry was seen */
	__u64 timed;  /* how many calls lat_ns covers */
};

/* Per CPU: every syscall on every CPU updates its entry; the agent sums the CPUs. Sized by the
 * agent: syscalls (+ syscalls x processes with details). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct sc_key);
	__type(value, struct sc_counts);
} counts SEC(".maps");

/* Thread id → entry time; one slot when latency is off (the entry program is not loaded). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

const volatile bool latency_on = false;
const volatile bool details_on = false;
const volatile bool failed_only = false;
const volatile int errno_only = 0; /* count only calls returning -errno_only (0: off) */

static __always_inline void on_enter(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 ts;

	if (!pass_filter())
		return;
	ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &tid, &ts, BPF_ANY))
		count_drop();
}

static __always_inline void add(struct sc_key *k, __u64 lat, bool timed)
{
	struct sc_counts zero = {}, *c = lookup_or_init(&counts, k, &zero);

	if (!c)
		return;
	c->calls++;
	if (timed) {
		c->lat_ns += lat;
		c->timed++;
	}
}

static __always_inline void on_exit(long nr, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct sc_key k = {};
	__u64 lat = 0, *ts;
	bool timed = false;

	if (nr < 0 || !pass_filter())
		return;
	if (latency_on) {
		ts = bpf_map_lookup_elem(&start, &tid);
		if (ts) {
			lat = bpf_ktime_get_ns() - *ts;
			timed = true;
			bpf_map_delete_elem(&start, &tid);
		}
	}
	if (failed_only && ret >= 0)
		return;
	if (errno_only && ret != -errno_only)
		return;
	k.nr = nr;
	add(&k, lat, timed);
	if (details_on) {
		k.tgid = id >> 32;
		add(&k, lat, timed);
	}
}

/* The syscall number at exit: raw sys_exit passes only the registers. */
static __always_inline long exit_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ((struct user_pt_regs *)regs, regs[8]);
#else
	return -1;
#endif
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tpbtf_sys_enter, struct pt_regs *regs, long id)
{
	on_enter();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tpbtf_sys_exit, struct pt_regs *regs, long ret)
{
	on_exit(exit_nr(regs), ret);
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(rawtp_sys_enter, struct pt_regs *regs, long id)
{
	on_enter();
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(rawtp_sys_exit, struct pt_regs *regs, long ret)
{
	on_exit(exit_nr(regs), ret);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tp_sys_enter(struct trace_event_raw_sys_enter *args)
{
	on_enter();
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tp_sys_exit(struct trace_event_raw_sys_exit *args)
{
	on_exit(args->id, args->ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
