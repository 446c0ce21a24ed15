/* tracepoint_hits → bcc.tracepoint.hits: hits per configured tracepoint. pmdabcc generated
 * and compiled one program per tracepoint; here one program is attached to each tracepoint
 * with a BPF cookie (bpf_get_attach_cookie, Linux 5.15+) holding that tracepoint's slot. */
#include "common.bpf.h"
#include "filter.bpf.h"

struct tp_counts {
	__u64 hits;
};

/* Slot = cookie; sized by the agent to the number of tracepoints. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_counts);
} counts SEC(".maps");

SEC("tracepoint")
int tp_hit(void *ctx)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	struct tp_counts *c;

	if (!pass_filter())
		return 0;
	c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		c->hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
