// SPDX-License-Identifier: GPL-2.0
// tcplife: one ring-buffer record per TCP session when it reaches TCP_CLOSE, with the bytes
// TCP counted (bytes_acked sent, bytes_received received), its span and the process that
// opened or closed it. Three interchangeable entry points feed one handler: tp_btf and the
// classic tracepoint sock:inet_sock_set_state, and a kprobe on tcp_set_state for kernels
// without that tracepoint. Everything is read from the socket itself, so the variants agree.
// The `process` filter (filter.bpf.h) applies to the session's owner, not to the task that
// happens to run at TCP_CLOSE.
#include "events.bpf.h"
#include "tcp_sessions.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct tcplife_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns() at TCP_CLOSE */
	__u64 span_us;
	__u64 rx_b;
	__u64 tx_b;
	__u32 pid;
	__u16 family;
	__u16 lport;
	__u16 dport;
	__u16 _pad[3];
	__u8 saddr[16];		/* IPv4 in the first 4 bytes, network order */
	__u8 daddr[16];
	char comm[16];
};

RECORD_TYPE(struct tcplife_event, tcplife);

static __always_inline void tcp_session_closed(struct sock *sk, __u16 family, __u16 lport, __u16 dport,
					       __u64 now, __u64 born, __u32 pid, struct ident *who)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct tcplife_event *e;

	e = event_reserve(sizeof(*e));
	if (!e)
		return;
	e->ts_ns = now;
	e->span_us = (now - born) / 1000;
	e->rx_b = BPF_CORE_READ(tp, bytes_received);
	e->tx_b = BPF_CORE_READ(tp, bytes_acked);
	e->family = family;
	e->lport = lport;
	e->dport = dport;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	sock_addrs(sk, e->saddr, e->daddr);
	e->pid = pid;
	if (who)
		__builtin_memcpy(e->comm, who->comm, sizeof(e->comm));
	else
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}
