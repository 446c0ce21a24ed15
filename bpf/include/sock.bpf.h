/* Socket addresses as every TCP tool reports them, read once here: 16 bytes per address (IPv4 in
 * the first 4, network order, the rest zero), the form src/modules/shared/bytes.ts
 * formatAddress() prints; ports in host order. */
#ifndef PMDA_EBPF_SOCK_BPF_H
#define PMDA_EBPF_SOCK_BPF_H

#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Local and remote address of sk into laddr/daddr (16 bytes each). Returns the family, or 0
 * (addresses zeroed) for a socket that is neither IPv4 nor IPv6. */
static __always_inline __u16 sock_addrs(const struct sock *sk, void *laddr, void *daddr)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(laddr, 0, 16);
	__builtin_memset(daddr, 0, 16);
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)daddr, sk, __sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		bpf_core_read(laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(daddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return 0;
	}
	return family;
}

/* Local port from inet_sport, not skc_num: skc_num is already 0 once the port is released at
 * close, which would split a connection's last bytes from its first (bpf-feasibility.md). */
static __always_inline __u16 sock_lport(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

static __always_inline __u16 sock_dport(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

#endif
