/* Hit counting for user-space probes: uprobe_hits (uprobes on library functions), usdt_hits
 * (USDT probes), ustat (runtime events per process) and usdt_jvm_threads (JVM thread start and
 * stop). The agent gives every attachment a cookie, the index of what it counts (an instance,
 * or an event category); the program only adds one to (tgid, index). One object for the four
 * modules: the counting is the same, only the naming of the index differs (in src/modules). */
#include "common.bpf.h"
#include "filter.bpf.h"
#include "maps.bpf.h"

/* Processes are attached one by one, each up to a few specs per probe: room for many. */
#define BPF_USDT_MAX_SPEC_CNT 1024
#include <bpf/usdt.bpf.h>

struct hit_key {
	__u32 tgid;	/* 0 unless per_pid: most modules sum over processes */
	__u32 index;	/* the attach cookie */
};

struct hit_counts {
	__u64 hits;
};

const volatile bool per_pid = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hit_key);
	__type(value, struct hit_counts);
} counts SEC(".maps");

static __always_inline int count_hit(__u64 cookie)
{
	struct hit_key key = {};
	struct hit_counts zero = {}, *c;

	if (!pass_filter())
		return 0;
	key.index = (__u32)cookie;
	if (per_pid)
		key.tgid = bpf_get_current_pid_tgid() >> 32;
	c = lookup_or_init(&counts, &key, &zero);
	if (c)
		__sync_fetch_and_add(&c->hits, 1);
	return 0;
}

/* Runtime events per process (ustat) and JVM thread starts and stops (usdt_jvm_threads): the
 * cookie is the field to count. Keyed by tgid when per_pid, else one entry (tgid 0). */
enum event_field { EV_THREAD, EV_METHOD, EV_OBJECT, EV_CLASS, EV_EXCEPT, EV_GC, EV_THREAD_STOP, EV_FIELDS };

struct usdt_events {
	__u64 thread;
	__u64 method;
	__u64 object;
	__u64 class;
	__u64 except;
	__u64 gc;
	__u64 thread_stop;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct usdt_events);
} events SEC(".maps");

SEC("usdt")
int usdt_event(struct pt_regs *ctx)
{
	__u64 field = bpf_usdt_cookie(ctx);
	__u32 tgid = per_pid ? bpf_get_current_pid_tgid() >> 32 : 0;
	struct usdt_events zero = {}, *e;

	if (field >= EV_FIELDS)
		return 0;
	e = lookup_or_init(&events, &tgid, &zero);
	if (e)
		__sync_fetch_and_add((__u64 *)e + field, 1);
	return 0;
}

SEC("uprobe")
int uprobe_hit(struct pt_regs *ctx)
{
	return count_hit(bpf_get_attach_cookie(ctx));
}

SEC("usdt")
int usdt_hit(struct pt_regs *ctx)
{
	return count_hit(bpf_usdt_cookie(ctx));
}

char LICENSE[] SEC("license") = "GPL";
