/* The kernel half of src/modules/shared/event-stream.ts: one ring buffer named `events` (the
 * agent sizes it from buffer_page_count before load) and the `drops` counter for records that
 * did not fit. A tool reserves with event_reserve() and submits with bpf_ringbuf_submit(). */
#ifndef PMDA_EBPF_EVENTS_BPF_H
#define PMDA_EBPF_EVENTS_BPF_H

#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 4096);
} events SEC(".maps");

/* Room for one record of `size` bytes, or NULL with the drop counted. */
static __always_inline void *event_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		count_drop();
	return e;
}

#endif
