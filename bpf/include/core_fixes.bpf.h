/* Every kernel-version difference the tools read through, in one place (as libbpf-tools'
 * core_fixes.bpf.h): a `___suffix` struct names the old layout, bpf_core_field_exists() /
 * bpf_core_type_exists() pick the one the running kernel has at load time. */
#ifndef PMDA_EBPF_CORE_FIXES_BPF_H
#define PMDA_EBPF_CORE_FIXES_BPF_H

#include "common.bpf.h"

/* task->__state since 5.14, task->state before. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* tp_btf: the same with direct (verifier-checked) loads instead of probe-read helper calls. */
static __always_inline long task_state_btf(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return ((struct task_struct___pre514 *)t)->state;
}

/* The disk of a block request: through its queue since 5.16/5.17, rq->rq_disk before. */
struct request___pre517 {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *request_disk(struct request *rq)
{
	if (bpf_core_field_exists(((struct request___pre517 *)rq)->rq_disk))
		return BPF_CORE_READ((struct request___pre517 *)rq, rq_disk);
	return BPF_CORE_READ(rq, q, disk);
}

/* The classic tcp_retransmit_skb tracepoint's context changed name across kernels; both carry skaddr. */
struct trace_event_raw_tcp_retransmit_skb___x {
	const void *skaddr;
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_event_sk_skb___x {
	const void *skaddr;
} __attribute__((preserve_access_index));

static __always_inline const struct sock *tcp_retransmit_tp_sk(void *ctx)
{
	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___x))
		return BPF_CORE_READ((struct trace_event_raw_tcp_retransmit_skb___x *)ctx, skaddr);
	return BPF_CORE_READ((struct trace_event_raw_tcp_event_sk_skb___x *)ctx, skaddr);
}

#endif
