/* User-stack walking with .eh_frame-derived unwind tables, for code built without frame
 * pointers (most of a distribution). The agent (src/modules/profile/unwinder.ts) flattens
 * each mapped file's CFI into sorted rows (src/modules/profile/unwind-table.ts), stores them
 * in one big array map shared by every process mapping the file, and gives each process a
 * sorted list of its executable mappings pointing at their file's rows. A sample then walks
 * frame by frame: find the mapping (binary search), find the row (binary search), compute
 * the CFA, read the return address at CFA-8 and the saved rbp where the row says. Where no
 * row covers a pc (JIT code, a file without tables, a rule we cannot express) the step
 * falls back to frame pointers, as bpf_get_stackid would.
 *
 * The walk runs in bpf_loop callbacks: the verifier checks one step once, not 127 copies. */
#ifndef PMDA_EBPF_UNWIND_BPF_H
#define PMDA_EBPF_UNWIND_BPF_H

#include "common.bpf.h"

#ifndef MAX_FRAMES
#define MAX_FRAMES 127
#endif

/* Row kinds (src/modules/profile/cfi.ts Kind) and rbp rules (RbpRule), packed in `kind`. */
#define UW_NONE 0
#define UW_RSP 1
#define UW_RBP 2
#define UW_PLT 3
#define UW_DEREF_RSP 4
#define UW_DEREF_RBP 5
#define UW_END 6
#define UW_SIGNAL 7
#define UW_RBP_SAME 0
#define UW_RBP_CFA 1
#define UW_RBP_RBP 2

/* 12 bytes: the agent packs these (UnwindTable.pack). */
struct unwind_row {
	__u32 pc;	/* link-time address where the rule starts */
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 kind;	/* low nibble: UW_*, high nibble: UW_RBP_* */
	__u8 param;	/* PLT: byte of the jump; DEREF: added after the load */
};

/* Rows are stored 64 to an array element: fewer elements for the agent to write, and a
 * file's rows start at a chunk boundary. Row i is chunk i/64, slot i%64. */
#define UNWIND_CHUNK_ROWS 64
struct unwind_chunk {
	struct unwind_row rows[UNWIND_CHUNK_ROWS];
};

/* One executable mapping of a process; row_count 0: no table (frame pointers there). */
struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;	/* runtime address - link-time address */
	__u32 row_start;
	__u32 row_count;
};

/* A process's executable mappings, sorted by start, are UNWIND_MAX_MAPS consecutive
 * elements of unwind_maps from slot * UNWIND_MAX_MAPS: array elements, which the verifier
 * inlines as plain loads, not hash lookups, in the binary search of every frame. */
#define UNWIND_MAX_MAPS 128
struct unwind_proc {
	__u32 slot;
	__u32 count;
	/* bpf_ktime_get_ns() of the last time a pc outside every mapping asked the agent to
	 * reread the maps (dlopen): at most once a second. */
	__u64 asked_ns;
};

/* The agent sets max_entries of these three before load (unwind_memory_limit). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_chunk);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UNWIND_MAX_MAPS);
	__type(key, __u32);
	__type(value, struct unwind_mapping);
} unwind_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_proc);
} unwind_procs SEC(".maps");

struct unwind_walk {
	__u32 base;	/* the process's first element of unwind_maps */
	__u32 count;	/* its mappings; 0: no entry yet (frame pointers only) */
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u32 n;
	__u32 hash;
	/* pc is exact (the leaf, or the interrupted pc of a signal frame): no -1 before lookup */
	__u8 exact;
	__u8 ask;	/* a pc fell outside every known mapping */
	__u8 done;
	__u8 pad;
	__u64 table_frames;
	__u64 fp_frames;
};

struct unwind_frames {
	__u64 pc[MAX_FRAMES];
};

/* The walk's state lives in a map value, not on the stack: the verifier checks a loop
 * callback again for every distinct state it is entered with, and a frame count it could
 * see (on the stack, it can) would make each of the 127 steps a new state. */
struct unwind_scratch {
	struct unwind_frames f;
	struct unwind_walk w;
};

