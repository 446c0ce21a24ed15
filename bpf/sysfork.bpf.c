/* sysfork → bcc.proc.sysfork: every new task (fork, vfork, clone of a process or a thread),
 * from sched_process_fork, which fires once per successful copy_process(). pmdabcc hooked
 * kprobe sched_fork, which also ran for forks that then failed; the tracepoint counts only
 * tasks that were created. Three variants of the one hook, chosen by the agent at run time. */
#include "common.bpf.h"
#include "filter.bpf.h"

struct fork_counts {
	__u64 forks;
};

/* One slot, per CPU: the agent sums the CPUs (src/modules/shared/keyed-counter.ts). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fork_counts);
} counts SEC(".maps");

static __always_inline int count_fork(void)
{
	__u32 zero = 0;
	struct fork_counts *c;

	/* The parent is current: the process filter selects whose forks are counted. */
	if (!pass_filter())
		return 0;
	c = bpf_map_lookup_elem(&counts, &zero);
	if (c)
		c->forks++;
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tpbtf_fork, struct task_struct *parent, struct task_struct *child)
{
	return count_fork();
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(rawtp_fork, struct task_struct *parent, struct task_struct *child)
{
	return count_fork();
}

SEC("tracepoint/sched/sched_process_fork")
int tp_fork(void *ctx)
{
	return count_fork();
}

char LICENSE[] SEC("license") = "GPL";
