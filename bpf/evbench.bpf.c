// SPDX-License-Identifier: GPL-2.0
// Synthetic event producer for bench/events.bench.ts: one ring-buffer record per getppid()
// made by one chosen process, so that the agent's ring-buffer delivery path and a C libbpf
// consumer can be compared on exactly the same stream.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* Which process's getppid() calls produce events; 0 = every process. Set before load. */
const volatile __u32 target_tgid = 0;

struct evbench_event {
	__u64 seq;	/* per-CPU sequence, lets a consumer check it saw every record */
	__u64 ts_ns;
	__u32 pid;
	__u32 cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Records the kernel could not reserve because the ring was full (per CPU, summed by the reader). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Records produced, per CPU; the consumer's count is checked against it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} produced SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int evbench_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0;
	__u64 *n, *lost;
	struct evbench_event *e;

	if (target_tgid && tgid != target_tgid)
		return 0;
	n = bpf_map_lookup_elem(&produced, &zero);
	if (!n)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		lost = bpf_map_lookup_elem(&drops, &zero);
		if (lost)
			*lost += 1;
		return 0;
	}
	*n += 1;
	e->seq = *n;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	e->cpu = bpf_get_smp_processor_id();
	bpf_ringbuf_submit(e, 0);
	return 0;
}
