/* biolatency: block I/O latency as a log2 histogram in microseconds, from a request's issue to
 * the device (or, with targ_queued, its insertion into the I/O scheduler) to its completion.
 *
 * Variants (src/modules/biolatency.ts loads one):
 *   tp_btf, raw_tp - requests keyed by their struct request pointer;
 *   tracepoint     - classic block events carry no request pointer, so requests are keyed by
 *                    (device, start sector), which is unique among requests in flight.
 * Besides the all-disk histogram, hist_dev counts the same samples per disk (key: dev, slot). */
#include "common.bpf.h"
#include "core_fixes.bpf.h"

/* Measure from block_rq_insert (scheduler queue time included) instead of block_rq_issue. */
const volatile bool targ_queued = false;
/* Before 5.11 the block_rq_* raw tracepoints took (q, rq); since, (rq) alone. */
const volatile bool targ_single = true;
/* Also count per disk (bcc.disk.dev.latency). */
const volatile bool targ_per_dev = true;

/* When the request started, and on which disk (kernel dev_t: major << 20 | minor). */
struct start_val {
	__u64 ts;
	__u32 dev;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct request * */
	__type(value, struct start_val);
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
	__type(value, struct start_val);
} start_tp SEC(".maps");

HIST_MAP(hist, 1);

struct dev_slot {
	__u32 dev;
	__u32 slot;
};

/* Per-CPU for the same reason as HIST_MAP; 256 disks × 64 slots. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dev_slot);
	__type(value, __u64);
} hist_dev SEC(".maps");

#define MINORBITS 20

static __always_inline __u32 rq_dev(__u64 rqp)
{
	struct request *rq = (struct request *)rqp;
	struct gendisk *disk;

	disk = request_disk(rq);
	if (!disk)
		return 0;
	return ((__u32)BPF_CORE_READ(disk, major) << MINORBITS) | (__u32)BPF_CORE_READ(disk, first_minor);
}

/* At issue with targ_queued, keep the insert time when there is one: a request that bypassed
 * the scheduler has no insert event, so its issue time is the start. */
static __always_inline void mark(void *map, void *key, __u32 dev, bool at_issue)
{
	struct start_val v = { .ts = bpf_ktime_get_ns(), .dev = dev };

	bpf_map_update_elem(map, key, &v, at_issue && targ_queued ? BPF_NOEXIST : BPF_ANY);
}

static __always_inline void done(void *map, void *key)
{
	struct start_val *sv = bpf_map_lookup_elem(map, key);
	struct dev_slot ds;
	__u64 now, ts, us, one = 1, *cnt;

	if (!sv)
		return;
	ts = sv->ts;
	ds.dev = sv->dev;
	bpf_map_delete_elem(map, key);
	now = bpf_ktime_get_ns();
	if (now < ts)
		return;
	us = (now - ts) / 1000;
	hist_add(&hist, 0, us);
	if (!targ_per_dev)
		return;
	ds.slot = hist_slot(us);
	cnt = bpf_map_lookup_elem(&hist_dev, &ds);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&hist_dev, &ds, &one, BPF_NOEXIST);
}

static __always_inline __u64 rq_arg(unsigned long long *ctx)
{
	return targ_single ? ctx[0] : ctx[1];
}

/* ---- tp_btf / raw_tp: the request pointer is the key; the disk is read through CO-RE ---- */

SEC("tp_btf/block_rq_insert")
int tpbtf_insert(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, targ_per_dev ? rq_dev(rq) : 0, false);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int tpbtf_issue(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, targ_per_dev ? rq_dev(rq) : 0, true);
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

	mark(&start, &rq, targ_per_dev ? rq_dev(rq) : 0, false);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int rawtp_issue(unsigned long long *ctx)
{
	__u64 rq = rq_arg(ctx);

	mark(&start, &rq, targ_per_dev ? rq_dev(rq) : 0, true);
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

	mark(&start_tp, &k, k.dev, false);
	return 0;
}

SEC("tracepoint/block/block_rq_issue")
int tp_issue(struct trace_event_raw_block_rq *ctx)
{
	struct dev_sector k = { .dev = ctx->dev, .sector = ctx->sector };

	mark(&start_tp, &k, k.dev, true);
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
