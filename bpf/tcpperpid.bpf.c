// SPDX-License-Identifier: GPL-2.0
/* tcpperpid → bcc.proc.io.net.total.{tx,rx}: TCP bytes per process, cumulative, IPv4 and IPv6.
 * Two modes (src/modules/tcpperpid.ts attaches one):
 *   sessions (default)  tcplife's path (include/tcp_sessions.bpf.h): when a session closes, its
 *                       bytes_acked / bytes_received go to the process that opened (or passively
 *                       closed) it: nothing is seen until the connection ends;
 *   highres             tcptop's hooks (include/tcp_bytes.bpf.h): every send and receive as it
 *                       happens, to the process making the call.
 * lport/dport filters (tcp_sessions.bpf.h's rodata) apply in both modes. */
#include "maps.bpf.h"
#include "tcp_sessions.bpf.h"
#include "tcp_bytes.bpf.h"

struct tcp_totals {
	__u64 tx;
	__u64 rx;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct tcp_totals);
} counts SEC(".maps");

static __always_inline void add(__u32 pid, __u64 tx, __u64 rx)
{
	struct tcp_totals zero = {}, *t = lookup_or_init(&counts, &pid, &zero);

	if (!t)
		return;
	if (tx)
		__sync_fetch_and_add(&t->tx, tx);
	if (rx)
		__sync_fetch_and_add(&t->rx, rx);
}

static __always_inline void tcp_session_closed(struct sock *sk, __u16 family, __u16 lport, __u16 dport,
					       __u64 now, __u64 born, __u32 pid, struct ident *who)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	add(pid, BPF_CORE_READ(tp, bytes_acked), BPF_CORE_READ(tp, bytes_received));
}

static __always_inline void tcp_bytes(struct sock *sk, long bytes, bool tx)
{
	__u16 lport, dport;

	if (bytes <= 0 || !sk || !pass_filter())
		return;
	if (n_lports || n_dports) {
		lport = sock_lport(sk);
		dport = sock_dport(sk);
		if ((n_lports && !port_listed(lport, lports, n_lports)) ||
		    (n_dports && !port_listed(dport, dports, n_dports)))
			return;
	}
	add(bpf_get_current_pid_tgid() >> 32, tx ? bytes : 0, tx ? 0 : bytes);
}

char LICENSE[] SEC("license") = "GPL";
