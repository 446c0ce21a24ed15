/* Shared by every BPF program of the agent: kernel types, libbpf helper macros, and the
 * log2 histogram layout that src/modules/shared/histogram.ts reads. */
#ifndef PMDA_EBPF_COMMON_BPF_H
#define PMDA_EBPF_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* One histogram is HIST_MAX_SLOTS consecutive u64 counters. 64 slots cover every u64 value,
 * so no value is ever clamped into a last bucket whose bounds would then be a lie. The
 * agent only exports slots up to the highest non-empty one. */
#define HIST_MAX_SLOTS 64

/* Slot of v: slot 0 holds 0 and 1, slot k (k >= 1) holds [2^k, 2^(k+1)-1], which is what the
 * instance names "0-1", "2-3", "4-7", ... say. Branch-free so the verifier sees one path. */
static __always_inline __u32 hist_slot(__u64 v)
{
	__u32 r, s;

	s = (v > 0xFFFFFFFFULL) << 5; v >>= s; r = s;
	s = (v > 0xFFFF) << 4; v >>= s; r |= s;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	r |= (__u32)(v >> 1);
	return r;
}

/* A per-CPU array of nhist * HIST_MAX_SLOTS u64 counters; key = hist * HIST_MAX_SLOTS + slot.
 * Per-CPU so that two CPUs counting into the same bucket never share a cache line; the agent
 * sums the CPUs when it reads the map (one batch lookup). */
#define HIST_MAP(name, nhist)                                   \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);        \
		__uint(max_entries, (nhist) * HIST_MAX_SLOTS);  \
		__type(key, __u32);                             \
		__type(value, __u64);                           \
	} name SEC(".maps")

/* Count v into histogram `hist` of `map`. The add is atomic although the counter is per-CPU:
 * a block completion in irq context can interrupt a process-context update on the same CPU,
 * and an uncontended locked add on a local line costs a few ns. */
static __always_inline void hist_add(void *map, __u32 hist, __u64 v)
{
	__u32 key = hist * HIST_MAX_SLOTS + hist_slot(v);
	__u64 *cnt = bpf_map_lookup_elem(map, &key);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

#endif
