// SPDX-License-Identifier: GPL-2.0
/* biotop: block I/O per process, device and direction, counted per interval.
 *
 * The request's life (start: who, issue: size and time, done: count it) is followed by
 * include/block_requests.bpf.h (shared with bioperpid); src/modules/biotop.ts picks the attach
 * variant at run time. At done, one I/O, its bytes and issue→done time are added to the counts. */
#include "topn.bpf.h"
#include "block_requests.bpf.h"

struct io_key {
	__u32 pid;
	__u32 major;
	__u32 minor;
	__u32 write; /* 1 = write, 0 = read */
	char comm[16];
};

struct io_val {
	__u64 bytes;
	__u64 ns; /* summed issue→done time; the agent divides by io */
	__u64 io;
};

TOPN_COUNT_MAPS(struct io_key, struct io_val);

static __always_inline void block_account(struct inflight *e)
{
	struct io_key key = {};
	struct io_val zero = {}, *val;
	__u64 now = bpf_ktime_get_ns();

	key.pid = e->pid;
	key.major = e->major;
	key.minor = e->minor;
	key.write = e->write;
	__builtin_memcpy(key.comm, e->comm, sizeof(key.comm));
	val = topn_value(topn_active_map(), &key, &zero);
	if (!val)
		return;
	__sync_fetch_and_add(&val->bytes, e->bytes);
	__sync_fetch_and_add(&val->ns, now > e->ts ? now - e->ts : 0);
	__sync_fetch_and_add(&val->io, 1);
}

char LICENSE[] SEC("license") = "GPL";
