// SPDX-License-Identifier: GPL-2.0
/* tcptop: TCP bytes sent and received per process and connection, counted per interval.
 * The hooks (every variant; src/modules/tcptop.ts picks one at run time) are in
 * include/tcp_bytes.bpf.h, shared with tcpperpid; they end in tcp_bytes(sk, bytes, tx) here. */
#include "topn.bpf.h"
#include "tcp_bytes.bpf.h"

struct conn_key {
	__u32 pid;
	__u16 family;
	__u16 lport;
	__u16 dport;
	__u16 pad;
	__u32 laddr[4]; /* network order; IPv4 uses laddr[0] */
	__u32 daddr[4];
};

struct conn_val {
	__u64 rx;
	__u64 tx;
	char comm[16]; /* the process's (thread-group leader's) comm when the key was created */
};

TOPN_COUNT_MAPS(struct conn_key, struct conn_val);

static __always_inline void tcp_bytes(struct sock *sk, long bytes, bool tx)
{
	struct conn_key key = {};
	struct conn_val init = {}, *v;
	struct task_struct *task;
	void *map;
	__u16 family;

	if (bytes <= 0 || !sk || !pass_filter())
		return;
	family = sock_addrs(sk, key.laddr, key.daddr);
	if (!family)
		return;
	key.pid = bpf_get_current_pid_tgid() >> 32;
	key.family = family;
	key.lport = sock_lport(sk);
	key.dport = sock_dport(sk);

	map = topn_active_map();
	v = bpf_map_lookup_elem(map, &key);
	if (!v) {
		/* The leader's comm is what /proc/PID/comm shows; read once per key and interval. */
		task = (struct task_struct *)bpf_get_current_task();
		BPF_CORE_READ_STR_INTO(&init.comm, task, group_leader, comm);
		v = topn_insert(map, &key, &init);
		if (!v)
			return;
	}
	if (tx)
		__sync_fetch_and_add(&v->tx, bytes);
	else
		__sync_fetch_and_add(&v->rx, bytes);
}

char LICENSE[] SEC("license") = "GPL";
