// SPDX-License-Identifier: GPL-2.0
// tcplife: one ring-buffer record per TCP session when it reaches TCP_CLOSE, with the bytes
// TCP counted (bytes_acked sent, bytes_received received), its span and the process that
// opened or closed it. Three interchangeable entry points feed one handler: tp_btf and the
// classic tracepoint sock:inet_sock_set_state, and a kprobe on tcp_set_state for kernels
// without that tracepoint. Everything is read from the socket itself, so the variants agree.
// The `process` filter (filter.bpf.h) applies to the session's owner, not to the task that
// happens to run at TCP_CLOSE.
#include "filter.bpf.h"
#include "events.bpf.h"
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define IPPROTO_TCP 6
#define MAX_PORTS 16

/* Port filters (host order), set before load; n == 0 means no filter. */
const volatile __u16 lports[MAX_PORTS] = {};
const volatile __u32 n_lports = 0;
const volatile __u16 dports[MAX_PORTS] = {};
const volatile __u32 n_dports = 0;

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

struct ident {
	__u32 pid;
	char comm[16];
};

/* When each socket entered its last early state (as BCC: any state before FIN_WAIT1). LRU, like
 * whoami: a socket seen only half-way (attached mid-life) must not hold an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct sock *);
	__type(value, __u64);
} birth SEC(".maps");

/* Who connected (SYN_SENT) or closed passively (LAST_ACK): the task at TCP_CLOSE is often softirq. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct sock *);
	__type(value, struct ident);
} whoami SEC(".maps");


static __always_inline bool port_listed(__u16 port, const volatile __u16 *list, __u32 n)
{
	for (int i = 0; i < MAX_PORTS; i++) {
		if (i >= n)
			break;
		if (list[i] == port)
			return true;
	}
	return false;
}

static __always_inline int handle(struct sock *sk, int newstate)
{
	__u64 now = bpf_ktime_get_ns(), *tsp;
	__u16 family, protocol, lport, dport;
	struct ident me = {}, *who;
	struct tcplife_event *e;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 pid;

	protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	if (protocol != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;

	if (newstate < TCP_FIN_WAIT1)
		bpf_map_update_elem(&birth, &sk, &now, BPF_ANY);
	if (newstate == TCP_SYN_SENT || newstate == TCP_LAST_ACK) {
		me.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(&me.comm, sizeof(me.comm));
		bpf_map_update_elem(&whoami, &sk, &me, BPF_ANY);
	}
	if (newstate != TCP_CLOSE)
		return 0;

	tsp = bpf_map_lookup_elem(&birth, &sk);
	if (!tsp) {
		/* Opened before we attached: no span to report. */
		bpf_map_delete_elem(&whoami, &sk);
		return 0;
	}
	/* skc_num is already 0 here (port released); inet_sport survives until the socket is freed. */
	lport = sock_lport(sk);
	dport = sock_dport(sk);
	if ((n_lports && !port_listed(lport, lports, n_lports)) ||
	    (n_dports && !port_listed(dport, dports, n_dports)))
		goto done;
	who = bpf_map_lookup_elem(&whoami, &sk);
	pid = who ? who->pid : bpf_get_current_pid_tgid() >> 32;
	if (!pass_tgid(pid))
		goto done;

	e = event_reserve(sizeof(*e));
	if (!e)
		goto done;
	e->ts_ns = now;
	e->span_us = (now - *tsp) / 1000;
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
done:
	bpf_map_delete_elem(&birth, &sk);
	bpf_map_delete_elem(&whoami, &sk);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcplife_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return handle((struct sock *)sk, newstate);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcplife_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	return handle((struct sock *)ctx->skaddr, ctx->newstate);
}

SEC("kprobe/tcp_set_state")
int BPF_KPROBE(tcplife_kprobe, struct sock *sk, int state)
{
	return handle(sk, state);
}
