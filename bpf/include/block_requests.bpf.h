/* Block requests followed from their submitter to their completion, shared by biotop and
 * bioperpid (one copy of the hooks, written for biotop):
 *   start  the request is created from the submitter's bio: record who (pid, comm);
 *   issue  the request goes to the driver: record the time and the size (at completion the
 *          size already reads 0, bpf-feasibility.md section 1);
 *   done   the request finished: block_account(e) (defined by the includer) counts it.
 *
 * Every attach variant funnels into the same three functions. The kernel-pointer variants
 * (tp_btf, raw_tp, kprobe) key a request by its struct request address; the classic
 * tracepoints see no pointer and key it by (dev, sector), which is what the request's sector
 * still is at done (the kernel advances it only while data remains). The programs keep
 * biotop's names (biotop_*) in every object that includes this. */
#ifndef PMDA_EBPF_BLOCK_REQUESTS_BPF_H
#define PMDA_EBPF_BLOCK_REQUESTS_BPF_H

#include "common.bpf.h"
#include "core_fixes.bpf.h"

struct req_key {
	__u64 a; /* struct request * (pointer variants) or dev (classic) */
	__u64 b; /* 0 (pointer variants) or sector (classic) */
};

struct inflight {
	__u64 ts;    /* 0 until issued */
	__u64 bytes; /* size at issue */
	__u64 left;  /* bytes not completed yet (classic block_rq_complete may complete in parts) */
	__u32 pid;   /* 0 when the submitter was not seen */
	__u32 write;
	__u32 major;
	__u32 minor;
	char comm[16];
};

/* LRU: a request that is never completed where we look (a bio merged away, a passthrough
 * request) must not pin an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct req_key);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* Counts one finished request; each includer defines it. */
static __always_inline void block_account(struct inflight *e);

#define OP_MASK 0xff /* REQ_OP_BITS = 8 */

static __always_inline void on_start(struct req_key *k)
{
	struct inflight v = {};

	v.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(v.comm, sizeof(v.comm));
	bpf_map_update_elem(&inflight, k, &v, BPF_ANY);
}

/* write: 0 read, 1 write, 2 anything else (skipped) */
static __always_inline void on_issue(struct req_key *k, __u64 bytes, __u32 write, __u32 major, __u32 minor)
{
	struct inflight *e, v = {};

	/* Only reads and writes move data. A flush has no bytes; a discard's or write-zeroes'
	 * "bytes" are a range the device forgets or zeroes, and counting them as written would
	 * make `rm` on a discard-mounted fs the top writer (bcc files them under R, which is worse). */
	if (!bytes || write > 1)
		return;
	e = bpf_map_lookup_elem(&inflight, k);
	if (!e) {
		/* Submitter not seen (started before we attached, or a classic-variant front merge
		 * moved the sector): count it as residual, pid 0. */
		bpf_map_update_elem(&inflight, k, &v, BPF_NOEXIST);
		e = bpf_map_lookup_elem(&inflight, k);
		if (!e)
			return;
	}
	e->ts = bpf_ktime_get_ns();
	e->bytes = bytes;
	e->left = bytes;
	e->write = write;
	e->major = major;
	e->minor = minor;
}

static __always_inline void on_done(struct req_key *k)
{
	struct inflight *e = bpf_map_lookup_elem(&inflight, k);

	if (!e)
		return;
	if (e->ts)
		block_account(e);
	bpf_map_delete_elem(&inflight, k);
}

/* ---- struct request variants -------------------------------------------------------- */

static __always_inline void rq_key(struct req_key *k, struct request *rq)
{
	k->a = (__u64)(unsigned long)rq;
	k->b = 0;
}

static __always_inline void rq_issue(struct request *rq)
{
	struct req_key k;
	struct gendisk *disk;
	__u32 op = BPF_CORE_READ(rq, cmd_flags) & OP_MASK;

	disk = request_disk(rq);
	rq_key(&k, rq);
	on_issue(&k, BPF_CORE_READ(rq, __data_len), op == REQ_OP_READ ? 0 : op == REQ_OP_WRITE ? 1 : 2,
		 BPF_CORE_READ(disk, major),
		 BPF_CORE_READ(disk, first_minor));
}

static __always_inline void rq_start(struct request *rq)
{
	struct req_key k;

	rq_key(&k, rq);
	on_start(&k);
}

static __always_inline void rq_done(struct request *rq)
{
	struct req_key k;

	rq_key(&k, rq);
	on_done(&k);
}

