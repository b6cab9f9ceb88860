// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_uplink: XDP on the node's uplink, in front of from_uplink (tc ingress). It
 * does only what is safe before an skb exists: a packet that opens a connection (a
 * pure TCP SYN, an ICMP/ICMPv6 echo request) to a ready, ingress-isolated local
 * endpoint, which that endpoint's policy denies and conntrack has not seen, is
 * dropped here, counted as from_uplink counts it (DROP_POLICY_INGRESS). Everything
 * else is XDP_PASS and from_uplink decides, as it does without this program.
 *
 * So this program never drops what from_uplink would let through, and writes no
 * state: no conntrack entry (an allowed SYN is from_uplink's to record), no
 * fragment record. Whatever needs more than the first header to judge (a
 * fragment, an IPv6 extension header, a truncated L4 header, a spoofed source
 * with its own drop reason, a packet of a flow conntrack knows) passes, and
 * from_uplink judges it. The cost for a packet that is not for an isolated pod is
 * the one endpoint lookup from_uplink makes too.
 *
 * Nothing attaches it (the loader does not load it, see src/datapath/maps/names.ts):
 * on a veth uplink the skb exists before XDP runs, so dropping there saves nothing
 * and costs the veth's XDP path, and XDP on a veth turns off GSO on its peer, which
 * cut allowed TCP across nodes to a quarter (bench/xdp-uplink.mjs).
 */
#define OBS_POINT OBS_XDP_UPLINK /* flow events (events.h): seen here */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "conntrack.h"
#include "drop.h"
#include "endpoint.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "xdp.h"

/*
 * Fills f's tuple and policy port when pkt opens a connection: a pure SYN (SYN
 * without ACK, as ct_pure_syn() says) or an echo request, not fragmented, the L4
 * header right behind the IP header. False for anything else.
 */
static __always_inline bool xdp_opener(const struct packet *pkt, struct flow *f)
{
	struct ct_key *t = &f->tuple;
	struct l4_head *l4;

	if (pkt->l3_proto == ETH_P_IP) {
		if (pkt->ip4->frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK | IPV4_FRAG_MORE))
			return false;
		t->saddr[0] = pkt->ip4->saddr;
		t->daddr[0] = pkt->ip4->daddr;
		t->protocol = pkt->ip4->protocol;
		t->family = 4;
		l4 = (void *)pkt->ip4 + pkt->ip4->ihl * 4;
	} else {
		__builtin_memcpy(t->saddr, &pkt->ip6->saddr, sizeof(t->saddr));
		__builtin_memcpy(t->daddr, &pkt->ip6->daddr, sizeof(t->daddr));
		t->protocol = pkt->ip6->nexthdr;
		t->family = 6;
		l4 = (void *)(pkt->ip6 + 1);
	}

	if (t->protocol == IPPROTO_TCP) {
		if ((void *)l4 + 14 > pkt->data_end)
			return false;
		if ((l4->tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
			return false;
		t->sport = l4->tcp.sport;
		t->dport = l4->tcp.dport;
		f->policy_dport = l4->tcp.dport;
		return true;
	}
	if (is_icmp(t->family, t->protocol)) {
		if ((void *)l4 + ICMP_HDR_LEN > pkt->data_end)
			return false;
		if (l4->icmp.type != (t->family == 4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST))
			return false;
		t->sport = l4->icmp.echo_id;
		t->dport = l4->icmp.echo_id;
		f->echo_request = true;
		return true;
	}
	return false;
}

/*
 * Does conntrack hold a live entry this packet might belong to? Read only. A SYN
 * can only continue its own tuple; an echo request may also answer one the pod
 * sent (the identifier is both ports). Whatever state the entry is in, from_uplink
 * decides: a reopened or a revoked tuple has its own rules there (conntrack.h).
 */
static __always_inline bool xdp_flow_known(const struct flow *f)
{
	__u64 now = bpf_ktime_get_ns();
	struct ct_key rev;

	if (ct_find(&strait_ct_v1, &f->tuple, now) ||
	    ct_find(&strait_ct_pending_v1, &f->tuple, now))
		return true;
	if (!f->echo_request)
		return false;
	ct_key_reverse(&rev, &f->tuple);
	return ct_find(&strait_ct_v1, &rev, now) || ct_find(&strait_ct_pending_v1, &rev, now);
}

static __always_inline int handle_xdp_uplink(struct xdp_md *ctx)
{
	struct policy_verdict verdict = {};
	struct endpoint_value *dst;
	struct endpoint_key key;
	struct packet pkt;
	struct flow f = {};
	int ret;

	if (xdp_parse_eth(ctx, &pkt) < 0 || parse_ip(&pkt) != 0)
		return XDP_PASS;

	endpoint_key_dst(&pkt, &key);
	dst = endpoint_lookup(&key);
	if (!dst || !endpoint_ready(dst) || !(dst->flags & EP_F_INGRESS_ISOLATED))
		return XDP_PASS;
	if (!xdp_opener(&pkt, &f))
		return XDP_PASS;
	/* A local pod's address as the source: from_uplink drops it as spoofed. */
	endpoint_key_src(&pkt, &key);
	if (endpoint_lookup(&key))
		return XDP_PASS;

	ret = policy_ingress(&f, dst, &verdict);
	if (ret == 0 || xdp_flow_known(&f))
		return XDP_PASS;
	return ret;
}

SEC("xdp")
int xdp_uplink(struct xdp_md *ctx)
{
	return xdp_exit_verdict(ctx, handle_xdp_uplink(ctx));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
