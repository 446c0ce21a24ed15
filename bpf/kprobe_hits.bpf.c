/* kprobe_hits → bcc.kprobe.hits.{count,fail,latency.avg,latency.cml}: calls of configured
 * kernel functions, counted when they return (the return value decides `fail`, and the errno
 * filter), with entry-to-return latency. pmdabcc generated one program pair per function; here
 * one kprobe and one kretprobe program are attached to every function with its slot as the
 * BPF cookie. Needs kprobes (this agent's test machine has none: the module then fails with
 * that reason and the others serve). */
#include "common.bpf.h"
#include "filter.bpf.h"
#include "maps.bpf.h"

struct kp_key {
	__u32 tgid; /* 0: every process; else details of one process */
	__u32 slot;
};

struct kp_counts {
	__u64 calls;
	__u64 fails;
	__u64 lat_ns;
	__u64 timed;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct kp_key);
	__type(value, struct kp_counts);
} counts SEC(".maps");

struct start_key {
	__u32 tid;
	__u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct start_key);
	__type(value, __u64);
} start SEC(".maps");

enum { RET_EQ, RET_NE, RET_LT, RET_LE, RET_GT, RET_GE };

const volatile bool latency_on = false;
const volatile bool details_on = false;
const volatile int errno_only = 0;
const volatile int ret_op = RET_NE; /* pmdabcc's ret_chk "!= 0" */
const volatile long ret_val = 0;

static __always_inline bool ret_check(long r)
{
	switch (ret_op) {
	case RET_EQ: return r == ret_val;
	case RET_NE: return r != ret_val;
	case RET_LT: return r < ret_val;
	case RET_LE: return r <= ret_val;
	case RET_GT: return r > ret_val;
	default: return r >= ret_val;
	}
}

SEC("kprobe")
int kp_entry(struct pt_regs *ctx)
{
	struct start_key k = { .tid = (__u32)bpf_get_current_pid_tgid(), .slot = (__u32)bpf_get_attach_cookie(ctx) };
	__u64 ts;

	if (!pass_filter())
		return 0;
	ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &k, &ts, BPF_ANY))
		count_drop();
	return 0;
}

static __always_inline void add(struct kp_key *k, bool fail, __u64 lat, bool timed)
{
	struct kp_counts zero = {}, *c = lookup_or_init(&counts, k, &zero);

	if (!c)
		return;
	c->calls++;
	if (fail)
		c->fails++;
	if (timed) {
		c->lat_ns += lat;
		c->timed++;
	}
}

SEC("kretprobe")
int kp_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	struct start_key sk = { .tid = (__u32)id, .slot = slot };
	struct kp_key k = { .slot = slot };
	long ret = PT_REGS_RC(ctx);
	__u64 lat = 0, *ts;
	bool timed = false, fail;

	if (!pass_filter())
		return 0;
	if (latency_on) {
		ts = bpf_map_lookup_elem(&start, &sk);
		if (ts) {
			lat = bpf_ktime_get_ns() - *ts;
			timed = true;
			bpf_map_delete_elem(&start, &sk);
		}
	}
	if (errno_only && ret != -errno_only)
		return 0;
	fail = ret_check(ret);
	add(&k, fail, lat, timed);
	if (details_on) {
		k.tgid = id >> 32;
		add(&k, fail, lat, timed);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