SEC("tp_btf/block_io_start")
int BPF_PROG(biotop_start_btf, struct request *rq)
{
	rq_start(rq);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(biotop_issue_btf, struct request *rq)
{
	rq_issue(rq);
	return 0;
}

SEC("tp_btf/block_io_done")
int BPF_PROG(biotop_done_btf, struct request *rq)
{
	rq_done(rq);
	return 0;
}

SEC("raw_tp/block_io_start")
int BPF_PROG(biotop_start_raw, struct request *rq)
{
	rq_start(rq);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(biotop_issue_raw, struct request *rq)
{
	rq_issue(rq);
	return 0;
}

SEC("raw_tp/block_io_done")
int BPF_PROG(biotop_done_raw, struct request *rq)
{
	rq_done(rq);
	return 0;
}

/* Kernels before 6.5 have no block_io_* tracepoints; pmdabcc and libbpf-tools hook the
 * accounting functions, which were renamed __blk_account_io_* in 5.x and back later. */
SEC("kprobe/blk_account_io_start")
int BPF_KPROBE(biotop_start_kp, struct request *rq)
{
	rq_start(rq);
	return 0;
}

SEC("kprobe/__blk_account_io_start")
int BPF_KPROBE(biotop_start_kp2, struct request *rq)
{
	rq_start(rq);
	return 0;
}

SEC("kprobe/blk_mq_start_request")
int BPF_KPROBE(biotop_issue_kp, struct request *rq)
{
	rq_issue(rq);
	return 0;
}

SEC("kprobe/blk_account_io_done")
int BPF_KPROBE(biotop_done_kp, struct request *rq)
{
	rq_done(rq);
	return 0;
}

SEC("kprobe/__blk_account_io_done")
int BPF_KPROBE(biotop_done_kp2, struct request *rq)
{
	rq_done(rq);
	return 0;
}

/* ---- classic tracepoint variants ----------------------------------------------------- */

#define DEV_MAJOR(dev) ((__u32)(dev) >> 20)
#define DEV_MINOR(dev) ((__u32)(dev) & 0xfffff)

/* rwbs is "[F]W...", "[F]R...", "D..." (discard), "F" (flush), "N": 0 read, 1 write, 2 other.
 * Copied out first: the verifier refuses a load through a ctx pointer plus a variable offset. */
static __always_inline __u32 rwbs_dir(const char *rwbs)
{
	char c[2] = {};

	bpf_probe_read_kernel(c, sizeof(c), rwbs);
	if (c[0] == 'F')
		c[0] = c[1];
	return c[0] == 'R' ? 0 : c[0] == 'W' ? 1 : 2;
}

static __always_inline void tp_key(struct req_key *k, __u32 dev, __u64 sector)
{
	k->a = dev;
	k->b = sector;
}

SEC("tracepoint/block/block_io_start")
int biotop_start_tp(struct trace_event_raw_block_rq *ctx)
{
	struct req_key k;

	tp_key(&k, ctx->dev, ctx->sector);
	on_start(&k);
	return 0;
}

/* Before 6.5: the submitter is current when its bio is queued, under the bio's first sector,
 * which is the request's sector unless another bio is merged in front of it later. */
SEC("tracepoint/block/block_bio_queue")
int biotop_queue_tp(struct trace_event_raw_block_bio *ctx)
{
	struct req_key k;

	tp_key(&k, ctx->dev, ctx->sector);
	on_start(&k);
	return 0;
}

SEC("tracepoint/block/block_rq_issue")
int biotop_issue_tp(struct trace_event_raw_block_rq *ctx)
{
	struct req_key k;
	__u32 dev = ctx->dev;

	tp_key(&k, dev, ctx->sector);
	on_issue(&k, ctx->bytes, rwbs_dir(ctx->rwbs), DEV_MAJOR(dev), DEV_MINOR(dev));
	return 0;
}

SEC("tracepoint/block/block_io_done")
int biotop_done_tp(struct trace_event_raw_block_rq *ctx)
{
	struct req_key k;

	tp_key(&k, ctx->dev, ctx->sector);
	on_done(&k);
	return 0;
}

/* Before 6.5, completion is block_rq_complete, which a driver may report in parts: each part
 * advances the request's sector, so a partial completion re-files the request under the
 * sector where the rest starts, and only the last part counts the I/O. */
SEC("tracepoint/block/block_rq_complete")
int biotop_complete_tp(struct trace_event_raw_block_rq_completion *ctx)
{
	struct req_key k, next;
	struct inflight *e, moved;
	__u64 part = (__u64)ctx->nr_sector << 9;

	tp_key(&k, ctx->dev, ctx->sector);
	e = bpf_map_lookup_elem(&inflight, &k);
	if (!e)
		return 0;
	if (e->ts && part && part < e->left) {
		moved = *e;
		moved.left -= part;
		tp_key(&next, ctx->dev, ctx->sector + ctx->nr_sector);
		bpf_map_update_elem(&inflight, &next, &moved, BPF_ANY);
		bpf_map_delete_elem(&inflight, &k);
		return 0;
	}
	on_done(&k);
	return 0;
}

#endif
