/* netproc → bcc.proc.net.{tcp,udp}.{send,recv}.{calls,bytes}: per process (thread group),
 * socket calls that moved data and their bytes, TCP and UDP, IPv4 and IPv6.
 *
 * sock:sock_send_length / sock_recv_length (6.3+) fire from sock_sendmsg_nosec /
 * sock_recvmsg_nosec, the one funnel of every socket send and receive made by a task: write,
 * writev, send*, sendmmsg (once per message), read, recv*, io_uring, splice *to* a socket and
 * in-kernel users (kernel_sendmsg). They fire for every protocol; the event carries the socket's
 * family and sk_protocol, so one pair of hooks serves TCP (6) and UDP (17) alike. Not seen:
 * splice/sendfile *from* a TCP socket (tcp_read_sock bypasses recvmsg).
 *
 * pmdabcc hooked tcp_sendmsg, tcp_cleanup_rbuf, udp_sendmsg and skb_consume_udp with kprobes,
 * keyed by the *thread* id (its u32 cast of pid_tgid), and counted requested send sizes even
 * of failed sends. Here: keyed by the process (tgid), and only calls that moved data count
 * (ret > 0): an EOF read, an EAGAIN or an error is not a transfer. MSG_PEEK reads are left out
 * (the data is counted when it is really read). */
#include "common.bpf.h"
#include "filter.bpf.h"
#include "maps.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2

struct netstats {
	__u64 tcp_send_calls;
	__u64 tcp_send_bytes;
	__u64 tcp_recv_calls;
	__u64 tcp_recv_bytes;
	__u64 udp_send_calls;
	__u64 udp_send_bytes;
	__u64 udp_recv_calls;
	__u64 udp_recv_bytes;
};

/* One entry per process. A plain hash, not LRU: an LRU would evict a live process's counts
 * silently; here a full map refuses the insert and the event is counted in `drops`. The agent
 * deletes the entries of processes that exited; max_processes sets max_entries at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct netstats);
} counts SEC(".maps");

static __always_inline void count(__u16 family, __u16 protocol, int ret, int flags, bool send)
{
	struct netstats zero = {}, *s;
	__u32 tgid;

	if (ret <= 0 || (family != AF_INET && family != AF_INET6))
		return;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return;
	if (!send && (flags & MSG_PEEK))
		return;
	if (!pass_filter())
		return;
	tgid = bpf_get_current_pid_tgid() >> 32;
	s = lookup_or_init(&counts, &tgid, &zero);
	if (!s)
		return;
	if (protocol == IPPROTO_TCP) {
		if (send) {
			__sync_fetch_and_add(&s->tcp_send_calls, 1);
			__sync_fetch_and_add(&s->tcp_send_bytes, ret);
		} else {
			__sync_fetch_and_add(&s->tcp_recv_calls, 1);
			__sync_fetch_and_add(&s->tcp_recv_bytes, ret);
		}
	} else {
		if (send) {
			__sync_fetch_and_add(&s->udp_send_calls, 1);
			__sync_fetch_and_add(&s->udp_send_bytes, ret);
		} else {
			__sync_fetch_and_add(&s->udp_recv_calls, 1);
			__sync_fetch_and_add(&s->udp_recv_bytes, ret);
		}
	}
}

/* The BTF-typed hooks see the socket itself: read family and protocol only when data moved. */
static __always_inline void count_sk(struct sock *sk, int ret, int flags, bool send)
{
	if (ret <= 0 || !sk)
		return;
	count(BPF_CORE_READ(sk, __sk_common.skc_family), BPF_CORE_READ(sk, sk_protocol), ret, flags, send);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tpbtf_send, struct sock *sk, int ret, int flags)
{
	count_sk(sk, ret, flags, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tpbtf_recv, struct sock *sk, int ret, int flags)
{
	count_sk(sk, ret, flags, false);
	return 0;
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(rawtp_send, struct sock *sk, int ret, int flags)
{
	count_sk(sk, ret, flags, true);
	return 0;
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(rawtp_recv, struct sock *sk, int ret, int flags)
{
	count_sk(sk, ret, flags, false);
	return 0;
}

SEC("tracepoint/sock/sock_send_length")
int tp_send(struct trace_event_raw_sock_msg_length *ctx)
{
	count(ctx->family, ctx->protocol, ctx->ret, ctx->flags, true);
	return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int tp_recv(struct trace_event_raw_sock_msg_length *ctx)
{
	count(ctx->family, ctx->protocol, ctx->ret, ctx->flags, false);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
