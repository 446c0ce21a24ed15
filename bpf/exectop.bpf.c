/* exectop → bcc.proc.exec.count: execs per command name, failed ones included, as pmdabcc's
 * kretprobe on execve counted them. Counted when execve/execveat returns: after a successful
 * exec current->comm is already the new program's name, after a failed one it is still the
 * caller's, which is exactly what the return probe saw.
 * Variants: the per-syscall tracepoints syscalls:sys_exit_execve(at) (they fire only for
 * execs), or raw_syscalls:sys_exit (fires for every syscall; the agent sets the two numbers
 * from the running kernel's syscall table). */
#include "common.bpf.h"
#include "filter.bpf.h"
#include "maps.bpf.h"

#define MAX_COMMS 16384

struct comm_key {
	char comm[TASK_COMM_LEN];
};

struct exec_counts {
	__u64 execs;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_COMMS);
	__type(key, struct comm_key);
	__type(value, struct exec_counts);
} counts SEC(".maps");

/* execve and execveat numbers, for the raw_syscalls variants (-1: none). */
const volatile long nr_execve = -1;
const volatile long nr_execveat = -1;

static __always_inline int count_exec(void)
{
	struct comm_key key = {};
	struct exec_counts zero = {}, *c;

	if (!pass_filter())
		return 0;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	c = lookup_or_init(&counts, &key, &zero);
	if (c)
		__sync_fetch_and_add(&c->execs, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int tp_exit_execve(void *ctx)
{
	return count_exec();
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int tp_exit_execveat(void *ctx)
{
	return count_exec();
}

/* Fires for every syscall: the fallback when the per-syscall tracepoints are missing. */
SEC("tracepoint/raw_syscalls/sys_exit")
int tp_raw_sys_exit(struct trace_event_raw_sys_exit *args)
{
	long id = args->id;

	if (id != nr_execve && id != nr_execveat)
		return 0;
	return count_exec();
}

char LICENSE[] SEC("license") = "GPL";
