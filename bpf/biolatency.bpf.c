/* biolatency: block I/O latency as a log2 histogram in microseconds, from a request's issue to
 * the device (or, with targ_queued, its insertion into the I/O scheduler) to its completion.
 *
 * Variants (src/modules/biolatency.ts loads one):
 *   tp_btf, raw_tp - requests keyed by their struct request pointer;
 *   tracepoint     - classic block events carry no request pointer, so requests are keyed by
 *                    (device, start sector), which is unique among requests in flight. */
#include "common.bpf.h"

/* Measure from block_rq_insert (scheduler queue time included) instead of block_rq_issue. */
const volatile bool targ_queued = false;
/* Before 5.11 the block_rq_* raw tracepoints took (q, rq); since, (rq) alone. */
const volatile bool targ_single = true;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct request * */
	__type(value, __u64);
} start SEC(".maps");

struct dev_sector {
	__u32 dev;
	__u32 pad;
	__u64 sector;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dev_sector);
	__type(value, __u64);
} start_tp SEC(".maps");

HIST_MAP(hist, 1);

/* At issue with targ_queued, keep the insert time when there is one: a request that bypassed
 * the scheduler has no insert event, so its issue time is the start. */
static __always_inline void mark(void *map, void *key, bool at_issue)
{
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(map, key, &ts, at_issue && targ_queued ? BPF_NOEXIST : BPF_ANY);
}

static __always_inline void done(void *map, void *key)
{
	__u64 *tsp = bpf_map_lookup_elem(map, key), now, ts;

	if (!tsp)
		return;
	ts = *tsp;
	bpf_map_delete_elem(map, key);
	now = bpf_ktime_get_ns();
	if (now >= ts)
		hist_add(&hist, 0, (now - ts) / 1000);
}

static __always_inline __u64 rq_arg(unsigned long long *ctx)
{
	return targ_single ? ctx[0] : ctx[1];
}

/* ---- tp_btf / raw_tp: only the request pointer is used, never dereferenced ---- */

SEC("tp_btf/block_rq_insert")
int tpbtf_insert(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, false);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int tpbtf_issue(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, true);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int tpbtf_complete(unsigned long long *ctx)
{
	__u64 rq = ctx[0];

	done(&start, &rq);
	return 0;
}

SEC("raw_tp/block_rq_insert")
int rawtp_insert(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, false);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int rawtp_issue(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, true);
	return 0;
}

SEC("raw_tp/block_rq_complete")
int rawtp_complete(unsigned long long *ctx)
{
	__u64 rq = ctx[0];

	done(&start, &rq);
	return 0;
}

/* ---- classic tracepoints ---- */

SEC("tracepoint/block/block_rq_insert")
int tp_insert(struct trace_event_raw_block_rq *ctx)
{
	struct dev_sector k = { .dev = ctx->dev, .sector = ctx->sector };

	mark(&start_tp, &k, false);
	return 0;
}

SEC("tracepoint/block/block_rq_issue")
int tp_issue(struct trace_event_raw_block_rq *ctx)
{
	struct dev_sector k = { .dev = ctx->dev, .sector = ctx->sector };

	mark(&start_tp, &k, true);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int tp_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct dev_sector k = { .dev = ctx->dev, .sector = ctx->sector };

	done(&start_tp, &k);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
