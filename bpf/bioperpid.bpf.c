// SPDX-License-Identifier: GPL-2.0
/* bioperpid → bcc.proc.io.total: bytes read and written per process and disk, cumulative.
 * Requests are followed by include/block_requests.bpf.h (biotop's hooks); at completion the
 * request's bytes are added under (submitter's pid, disk). The submitter is the task that
 * created the request (block_io_start); pid 0 when it was not seen. */
#include "common.bpf.h"
#include "maps.bpf.h"
#include "block_requests.bpf.h"

struct bio_key {
	__u32 pid;
	__u32 major;
	__u32 minor;
};

struct bio_bytes {
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct bio_key);
	__type(value, struct bio_bytes);
} counts SEC(".maps");

static __always_inline void block_account(struct inflight *e)
{
	struct bio_key key = { .pid = e->pid, .major = e->major, .minor = e->minor };
	struct bio_bytes zero = {}, *v = lookup_or_init(&counts, &key, &zero);

	if (v)
		__sync_fetch_and_add(&v->bytes, e->bytes);
}

char LICENSE[] SEC("license") = "GPL";
