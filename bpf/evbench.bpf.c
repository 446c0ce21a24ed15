// SPDX-License-Identifier: GPL-2.0
// Synthetic event producer for bench/events.bench.ts: one ring-buffer record per getppid()
// made by one chosen process, so that the agent's ring-buffer delivery path and a C libbpf
// consumer can be compared on exactly the same stream.
#include "common.bpf.h"

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

/* Scratch for evbench_varlen: records of varying length, so that a test can make records
 * straddle the end of the ring and check every byte comes back in order. */
struct varlen_event {
	__u64 seq;
	__u32 len;	/* payload bytes that follow, each equal to (seq & 0xff) */
	__u8 payload[128];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct varlen_event);
} varlen_scratch SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int evbench_varlen(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0, len, i;
	struct varlen_event *e;
	__u64 *n, *lost;

	if (target_tgid && tgid != target_tgid)
		return 0;
	n = bpf_map_lookup_elem(&produced, &zero);
	e = bpf_map_lookup_elem(&varlen_scratch, &zero);
	if (!n || !e)
		return 0;
	*n += 1;
	e->seq = *n;
	len = (*n * 37) % 101;	/* 0..100 payload bytes: header 12 + len, rarely a multiple of 8 */
	e->len = len;
	/* Hide the modulo's bound from clang, or it drops the mask the verifier needs below. */
	barrier_var(len);
	/* The whole scratch payload; only the first len bytes go out. */
	for (i = 0; i < sizeof(e->payload); i++)
		e->payload[i] = (__u8)*n;
	if (bpf_ringbuf_output(&events, e, 12 + (len & 127), 0)) {
		*n -= 1;
		lost = bpf_map_lookup_elem(&drops, &zero);
		if (lost)
			*lost += 1;
	}
	return 0;
}
