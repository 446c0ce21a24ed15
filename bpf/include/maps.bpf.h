/* Map shapes every tool shares, defined once: the per-CPU drop counter the agent reads as the
 * module's lost count (src/bpf/ringbuf.ts DropCounter), lookup-or-insert for counting maps that
 * counts a full map as a drop instead of losing it silently, and RECORD_TYPE, which puts a
 * record struct into the object's BTF so the agent can check its decoder's offsets against it
 * (src/bpf/btf-layout.ts). Map names the agent reads are fixed here: `drops`. */
#ifndef PMDA_EBPF_MAPS_BPF_H
#define PMDA_EBPF_MAPS_BPF_H

#include "common.bpf.h"

/* Events the kernel side could not record (ring full, map full). Per CPU, summed by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The value of key in a hash map, inserted as *init when absent; NULL (and a drop counted)
 * when the map is full. Two CPUs inserting the same key at once both end up on one entry:
 * BPF_NOEXIST makes the loser's insert fail and its second lookup finds the winner's. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		count_drop();
	return v;
}

/* Emit BTF for a record struct that only lives on the stack or in a ring buffer (clang emits
 * BTF for types that globals, maps or function signatures use, not for locals). */
#define RECORD_TYPE(type, tag) const volatile type *__record_##tag __attribute__((unused)) = 0

#endif
