// SPDX-License-Identifier: GPL-2.0
// tcpretrans (count mode, as pmdabcc): retransmits per flow, counted in a hash map that user
// space drains with a batch lookup-and-delete at each refresh. Entry points in preference
// order: tp_btf and the classic tracepoint tcp:tcp_retransmit_skb, then a kprobe on
// tcp_retransmit_skb. Tail loss probes have no tracepoint: only the tcp_send_loss_probe
// kprobe sees them, and user space enables it only when kprobes exist.
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "GPL";


struct flow_key {
	__u16 family;
	__u16 lport;		/* host order */
	__u16 dport;		/* host order */
	__u16 _pad;
	__u8 saddr[16];		/* IPv4 in the first 4 bytes, network order */
	__u8 daddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, __u64);
} retrans SEC(".maps");



static __always_inline int count(const struct sock *sk)
{
	struct flow_key key = {};
	__u64 one = 1, *val;

	if (!sk)
		return 0;
	key.family = sock_addrs(sk, key.saddr, key.daddr);
	if (!key.family)
		return 0;
	key.lport = sock_lport(sk);
	key.dport = sock_dport(sk);

	val = bpf_map_lookup_elem(&retrans, &key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return 0;
	}
	if (bpf_map_update_elem(&retrans, &key, &one, BPF_NOEXIST)) {
		/* Another CPU may have inserted it meanwhile; only a full map is a loss. */
		val = bpf_map_lookup_elem(&retrans, &key);
		if (val) {
			__sync_fetch_and_add(val, 1);
		} else {
			count_drop();
		}
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(retrans_btf, const struct sock *sk)
{
	return count(sk);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int retrans_tp(void *ctx)
{
	return count(tcp_retransmit_tp_sk(ctx));
}

SEC("kprobe/tcp_retransmit_skb")
int BPF_KPROBE(retrans_kprobe, struct sock *sk)
{
	return count(sk);
}

SEC("kprobe/tcp_send_loss_probe")
int BPF_KPROBE(tlp_kprobe, struct sock *sk)
{
	return count(sk);
}
