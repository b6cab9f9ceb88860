/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The answer to a packet for a Service with no ready backend (docs/services.md): TCP
 * gets a RST (reject_tcp.h), UDP an ICMP (ICMPv6) port unreachable (reject_icmp.h),
 * made in place of the packet as if the ClusterIP sent it, and redirected straight
 * back into the client pod (STAT_LB_REJECTED). What cannot be answered is
 * DROP_LB_NO_BACKEND: other protocols (SCTP, ICMP), an incoming RST, a GSO skb
 * (one answer for many segments would be wrong), a later IPv4 fragment (no L4 header)
 * and a first TCP one (its length is not the segment's), IPv6 with extension headers
 * (fragments among them) in front of the L4 header, and anything cut short.
 *
 * The answer's checksums are whole, but the skb keeps the checksum state the pod's
 * packet came with (no helper changes ip_summed): mostly CHECKSUM_PARTIAL, which the
 * pod's stack takes as already checked on the way back in (all but the IPv4 header
 * checksum). Harmless for an answer to the pod's own address, where this one goes;
 * test/netns/lb-reject.test.ts also runs with the offload off, so that the pod's stack
 * checks every checksum.
 */
#ifndef STRAIT_REJECT_H
#define STRAIT_REJECT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "maps.h"
#include "parse.h"
#include "reject_hdr.h"
#include "reject_icmp.h"
#include "reject_tcp.h"

#define REJECT_IP4_OFFSET 0x1fff /* frag_off: fragment offset (host order) */
#define REJECT_IP4_MF 0x2000     /* frag_off: more fragments */

/*
 * The stack of every step, one after the other in one place: lb_reject() is inlined
 * into from_pod, whose frame is near the verifier's 512 bytes already, and clang does
 * not overlap the steps' own buffers reliably.
 */
union reject_scratch {
	union reject_ip read;
	union reject_tcp_out tcp;
	union reject_icmp_out icmp;
	struct ethhdr eth;
};

/*
 * What the answer is built from; false for a packet that gets none. The IP header
 * is copied with bpf_skb_load_bytes() rather than read through pkt: whether the
 * verifier still knows which of pkt's headers the caller checked depends on how the
 * caller was compiled (as a function of its own, lb_reject() did not: the IPv6 read
 * was refused on the IPv4 bounds), and a copy needs no such knowledge.
 */
static __always_inline bool reject_read(struct __sk_buff *skb, __u16 l3_proto, struct reject_in *in,
					union reject_ip *hdr)
{
	if (skb->gso_segs > 1 || skb->gso_size)
		return false;

	if (l3_proto == ETH_P_IP) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &hdr->v4, sizeof(hdr->v4)) < 0)
			return false;
		if (hdr->v4.frag_off & bpf_htons(REJECT_IP4_OFFSET))
			return false;
		if (hdr->v4.protocol == IPPROTO_TCP && hdr->v4.frag_off & bpf_htons(REJECT_IP4_MF))
			return false;
		in->family = 4;
		in->protocol = hdr->v4.protocol;
		in->ip_len = hdr->v4.ihl * 4;
		in->l4_len = bpf_ntohs(hdr->v4.tot_len);
		if (in->ip_len < sizeof(hdr->v4) || in->l4_len < in->ip_len)
			return false;
		in->l4_len -= in->ip_len;
	} else {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &hdr->v6, sizeof(hdr->v6)) < 0)
			return false;
		in->family = 6;
		in->protocol = hdr->v6.nexthdr;
		in->ip_len = sizeof(hdr->v6);
		in->l4_len = bpf_ntohs(hdr->v6.payload_len);
	}
	in->l4_off = ETH_HLEN + in->ip_len;
	if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
		return false;
	/* The datagram's length field names bytes the frame does not hold. */
	if (in->l4_off + in->l4_len > skb->len)
		return false;
	return true;
}

/*
 * pkt: parsed (parse_ipv4/parse_ipv6) and addressed to the ClusterIP; client: the
 * sending endpoint (its veth is where the answer goes). Returns TC_ACT_REDIRECT or a
 * negated drop reason; either way pkt's pointers are stale after the call (the skb
 * may have been rewritten). Inlined like the rest of the datapath: as a function of
 * its own, its frame would count on top of from_pod's against the verifier's 512
 * bytes for a call chain. The steps answer yes or no, and only this picks the drop
 * reason: a step returning 0 or -DROP_LB_NO_BACKEND let clang fold the two into a
 * mask of the helper's result (r >>= 63; r &= -25), a verdict the verifier cannot
 * bound, and with lb.h in from_pod the 5.10 to 6.12 verifiers then followed lb.h's
 * other branches with it into stale packet pointers.
 */
static __always_inline int lb_reject(struct __sk_buff *skb, struct packet *pkt,
				     const struct endpoint_value *client)
{
	union reject_scratch buf;
	struct reject_in in;
	__u32 len = skb->len;
	bool answered;

	if (!reject_read(skb, pkt->l3_proto, &in, &buf.read))
		return -DROP_LB_NO_BACKEND;
	answered = in.protocol == IPPROTO_TCP ? reject_tcp(skb, &in, &buf.tcp) :
						reject_udp(skb, &in, &buf.icmp);
	if (!answered)
		return -DROP_LB_NO_BACKEND;

	/* Into the pod, as its gateway (the host veth) would hand it over. */
	__builtin_memcpy(buf.eth.h_dest, client->pod_mac, ETH_ALEN);
	__builtin_memcpy(buf.eth.h_source, client->host_mac, ETH_ALEN);
	buf.eth.h_proto = bpf_htons(in.family == 4 ? ETH_P_IP : ETH_P_IPV6);
	if (bpf_skb_store_bytes(skb, 0, &buf.eth, sizeof(buf.eth), 0) < 0)
		return -DROP_LB_NO_BACKEND;
	if (bpf_redirect_peer(client->ifindex, 0) != TC_ACT_REDIRECT)
		return -DROP_REDIRECT_FAILED;
	/* The bytes of what the pod sent, as a drop would count them. */
	counter_add(&strait_stats_v2, STAT_LB_REJECTED, len);
	return TC_ACT_REDIRECT;
}

#endif /* STRAIT_REJECT_H */
