/* Double-buffered counting maps for the top-N tools (biotop, tcptop); the agent side is
 * src/modules/shared/topn.ts.
 *
 * Why two maps: the agent empties the counts every interval. Emptying the map the programs
 * are writing (lookup_and_delete_batch on a live map) races with a program that has already
 * looked an entry up and is about to add to it: the add lands in a deleted element and is
 * lost, or, in a preallocated hash map whose element was already reused, is added to another
 * key. Instead the programs write to counts[topn_gen & 1]; the agent flips topn_gen and then
 * drains the map nobody writes to any more. Only a program that read the old generation in the
 * instant before the flip can still write to the drained map, and then its add is not lost:
 * it stays in that map and is read at the next drain of it. */
#ifndef PMDA_EBPF_TOPN_BPF_H
#define PMDA_EBPF_TOPN_BPF_H

#include "common.bpf.h"

#ifndef EEXIST
#define EEXIST 17
#endif

/* Enough for the 10 000 distinct keys the benchmark fills; the agent may change it before load. */
#define TOPN_MAX_ENTRIES 10240

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} topn_gen SEC(".maps");

/* Updates that found their map full (the agent reports them as lost). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} topn_dropped SEC(".maps");

#define TOPN_COUNT_MAPS(key_type, value_type)                 \
	struct {                                              \
		__uint(type, BPF_MAP_TYPE_HASH);              \
		__uint(max_entries, TOPN_MAX_ENTRIES);        \
		__type(key, key_type);                        \
		__type(value, value_type);                    \
	} topn_counts0 SEC(".maps"), topn_counts1 SEC(".maps")

/* The counting map of the current generation. */
#define topn_active_map()                                                      \
	({                                                                     \
		__u32 __z = 0;                                                 \
		__u32 *__g = bpf_map_lookup_elem(&topn_gen, &__z);             \
		(__g && (*__g & 1)) ? (void *)&topn_counts1 : (void *)&topn_counts0; \
	})

/* Insert `init` under key unless present, and return the map's value for key; NULL when the
 * map is full (counted in topn_dropped). Two CPUs may race to create the same key: BPF_NOEXIST
 * lets exactly one insert win, the other sees -EEXIST and uses the winner's element. */
static __always_inline void *topn_insert(void *map, const void *key, const void *init)
{
	long err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);

	if (err && err != -EEXIST) {
		__u32 z = 0;
		__u64 *d = bpf_map_lookup_elem(&topn_dropped, &z);

		if (d)
			__sync_fetch_and_add(d, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

/* The value for key in map, created from `zero` if absent; NULL when the map is full. */
static __always_inline void *topn_value(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	return v ? v : topn_insert(map, key, zero);
}

#endif
