/* fsdist: latency of open, read, write and fsync on one file system type, as four log2
 * histograms in microseconds. One object serves ext4dist, xfsdist and zfsdist
 * (src/modules/fsdist.ts); the file system is chosen at load time.
 *
 * Variants, per operation (the agent attaches only the enabled operations):
 *   fentry/fexit  - on the file system's own functions (ext4_file_read_iter, ...), set as
 *                   attach targets at load time; measures the fs code alone.
 *   kprobe        - the same functions through kprobes/kretprobes.
 *   syscalls      - syscall tracepoints (read, pread64, ..., openat, fsync, ...). The fd is
 *                   resolved to its struct file at entry and the syscall is timed only when the
 *                   file is a regular file on a target_fs file system; open is resolved at exit
 *                   from the returned fd. Measures the whole syscall (for open, path lookup too). */
#include "common.bpf.h"
#include "filter.bpf.h"

enum fs_op { F_OPEN, F_READ, F_WRITE, F_FSYNC, F_NR };

/* s_type->name of the file system to measure: "ext4", "xfs", "zfs", "btrfs", ... */
const volatile char target_fs[16] = {};

#define S_IFMT 00170000
#define S_IFREG 0100000

struct start {
	__u64 ts;
	__u32 op;
	__u32 pad;
};

/* Function-level variants (fentry, kprobe): keyed by thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct start);
} start_fn SEC(".maps");

/* Syscall variant, separate so that a mix of variants across operations never collides. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct start);
} start_sys SEC(".maps");

HIST_MAP(hist, F_NR);

static __always_inline void begin(void *map, __u32 op)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s = { .ts = bpf_ktime_get_ns(), .op = op };

	bpf_map_update_elem(map, &tid, &s, BPF_ANY);
}

/* Ends the timing of `op` on this thread; returns the µs, or ~0 when it was not being timed. */
static __always_inline __u64 end(void *map, __u32 op)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start *s = bpf_map_lookup_elem(map, &tid);
	__u64 now, ts;
	__u32 sop;

	if (!s)
		return ~0ULL;
	ts = s->ts;
	sop = s->op;
	bpf_map_delete_elem(map, &tid);
	now = bpf_ktime_get_ns();
	if (sop != op || now < ts)
		return ~0ULL;
	return (now - ts) / 1000;
}

static __always_inline void finish(void *map, __u32 op)
{
	__u64 us = end(map, op);

	if (us != ~0ULL)
		hist_add(&hist, op, us);
}

/* ---- fentry/fexit: targets set by the agent (bpf_program__set_attach_target) ---- */

#define FENTRY_PAIR(op, OP)                                          \
	SEC("fentry")                                                \
	int BPF_PROG(fentry_##op)                                    \
	{                                                            \
		if (pass_filter())                                   \
			begin(&start_fn, OP);                        \
		return 0;                                            \
	}                                                            \
	SEC("fexit")                                                 \
	int BPF_PROG(fexit_##op)                                     \
	{                                                            \
		finish(&start_fn, OP);                               \
		return 0;                                            \
	}

FENTRY_PAIR(open, F_OPEN)
FENTRY_PAIR(read, F_READ)
FENTRY_PAIR(write, F_WRITE)
FENTRY_PAIR(fsync, F_FSYNC)

/* ---- kprobe/kretprobe: attached by function name at run time ---- */

#define KPROBE_PAIR(op, OP)                                          \
	SEC("kprobe")                                                \
	int BPF_KPROBE(kprobe_##op)                                  \
	{                                                            \
		if (pass_filter())                                   \
			begin(&start_fn, OP);                        \
		return 0;                                            \
	}                                                            \
	SEC("kretprobe")                                             \
	int BPF_KRETPROBE(kretprobe_##op)                            \
	{                                                            \
		finish(&start_fn, OP);                               \
		return 0;                                            \
	}

KPROBE_PAIR(open, F_OPEN)
KPROBE_PAIR(read, F_READ)
KPROBE_PAIR(write, F_WRITE)
KPROBE_PAIR(fsync, F_FSYNC)

/* ---- syscall tracepoints with fd → file → file system filtering ---- */

static __always_inline struct file *fd_file(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* A regular file on a target_fs file system. */
static __always_inline bool on_target_fs(struct file *f)
{
	struct inode *inode;
	const char *name;
	char buf[16];

	if (!f)
		return false;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG)
		return false;
	name = BPF_CORE_READ(inode, i_sb, s_type, name);
	if (bpf_probe_read_kernel_str(buf, sizeof(buf), name) < 0)
		return false;
	for (int i = 0; i < sizeof(buf); i++) {
		if (buf[i] != target_fs[i])
			return false;
		if (!buf[i])
			break;
	}
	return true;
}

static __always_inline int sys_enter_fd(__u64 fd, __u32 op)
{
	if (pass_filter() && on_target_fs(fd_file(fd)))
		begin(&start_sys, op);
	return 0;
}

static __always_inline int open_done(long ret)
{
	__u64 us = end(&start_sys, F_OPEN);

	if (us != ~0ULL && ret >= 0 && on_target_fs(fd_file(ret)))
		hist_add(&hist, F_OPEN, us);
	return 0;
}

#define SYS_FD(name, OP)                                                                 \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
	int sys_enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                                \
		return sys_enter_fd(ctx->args[0], OP);                                   \
	}                                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int sys_exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                                \
		finish(&start_sys, OP);                                                  \
		return 0;                                                                \
	}

/* The file does not exist before an open returns, so everything is timed at entry and the
 * fs filter applies at exit. */
#define SYS_OPEN(name)                                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
	int sys_enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                                \
		if (pass_filter())                                                       \
			begin(&start_sys, F_OPEN);                                       \
		return 0;                                                                \
	}                                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int sys_exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                                \
		return open_done(ctx->ret);                                                \
	}

SYS_OPEN(open)
SYS_OPEN(openat)
SYS_OPEN(openat2)
SYS_OPEN(creat)
SYS_FD(read, F_READ)
SYS_FD(pread64, F_READ)
SYS_FD(readv, F_READ)
SYS_FD(preadv, F_READ)
SYS_FD(preadv2, F_READ)
SYS_FD(write, F_WRITE)
SYS_FD(pwrite64, F_WRITE)
SYS_FD(writev, F_WRITE)
SYS_FD(pwritev, F_WRITE)
SYS_FD(pwritev2, F_WRITE)
SYS_FD(fsync, F_FSYNC)
SYS_FD(fdatasync, F_FSYNC)

char LICENSE[] SEC("license") = "GPL";
