/* TCP bytes sent and received as they move, shared by tcptop and tcpperpid (highres): every
 * variant ends in tcp_bytes(sk, bytes, tx), which each includer defines (bytes may be <= 0:
 * the includer skips those):
 *   fexit     tcp_sendmsg / tcp_recvmsg return values (5.17+, needs BPF trampolines);
 *   kprobe    the same two functions, entry stashes the socket, return counts;
 *   tp_btf / raw_tp / tracepoint   sock:sock_send_length / sock_recv_length (6.3+);
 *   syscalls  read, write, send and recv syscall tracepoints, the fd resolved to its socket at entry.
 * bcc hooks tcp_cleanup_rbuf for receives, but one tcp_recvmsg call can run it several times
 * with the running total (bcc issue #5352), so the receive side here is tcp_recvmsg's return.
 * The programs keep tcptop's names (tcptop_*) in every object that includes this. */
#ifndef PMDA_EBPF_TCP_BYTES_BPF_H
#define PMDA_EBPF_TCP_BYTES_BPF_H

#include "common.bpf.h"
#include "filter.bpf.h"
#include "sock.bpf.h"

#define MSG_PEEK 2
#define S_IFMT 0170000
#define S_IFSOCK 0140000

static __always_inline void tcp_bytes(struct sock *sk, long bytes, bool tx);

static __always_inline bool is_tcp(struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

/* ---- fexit: tcp_sendmsg(sk, msg, size), tcp_recvmsg(sk, msg, len, [nonblock,] flags, addr_len) */

/* Argument positions through helpers: tcp_recvmsg lost its nonblock argument in 5.19, and the
 * helpers let one program serve both signatures. */
SEC("fexit/tcp_sendmsg")
int tcptop_send_fexit(void *ctx)
{
	__u64 sk = 0, ret = 0;

	bpf_get_func_arg(ctx, 0, &sk);
	bpf_get_func_ret(ctx, &ret);
	tcp_bytes((struct sock *)sk, (int)ret, true);
	return 0;
}

SEC("fexit/tcp_recvmsg")
int tcptop_recv_fexit(void *ctx)
{
	__u64 sk = 0, ret = 0, flags = 0;
	__u32 flags_arg = bpf_get_func_arg_cnt(ctx) == 6 ? 4 : 3;

	bpf_get_func_arg(ctx, flags_arg, &flags);
	if (flags & MSG_PEEK)
		return 0;
	bpf_get_func_arg(ctx, 0, &sk);
	bpf_get_func_ret(ctx, &ret);
	tcp_bytes((struct sock *)sk, (int)ret, false);
	return 0;
}

/* ---- kprobe + kretprobe on the same two functions; entry parks the socket per thread --- */

struct pending {
	struct sock *sk;
	__u32 tx;
};

/* LRU: a thread that dies inside the call (exit_group from a sibling) never reaches the return
 * probe; its entry must not take a slot for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); /* thread id */
	__type(value, struct pending);
} pending SEC(".maps");

static __always_inline void park(struct sock *sk, bool tx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending p = { .sk = sk, .tx = tx };

	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
}

static __always_inline void unpark(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p)
		return;
	tcp_bytes(p->sk, ret, p->tx);
	bpf_map_delete_elem(&pending, &tid);
}

extern int LINUX_KERNEL_VERSION __kconfig;

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(tcptop_send_kp, struct sock *sk)
{
	park(sk, true);
	return 0;
}

SEC("kretprobe/tcp_sendmsg")
int BPF_KRETPROBE(tcptop_send_krp, int ret)
{
	unpark(ret);
	return 0;
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(tcptop_recv_kp, struct sock *sk, void *msg, size_t len, long a4, long a5)
{
	long flags;

	/* Both loaded before choosing: a choice between two ctx offsets compiles to a pointer
	 * select, which the verifier refuses (modified ctx pointer). */
	barrier_var(a4);
	barrier_var(a5);
	flags = LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 19, 0) ? a4 : a5;

	if (!(flags & MSG_PEEK))
		park(sk, false);
	return 0;
}