/* Per-CPU scratch: a 127-frame stack does not fit the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_scratch);
} unwind_scratch SEC(".maps");

/* All zeros, never written: the frames are cleared from it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_frames);
} unwind_zeros SEC(".maps");

/* [0] frames found through tables, [1] through frame pointers, [2] walks cut at MAX_FRAMES,
 * [3] walks that asked the agent to reread a process's maps. Per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} unwind_stats SEC(".maps");

static __always_inline void unwind_stat(__u32 i, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&unwind_stats, &i);

	if (v && n)
		*v += n;
}

static __always_inline struct unwind_row *unwind_row_at(__u32 i)
{
	__u32 chunk = i / UNWIND_CHUNK_ROWS;
	struct unwind_chunk *c = bpf_map_lookup_elem(&unwind_rows, &chunk);

	if (!c)
		return NULL;
	return &c->rows[i % UNWIND_CHUNK_ROWS];
}

struct unwind_msearch {
	__u64 pc;
	__u32 lo, hi;	/* element indexes into unwind_maps */
	__u32 found;
	__u32 ok;
};

static long unwind_msearch_step(__u32 i, struct unwind_msearch *c)
{
	struct unwind_mapping *m;
	__u32 mid;

	if (c->lo >= c->hi)
		return 1;
	mid = c->lo + (c->hi - c->lo) / 2;
	m = bpf_map_lookup_elem(&unwind_maps, &mid);
	if (!m)
		return 1;
	if (c->pc < m->start)
		c->hi = mid;
	else if (c->pc >= m->end)
		c->lo = mid + 1;
	else {
		c->found = mid;
		c->ok = 1;
		return 1;
	}
	return 0;
}

struct unwind_rsearch {
	__u32 rel;
	__u32 lo, hi;	/* row indexes: the answer is in [lo, hi) */
	__u32 fail;
};

static long unwind_rsearch_step(__u32 i, struct unwind_rsearch *c)
{
	struct unwind_row *r;
	__u32 mid;

	if (c->hi - c->lo <= 1)
		return 1;
	mid = c->lo + (c->hi - c->lo) / 2;
	r = unwind_row_at(mid);
	if (!r) {
		c->fail = 1;
		return 1;
	}
	if (r->pc <= c->rel)
		c->lo = mid;
	else
		c->hi = mid;
	return 0;
}

static __always_inline int unwind_read(__u64 *dst, __u64 addr)
{
	return bpf_probe_read_user(dst, sizeof(*dst), (void *)addr);
}

/* One frame: record pc, then find the caller's pc, sp and bp. Returns 1 to stop. */
static long unwind_step(__u32 index, void *unused)
{
	__u32 zero = 0;
	__u64 n;
	struct unwind_scratch *buf = bpf_map_lookup_elem(&unwind_scratch, &zero);
	struct unwind_walk *w;
	struct unwind_mapping *m = NULL;
	struct unwind_row *r = NULL;
	__u64 pc, look, cfa = 0, ra = 0, bp, tmp;
	__u8 kind = UW_NONE, rbp_rule;

	if (!buf)
		return 1;
	w = &buf->w;
	n = w->n;
	pc = w->pc;
	bp = w->bp;
	if (n >= MAX_FRAMES || pc == 0) {
		w->done = 1;
		return 1;
	}
	/* The mask in asm: clang would drop it after the check above, and may test a copy of the
	 * register it indexes with, which the verifier cannot connect. 127 stays inside the value. */
	asm volatile("%0 &= 127" : "+r"(n));
	buf->f.pc[n] = pc;
	w->n = n + 1;
	w->hash = (w->hash ^ (__u32)pc) * 16777619;
	w->hash = (w->hash ^ (__u32)(pc >> 32)) * 16777619;

	/* A return address points after the call, which may be the last instruction of the
	 * function: the rule of the call is the one at pc-1. */
	look = w->exact ? pc : pc - 1;
	w->exact = 0;
	if (w->count) {
		struct unwind_msearch ms = { .pc = look, .lo = w->base, .hi = w->base + w->count };

		/* Each search in a loop callback of its own: verified once, not per iteration. */
		bpf_loop(8, unwind_msearch_step, &ms, 0);
		if (!ms.ok) {
			w->ask = 1;
		} else {
			m = bpf_map_lookup_elem(&unwind_maps, &ms.found);
			if (m && m->row_count && look - m->bias < 0x100000000ULL) {
				struct unwind_rsearch rs = {
					.rel = (__u32)(look - m->bias),
					.lo = m->row_start,
					.hi = m->row_start + m->row_count,
				};

				bpf_loop(24, unwind_rsearch_step, &rs, 0);
				r = rs.fail ? NULL : unwind_row_at(rs.lo);
				if (r && r->pc > rs.rel)
					r = NULL;
			}
		}
	}
	if (r)
		kind = r->kind & 15;

	switch (kind) {
	case UW_END:
		w->done = 1;
		return 1;
	case UW_SIGNAL:
		/* rsp points at the ucontext of an rt_sigframe: take the interrupted registers. */
		if (unwind_read(&bp, w->sp + 40 + 10 * 8) || unwind_read(&tmp, w->sp + 40 + 15 * 8) ||
		    unwind_read(&ra, w->sp + 40 + 16 * 8))
			return 1;
		w->bp = bp;
		w->sp = tmp;
		w->pc = ra;
		w->exact = 1;
		w->table_frames++;
		return 0;
	case UW_RSP:
		cfa = w->sp + r->cfa_off;
		break;
	case UW_RBP:
		cfa = w->bp + r->cfa_off;
		break;
	case UW_PLT:
		cfa = w->sp + r->cfa_off + ((pc & 15) >= r->param ? 8 : 0);
		break;
	case UW_DEREF_RSP:
	case UW_DEREF_RBP:
		if (unwind_read(&cfa, (kind == UW_DEREF_RSP ? w->sp : w->bp) + r->cfa_off))
			return 1;
		cfa += r->param;
		break;
	default:
		/* Frame pointers: [rbp] is the caller's rbp, [rbp+8] the return address. */
		/* rbp == sp is normal: a caller with nothing between its frame and its call. */
		if (w->bp == 0 || w->bp < w->sp || unwind_read(&ra, w->bp + 8) || unwind_read(&bp, w->bp))
			return 1;
		w->sp = w->bp + 16;
		w->bp = bp;
		w->pc = ra;
		w->fp_frames++;
		return 0;
	}
	/* The caller's frame lies above this one; anything else is a bad rule or a bad read. */
	if (cfa <= w->sp || unwind_read(&ra, cfa - 8))
		return 1;
	rbp_rule = r->kind >> 4;
	if (rbp_rule == UW_RBP_CFA) {
		if (unwind_read(&bp, cfa + r->rbp_off))
			return 1;
	} else if (rbp_rule == UW_RBP_RBP) {
		if (unwind_read(&bp, w->bp + r->rbp_off))
			return 1;
	}
	w->sp = cfa;
	w->bp = bp;
	w->pc = ra;
	w->table_frames++;
	return 0;
}

