// SPDX-License-Identifier: GPL-2.0
// execsnoop: one ring-buffer record per execve()/execveat(), arguments captured at syscall entry
// (the caller's argv is gone once the new image runs), emitted at syscall exit with the result.
// Every pending record starts from zeroes and carries the exact byte count of its arguments,
// so a record can never show bytes left over from another process's command line.
#include "events.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define ARGSIZE 128		/* per argument, including its NUL */
#define TOTAL_MAX_ARGS 60	/* upper bound of max_args */
#define ARGS_BUF (TOTAL_MAX_ARGS * ARGSIZE)
#define LAST_ARG (ARGS_BUF - ARGSIZE)

#define EXEC_MORE_ARGS 0x1	/* argv had more entries than max_args */

/* Set before load from the module's configuration. */
const volatile int max_args = 20;
const volatile bool include_failed = false;

struct exec_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns() at syscall entry */
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 ret;
	__u32 args_count;
	__u32 args_size;	/* bytes used in args[], every argument NUL-terminated */
	__u32 flags;
	__u32 _pad;
	__u64 truncated;	/* bit i: argument i was longer than ARGSIZE-1 bytes and was cut */
	__u64 unreadable;	/* bit i: argument i could not be read (page not resident) */
	char comm[16];
	char args[ARGS_BUF];
};

/* Pending execs by thread id, between syscall entry and exit. LRU: an entry whose exit never
 * comes (a task killed mid-exec, or a non-leader thread whose id changes in a successful exec)
 * must not stay forever and fill the table. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);	/* execs in flight at once; each entry is ~7.8 KB, preallocated */
	__type(key, __u32);
	__type(value, struct exec_event);
} execs SEC(".maps");


static const struct exec_event empty_event = {};


/* Append one argument; false when the buffer cannot hold another one. */
static __always_inline bool append_arg(struct exec_event *e, const char *p, int i)
{
	__u32 off = e->args_size;
	long n;
	char c = 0;

	if (off > LAST_ARG)
		return false;
	n = bpf_probe_read_user_str(&e->args[off], ARGSIZE, p);
	if (n <= 0) {
		/* An empty string stands in for it; the mask tells user space why. */
		e->args[off] = 0;
		n = 1;
		if (i < 64)
			e->unreadable |= 1ULL << i;
	} else if (n == ARGSIZE) {
		/* A full buffer is either an exact fit or a cut: look at the last byte copied. */
		bpf_probe_read_user(&c, 1, p + ARGSIZE - 1);
		if (c && i < 64)
			e->truncated |= 1ULL << i;
	}
	e->args_size = off + n;
	e->args_count++;
	return true;
}

static __always_inline int on_enter(const char *filename, const char *const *argv)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct task_struct *task;
	struct exec_event *e;
	const char *argp;
	int i;

	/* BPF_ANY: a stale entry (exit never seen) is overwritten with zeroes, never reused. */
	if (bpf_map_update_elem(&execs, &tid, &empty_event, BPF_ANY)) {
		count_drop();
		return 0;
	}
	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	task = (struct task_struct *)bpf_get_current_task();
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);

	/* As execsnoop: the first word is the file name passed to exec, then argv[1..]. */
	append_arg(e, filename, 0);
	for (i = 1; i < TOTAL_MAX_ARGS; i++) {
		argp = NULL;
		if (bpf_probe_read_user(&argp, sizeof(argp), &argv[i]) || !argp)
			return 0;
		if (i >= max_args || !append_arg(e, argp, i)) {
			e->flags |= EXEC_MORE_ARGS;
			return 0;
		}
	}
	argp = NULL;
	bpf_probe_read_user(&argp, sizeof(argp), &argv[TOTAL_MAX_ARGS]);
	if (argp)
		e->flags |= EXEC_MORE_ARGS;
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_event *e;
	__u64 size;

	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	if (ret < 0 && !include_failed)
		goto done;
	e->ret = ret;
	/* After a successful exec this is the new program's name, as execsnoop reports it. */
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	size = offsetof(struct exec_event, args) + e->args_size;
	if (size <= sizeof(*e) && bpf_ringbuf_output(&events, e, size, 0))
		count_drop();
done:
	bpf_map_delete_elem(&execs, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int execve_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int execveat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int execveat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
