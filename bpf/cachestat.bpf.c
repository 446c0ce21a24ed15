/* cachestat → bcc.mem.vmstat.{total,misses,hits,dirtied}: page cache accesses, additions and
 * dirtied pages, system-wide (or for the filtered processes), from tracepoints:
 *   filemap:mm_filemap_get_pages       a read(2)-path lookup of pages [index, last_index]
 *                                      (filemap_read, once per batch it takes from the cache);
 *   filemap:mm_filemap_fault           a page fault on a file mapping (one page);
 *   filemap:mm_filemap_add_to_page_cache  a folio inserted into the cache (2^order pages): a
 *                                      read miss (or readahead) or a write to an uncached page;
 *   writeback:writeback_dirty_folio    a folio becoming dirty (a write).
 * pmdabcc (bcc's cachestat) counted mark_page_accessed, mark_buffer_dirty,
 * add_to_page_cache_lru and account_page_dirtied with kprobes; the agent derives misses and hits
 * the same way from these counts (src/modules/cachestat.ts). */
#include "common.bpf.h"
#include "filter.bpf.h"

struct cache_counts {
	__u64 accessed; /* pages looked up by reads + file page faults */
	__u64 added;    /* pages added to the page cache */
	__u64 dirtied;  /* folios dirtied */
};

/* Per CPU (the agent sums them); adds stay atomic: a BPF program can be preempted by another
 * on the same CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cache_counts);
} counts SEC(".maps");

static __always_inline struct cache_counts *slot(void)
{
	__u32 zero = 0;

	if (!pass_filter())
		return NULL;
	return bpf_map_lookup_elem(&counts, &zero);
}

SEC("tracepoint/filemap/mm_filemap_get_pages")
int tp_get_pages(struct trace_event_raw_mm_filemap_op_page_cache_range *ctx)
{
	struct cache_counts *c = slot();

	if (c && ctx->last_index >= ctx->index)
		__sync_fetch_and_add(&c->accessed, ctx->last_index - ctx->index + 1);
	return 0;
}

SEC("tracepoint/filemap/mm_filemap_fault")
int tp_fault(void *ctx)
{
	struct cache_counts *c = slot();

	if (c)
		__sync_fetch_and_add(&c->accessed, 1);
	return 0;
}

SEC("tracepoint/filemap/mm_filemap_add_to_page_cache")
int tp_add(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	struct cache_counts *c = slot();

	if (c)
		__sync_fetch_and_add(&c->added, 1ULL << (ctx->order & 31));
	return 0;
}

SEC("tracepoint/writeback/writeback_dirty_folio")
int tp_dirty(void *ctx)
{
	struct cache_counts *c = slot();

	if (c)
		__sync_fetch_and_add(&c->dirtied, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