/*
 * Walk the user stack of the current task into the per-CPU scratch frames (zero-padded to
 * MAX_FRAMES). Returns the number of frames (0: no user context, e.g. a kernel thread) and
 * sets *hash to a hash of them.
 */
static __always_inline __u32 unwind_user(struct bpf_perf_event_data *ctx, __u32 tgid, __u32 *hash,
					 struct unwind_frames **out)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct unwind_scratch *buf;
	struct unwind_walk *w;
	struct unwind_frames *zeros;
	struct unwind_proc *p;
	struct pt_regs *regs;
	__u32 zero = 0;

	if (!task->mm)
		return 0;
	buf = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!buf)
		return 0;
	__builtin_memset(&buf->w, 0, sizeof(buf->w));
	/* Zero-padded frames (the stored value is compared and copied whole): one copy from an
	 * element nobody writes. */
	zeros = bpf_map_lookup_elem(&unwind_zeros, &zero);
	if (!zeros || bpf_probe_read_kernel(&buf->f, sizeof(buf->f), zeros))
		return 0;
	w = &buf->w;
	/* The user registers as saved at the task's last entry into the kernel (on x86-64 an
	 * interrupt from user mode saves them there too, so this holds whether the sample hit
	 * user or kernel code). */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	w->pc = regs->ip;
	w->sp = regs->sp;
	w->bp = regs->bp;
	p = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (p && p->count <= UNWIND_MAX_MAPS) {
		w->base = p->slot * UNWIND_MAX_MAPS;
		w->count = p->count;
	}
	w->hash = 2166136261u;
	w->exact = 1;
	bpf_loop(MAX_FRAMES, unwind_step, NULL, 0);
	unwind_stat(0, w->table_frames);
	unwind_stat(1, w->fp_frames);
	if (w->n >= MAX_FRAMES && !w->done)
		unwind_stat(2, 1);
	if (w->ask && p) {
		__u64 now = bpf_ktime_get_ns();

		if (now - p->asked_ns > 1000000000ULL) {
			p->asked_ns = now;
			unwind_stat(3, 1);
			/* The agent rereads the maps of a process announced again. */
			bpf_ringbuf_output(&new_tgids, &tgid, sizeof(tgid), 0);
		}
	}
	*hash = (w->hash ^ w->n) * 16777619;
	*out = &buf->f;
	return w->n;
}

#endif
