// SPDX-License-Identifier: GPL-2.0
// tcpretrans (count mode, as pmdabcc): retransmits per flow, counted in a hash map that user
// space drains with a batch lookup-and-delete at each refresh. Entry points in preference
// order: tp_btf and the classic tracepoint tcp:tcp_retransmit_skb, then a kprobe on
// tcp_retransmit_skb. Tail loss probes have no tracepoint: only the tcp_send_loss_probe
// kprobe sees them, and user space enables it only when kprobes exist.
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10

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

/* Retransmits not counted because the flow map was full between two drains. Per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* The classic tracepoint's context changed name across kernels; both carry skaddr. */
struct trace_event_raw_tcp_retransmit_skb___x {
	const void *skaddr;
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_event_sk_skb___x {
	const void *skaddr;
} __attribute__((preserve_access_index));

static __always_inline int count(const struct sock *sk)
{
	struct flow_key key = {};
	__u64 one = 1, *val;
	__u32 zero = 0;

	if (!sk)
		return 0;
	key.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (key.family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)key.saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)key.daddr, sk, __sk_common.skc_daddr);
	} else if (key.family == AF_INET6) {
		bpf_core_read(key.saddr, sizeof(key.saddr), &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(key.daddr, sizeof(key.daddr), &sk->__sk_common.skc_v6_daddr);
	} else {
		return 0;
	}
	key.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	key.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));

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
			val = bpf_map_lookup_elem(&drops, &zero);
			if (val)
				__sync_fetch_and_add(val, 1);
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
	const struct sock *sk;

	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___x))
		sk = BPF_CORE_READ((struct trace_event_raw_tcp_retransmit_skb___x *)ctx, skaddr);
	else
		sk = BPF_CORE_READ((struct trace_event_raw_tcp_event_sk_skb___x *)ctx, skaddr);
	return count(sk);
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
