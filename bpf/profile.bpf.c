/* profile: timed samples of what every CPU is running, as counts per (process, comm, kernel
 * stack, user stack). A software cpu-clock perf event on each CPU runs `sample`; the stacks go
 * into stack-trace maps and the agent symbolises them in user space.
 *
 * Two generations of (counts, stacks) maps: the agent flips `gen` and then reads and clears
 * the generation the program has stopped writing. A single pair cannot be cleared safely: a
 * stack id freed while a counts entry that names it is still being written would later name
 * whatever stack reuses the slot. With two, the agent deletes a generation's stack ids only
 * just before that generation becomes active again, one interval after it stopped, when no
 * sample can still be writing to it (src/modules/profile/sampler.ts).
 *
 * New processes (and exec'd ones) are also announced on a ring buffer; see seen_tgids.
 *
 * Two programs, one loaded: `sample` takes user stacks with the kernel's frame-pointer walker
 * (bpf_get_stackid), `sample_unwind` walks them with .eh_frame unwind tables
 * (include/unwind.bpf.h) and stores them in ustacks0/1 under the same kind of ids. */
#include "common.bpf.h"
#include "filter.bpf.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef EFAULT
#define EFAULT 14
#endif

/* 127 frames: the kernel's default perf_event_max_stack, as libbpf-tools' profile. */
#define MAX_FRAMES 127
#define TASK_COMM_LEN 16

const volatile bool user_stacks_only = false;
const volatile bool kernel_stacks_only = false;
const volatile bool include_idle = true;

/* Layout read by src/modules/profile/sampler.ts (28 bytes, no padding). */
struct stack_key {
	__u32 tgid;
	__s32 kstack;	/* stack id, or -errno from bpf_get_stackid, or -1 when not collected */
	__s32 ustack;
	char comm[TASK_COMM_LEN];
};

/* max_entries of these four are set by the agent from stack_storage_size before load. */
struct stack_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_FRAMES * sizeof(__u64));
};
struct stack_map stacks0 SEC(".maps");
struct stack_map stacks1 SEC(".maps");

struct count_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct stack_key);
	__type(value, __u64);
};
struct count_map counts0 SEC(".maps");
struct count_map counts1 SEC(".maps");

/* [0] = the generation samples go to (0 or 1); written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gen SEC(".maps");

/* [0] = samples dropped because the counts map was full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Processes sampled recently, with the exec count of their image. A process not in here, or
 * one that has exec'd since, is announced on new_tgids, so that the agent reads its
 * /proc/PID/maps within milliseconds rather than at the next drain: a short-lived process (a
 * compiler, a shell pipeline) is often gone by then and its user frames could not be named,
 * and after an exec the old maps would name the new image's addresses wrongly. LRU: a
 * process evicted and sampled again is announced again, which costs one maps read. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} seen_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} new_tgids SEC(".maps");

static __always_inline void announce(__u32 tgid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 exec_id = BPF_CORE_READ(task, self_exec_id);
	__u64 *had;

	if (tgid == 0)
		return;
	had = bpf_map_lookup_elem(&seen_tgids, &tgid);
	if (had && *had == exec_id)
		return;
	bpf_map_update_elem(&seen_tgids, &tgid, &exec_id, BPF_ANY);
	/* A full ring only delays naming to the next drain: nothing to count. */
	bpf_ringbuf_output(&new_tgids, &tgid, sizeof(tgid), 0);
}

/* No BPF_F_FAST_STACK_CMP: two different stacks with equal hashes must come back as a
 * collision (-EEXIST, counted as missed) rather than silently share an id. No
 * BPF_F_REUSE_STACKID either: it would overwrite a stack that counts still refer to. */
static __always_inline void count(void *counts, struct stack_key *key)
{
	__u64 one = 1, *v;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(counts, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(counts, key, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU may have inserted the same key in between; otherwise the map is full. */
	v = bpf_map_lookup_elem(counts, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	v = bpf_map_lookup_elem(&lost, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
}

#include "unwind.bpf.h"

/* User stacks walked with unwind tables (sample_unwind), by id: the hash of the frames
 * (FNV-1a), masked to a non-negative s32. The agent deletes ids as it does those of the stack
 * maps; an id already holding other frames is a collision, reported as -EEXIST like
 * bpf_get_stackid's. No preallocation: entries cost memory only while stored. */
struct ustack_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct unwind_frames);
};
struct ustack_map ustacks0 SEC(".maps");
struct ustack_map ustacks1 SEC(".maps");

static __always_inline __s32 store_ustack(void *ustacks, struct unwind_frames *f, __u32 hash)
{
	__u32 id = hash & 0x7fffffff;
	struct unwind_frames *had;
	long err;

	had = bpf_map_lookup_elem(ustacks, &id);
	if (!had) {
		err = bpf_map_update_elem(ustacks, &id, f, BPF_NOEXIST);
		if (err == 0)
			return id;
		if (err != -EEXIST)
			return -ENOMEM;
		had = bpf_map_lookup_elem(ustacks, &id);
		if (!had)
			return -ENOMEM;
	}
	for (int i = 0; i < MAX_FRAMES; i++) {
		if (had->pc[i] != f->pc[i])
			return -EEXIST;
		if (f->pc[i] == 0)
			break;
	}
	return id;
}

static __always_inline int do_sample(struct bpf_perf_event_data *ctx, bool unwind)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct stack_key key = {};
	struct unwind_frames *frames = NULL;
	__u32 zero = 0, g, hash = 0, n = 0;
	__u32 *gp;

	if (!include_idle && (__u32)id == 0)
		return 0;
	if (!pass_filter())
		return 0;

	gp = bpf_map_lookup_elem(&gen, &zero);
	g = gp ? *gp & 1 : 0;

	key.tgid = id >> 32;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	if (!kernel_stacks_only)
		announce(key.tgid);
	key.kstack = -1;
	key.ustack = -1;
	if (unwind && !kernel_stacks_only) {
		n = unwind_user(ctx, key.tgid, &hash, &frames);
		if (n == 0)
			key.ustack = -EFAULT; /* no user stack, as bpf_get_stackid says */
	}

	/* One call per map: the verifier needs a constant map pointer at each call site. */
	if (g == 0) {
		if (!user_stacks_only)
			key.kstack = bpf_get_stackid(ctx, &stacks0, 0);
		if (!kernel_stacks_only && !unwind)
			key.ustack = bpf_get_stackid(ctx, &stacks0, BPF_F_USER_STACK);
		if (n && frames)
			key.ustack = store_ustack(&ustacks0, frames, hash);
		count(&counts0, &key);
	} else {
		if (!user_stacks_only)
			key.kstack = bpf_get_stackid(ctx, &stacks1, 0);
		if (!kernel_stacks_only && !unwind)
			key.ustack = bpf_get_stackid(ctx, &stacks1, BPF_F_USER_STACK);
		if (n && frames)
			key.ustack = store_ustack(&ustacks1, frames, hash);
		count(&counts1, &key);
	}
	return 0;
}

/* User stacks by frame pointers (the kernel's walker). */
SEC("perf_event")
int sample(struct bpf_perf_event_data *ctx)
{
	return do_sample(ctx, false);
}

/* User stacks by unwind tables, frame pointers where a pc has none (unwind.bpf.h). */
SEC("perf_event")
int sample_unwind(struct bpf_perf_event_data *ctx)
{
	return do_sample(ctx, true);
}

char LICENSE[] SEC("license") = "GPL";
