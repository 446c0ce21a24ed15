/* The running kernel's syscall numbers by name, for syscount's instance names (pmdabcc ran
 * ausyscall(8), an extra package whose table may not match the kernel).
 *
 * The kernel numbers its syscalls in struct syscall_metadata (name "sys_read", syscall_nr 0),
 * which is what each syscalls:sys_enter_<name> tracepoint's trace_event_call->data points to;
 * nothing exports it to user space (the tracepoint "id" file is the event id, and the data
 * symbols are not in kallsyms without CONFIG_KALLSYMS_ALL). The agent opens each syscall
 * tracepoint's tracefs "format" file, whose inode's i_private leads to the event's
 * trace_event_call (the call itself before eventfs, 6.6's trace_event_file after: both are
 * tried and printed), and this iterator walks the agent's own files:
 * for each of those fds, call->data is the metadata, printed as "fd nr name". (A perf event
 * per tracepoint reaches the same call, but closing ~360 of them costs seconds of RCU grace
 * periods; tracefs files close at once.) The agent checks every name against the file it
 * opened, so a kernel whose layout differs yields no names, never wrong ones. */
#include "common.bpf.h"

const volatile __u32 agent_tgid = 0;
/* The fds the agent opened for this (the only ones whose private_data is a perf_event). */
const volatile __u32 fd_lo = 0;
const volatile __u32 fd_hi = 0;

static __always_inline void print_meta(struct seq_file *seq, __u32 fd, struct trace_event_call *call)
{
	struct syscall_metadata *meta;
	const char *name;
	int nr;

	if (!call)
		return;
	meta = BPF_CORE_READ(call, data);
	if (!meta)
		return;
	nr = BPF_CORE_READ(meta, syscall_nr);
	name = BPF_CORE_READ(meta, name);
	if (name)
		BPF_SEQ_PRINTF(seq, "%u %d %s\n", fd, nr, name);
}

SEC("iter/task_file")
int syscall_numbers(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	void *priv;

	if (!task || !file || task->tgid != agent_tgid || task->pid != task->tgid)
		return 0;
	if (ctx->fd < fd_lo || ctx->fd > fd_hi)
		return 0;
	priv = BPF_CORE_READ(file, f_inode, i_private);
	if (!priv)
		return 0;
	print_meta(ctx->meta->seq, ctx->fd, priv);
	print_meta(ctx->meta->seq, ctx->fd, BPF_CORE_READ((struct trace_event_file *)priv, event_call));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