SEC("kretprobe/tcp_recvmsg")
int BPF_KRETPROBE(tcptop_recv_krp, int ret)
{
	unpark(ret);
	return 0;
}

/* ---- sock:sock_send_length / sock_recv_length (sk, ret, flags) ----------------------- */

static __always_inline void sock_length(struct sock *sk, int ret, int flags, bool tx)
{
	if (!tx && (flags & MSG_PEEK))
		return;
	if (sk && is_tcp(sk))
		tcp_bytes(sk, ret, tx);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tcptop_send_btf, struct sock *sk, int ret, int flags)
{
	sock_length(sk, ret, flags, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tcptop_recv_btf, struct sock *sk, int ret, int flags)
{
	sock_length(sk, ret, flags, false);
	return 0;
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(tcptop_send_raw, struct sock *sk, int ret, int flags)
{
	sock_length(sk, ret, flags, true);
	return 0;
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(tcptop_recv_raw, struct sock *sk, int ret, int flags)
{
	sock_length(sk, ret, flags, false);
	return 0;
}

/* The classic event carries family and protocol itself, so non-TCP sockets cost no reads. */
static __always_inline void sock_length_tp(struct trace_event_raw_sock_msg_length *ctx, bool tx)
{
	if (ctx->protocol != IPPROTO_TCP || ctx->ret <= 0)
		return;
	if (!tx && (ctx->flags & MSG_PEEK))
		return;
	tcp_bytes((struct sock *)ctx->sk, ctx->ret, tx);
}

SEC("tracepoint/sock/sock_send_length")
int tcptop_send_tp(struct trace_event_raw_sock_msg_length *ctx)
{
	sock_length_tp(ctx, true);
	return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int tcptop_recv_tp(struct trace_event_raw_sock_msg_length *ctx)
{
	sock_length_tp(ctx, false);
	return 0;
}

/* ---- syscall tracepoints: fd → file → socket → sock at entry, bytes at exit ----------- */

/* Layout of every syscalls:sys_enter_* / sys_exit_* event (a fixed ABI: each argument is
 * widened to 8 bytes after the syscall number). */
struct sys_enter_ctx {
	__u64 common;
	long nr;
	unsigned long args[6];
};

struct sys_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

static __always_inline struct sock *fd_to_tcp_sock(unsigned long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	struct socket *sock;
	struct sock *sk;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || !is_tcp(sk))
		return NULL;
	return sk;
}

static __always_inline void sys_enter(unsigned long fd, bool tx, unsigned long flags)
{
	struct sock *sk;

	if (!tx && (flags & MSG_PEEK))
		return;
	/* Filter first: resolving the fd is the expensive part and most callers are filtered out
	 * when a process filter is set. */
	if (!pass_filter())
		return;
	sk = fd_to_tcp_sock(fd);
	if (sk)
		park(sk, tx);
}

#define SYSCALL_PAIR(name, tx, flags_expr)                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                         \
	int tcptop_##name##_enter(struct sys_enter_ctx *ctx)                \
	{                                                                   \
		sys_enter(ctx->args[0], tx, flags_expr);                    \
		return 0;                                                   \
	}                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                          \
	int tcptop_##name##_exit(struct sys_exit_ctx *ctx)                  \
	{                                                                   \
		unpark(ctx->ret);                                           \
		return 0;                                                   \
	}

SYSCALL_PAIR(write, true, 0)
SYSCALL_PAIR(writev, true, 0)
SYSCALL_PAIR(sendto, true, 0)
SYSCALL_PAIR(sendmsg, true, 0)
SYSCALL_PAIR(read, false, 0)
SYSCALL_PAIR(readv, false, 0)
SYSCALL_PAIR(recvfrom, false, ctx->args[3])
SYSCALL_PAIR(recvmsg, false, ctx->args[2])

#endif
