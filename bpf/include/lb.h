/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services (docs/services.md): a pod's TCP, UDP or SCTP packet to a ClusterIP and
 * port is DNATed to one of the Service's backends in from_pod, before conntrack and
 * policy, so both see the backend. The pick is per connection (strait_lb_flows_v1),
 * per client with sessionAffinity (strait_lb_affinity_v1), else by the skb's flow
 * hash; its way back (strait_lb_rev_v1) gives replies the ClusterIP back where they
 * are delivered to the client (lb_rev_nat). A pod that is its own backend (hairpin)
 * also gets its source rewritten to LB_HAIRPIN_* and is answered straight back.
 *
 * ICMP errors about a Service connection get the ClusterIP back in their quote
 * (lb_rev_nat_error). Not translated: IP fragments (the later ones carry no ports,
 * so none is: all of them reach the host stack alike) and IPv6 with extension
 * headers before L4.
 */
#ifndef STRAIT_LB_H
#define STRAIT_LB_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "conntrack.h"
#include "counters.h"
#include "drop.h"
#include "maps.h"
#include "nat.h"
#include "nat_icmp.h"
#include "parse.h"
#include "reject.h"

#define LB_NS_PER_S 1000000000ULL

/* lb_translate() results besides a negated drop reason. */
#define LB_NONE 0       /* no Service: the packet is untouched */
#define LB_TRANSLATED 1 /* DNATed to a backend, pkt parsed again */
#define LB_HAIRPIN 2    /* DNATed to the client itself and SNATed: back into the pod */
#define LB_ANSWERED 3   /* no backend: lb_reject()'s verdict is in *verdict */

/* A translatable packet's tuple (ports included) and L4 offset. */
struct lb_packet {
	struct ct_key tuple;
	__u32 l4_off;
};

/*
 * The tuple of a TCP, UDP or SCTP packet that is no fragment, its L4 header right
 * behind the IP header. Returns 1 when there is one, 0 when not, or a drop reason.
 */
static __always_inline int lb_extract(struct __sk_buff *skb, const struct packet *pkt,
				      struct lb_packet *p)
{
	struct ct_key *t = &p->tuple;
	__be16 ports[2];
	void *l4;

	*p = (struct lb_packet){};
	if (pkt->l3_proto == ETH_P_IP) {
		if (pkt->ip4->frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK | IPV4_FRAG_MORE))
			return 0;
		t->saddr[0] = pkt->ip4->saddr;
		t->daddr[0] = pkt->ip4->daddr;
		t->protocol = pkt->ip4->protocol;
		t->family = 4;
		p->l4_off = ETH_HLEN + pkt->ip4->ihl * 4;
	} else {
		__builtin_memcpy(t->saddr, &pkt->ip6->saddr, sizeof(t->saddr));
		__builtin_memcpy(t->daddr, &pkt->ip6->daddr, sizeof(t->daddr));
		t->protocol = pkt->ip6->nexthdr;
		t->family = 6;
		p->l4_off = ETH_HLEN + sizeof(struct ipv6hdr);
	}
	if (!proto_has_ports(t->protocol))
		return 0;
	/* Straight from the linear part when it holds them: cheaper than the helper,
	 * which reads the rest of a non-linear skb. */
	l4 = (void *)pkt->eth + p->l4_off;
	if (likely(l4 + sizeof(ports) <= pkt->data_end))
		__builtin_memcpy(ports, l4, sizeof(ports));
	else if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0)
		return -DROP_MALFORMED;
	t->sport = ports[0];
	t->dport = ports[1];
	return 1;
}

/* A SYN without ACK: a connection's first packet, even on a tuple used before. Read
 * only on the rare path that needs it. */
static __always_inline bool lb_pure_syn(struct __sk_buff *skb, const struct lb_packet *p)
{
	__u8 flags;

	if (p->tuple.protocol != IPPROTO_TCP)
		return false;
	if (bpf_skb_load_bytes(skb, p->l4_off + 13, &flags, sizeof(flags)) < 0)
		return false;
	return (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/*
 * After a rewrite: the helpers invalidated every packet pointer. The ethertype is
 * not re-read: it has not changed, and a fresh read would be a value the verifier
 * cannot tie to the l3_proto tests its callers made (and make again after this).
 */
static __always_inline int lb_reparse(struct __sk_buff *skb, struct packet *pkt)
{
	pkt->data_end = (void *)(long)skb->data_end;
	pkt->eth = (void *)(long)skb->data;
	if ((void *)(pkt->eth + 1) > pkt->data_end)
		return -DROP_MALFORMED;
	if (pkt->l3_proto == ETH_P_IP)
		return parse_ipv4(pkt);
	return parse_ipv6(pkt);
}

static __always_inline void lb_hairpin_addr(__u32 *addr, __u8 family)
{
	if (family == 4) {
		addr[0] = bpf_htonl(LB_HAIRPIN_IPV4);
		return;
	}
	addr[0] = bpf_htonl(LB_HAIRPIN_IPV6_HI);
	addr[3] = bpf_htonl(LB_HAIRPIN_IPV6_LO);
}

/* Is pkt addressed to the hairpin address (a pod answering itself through a Service)? */
static __always_inline bool lb_to_hairpin(const struct packet *pkt)
{
	__u32 h[4] = {};

	if (pkt->l3_proto == ETH_P_IP) {
		lb_hairpin_addr(h, 4);
		return pkt->ip4->daddr == h[0];
	}
	lb_hairpin_addr(h, 6);
	return ipv6_addr_equal(pkt->ip6->daddr.in6_u.u6_addr32, h);
}

/* Backend id of service_id, or NULL when it is gone (or belongs to another Service). */
static __always_inline struct lb_backend_value *lb_backend(__u32 id, __u32 service_id)
{
	struct lb_backend_value *be = bpf_map_lookup_elem(&strait_lb_backends_v1, &id);

	return be && be->service_id == service_id ? be : NULL;
}

/* The client's backend under sessionAffinity, if fresh and still there (its id in *id). */
static __always_inline struct lb_backend_value *
lb_affine(const struct lb_service_value *svc, struct lb_affinity_key *key, __u64 now, __u32 *id)
{
	struct lb_affinity_value *v = bpf_map_lookup_elem(&strait_lb_affinity_v1, key);
	struct lb_backend_value *be;
	__u64 last;

	if (!v)
		return NULL;
	last = v->last_seen_ns;
	if (now > last && now - last > (__u64)svc->affinity_timeout_s * LB_NS_PER_S)
		return NULL;
	*id = v->backend_id;
	be = lb_backend(*id, svc->service_id);
	/* Listed but not ready (or terminating): its connections go on, a client's next
	 * one is picked afresh. */
	if (be && !(be->flags & LB_BE_F_READY))
		return NULL;
	return be;
}

/* A new connection's backend (its id in *id): affinity, else slot 1 + hash % count;
 * NULL when the slot is missing or names no backend of the Service. */
static __always_inline struct lb_backend_value *lb_pick(struct __sk_buff *skb,
							const struct lb_service_value *svc,
							const struct ct_key *t, __u32 *id)
{
	struct lb_affinity_key akey = { .service_id = svc->service_id, .family = t->family };
	struct lb_slot_key slot = { .service_id = svc->service_id };
	struct lb_backend_value *be = NULL;
	struct lb_affinity_value aval;
	__u64 now = 0;
	__u32 *slot_id;

	if (svc->flags & LB_SVC_F_AFFINITY) {
		__builtin_memcpy(akey.client, t->saddr, sizeof(akey.client));
		now = bpf_ktime_get_ns();
		be = lb_affine(svc, &akey, now, id);
	}
	if (!be) {
		slot.slot = 1 + bpf_get_hash_recalc(skb) % svc->count;
		slot_id = bpf_map_lookup_elem(&strait_lb_slots_v1, &slot);
		if (!slot_id)
			return NULL;
		*id = *slot_id;
		be = lb_backend(*id, svc->service_id);
		if (!be)
			return NULL;
	}
	if (svc->flags & LB_SVC_F_AFFINITY) {
		aval = (struct lb_affinity_value){ .last_seen_ns = now, .backend_id = *id };
		bpf_map_update_elem(&strait_lb_affinity_v1, &akey, &aval, BPF_ANY);
	}
	return be;
}

/*
 * Remembers the pick for the connection (t: as the client sends it) and its way
 * back, keyed by the reply as the backend sends it. A failed write (the LRU cannot
 * allocate) costs the next packet a new pick (the same while the backends do not
 * change) or this connection's replies (DROP_LB_REV_MISS).
 */
static __always_inline void lb_remember(const struct ct_key *t, const struct lb_backend_value *be,
					__u32 backend_id, __u32 service_id, bool hairpin)
{
	struct lb_flow_value flow = { .backend_id = backend_id, .service_id = service_id };
	struct lb_rev_value rev = { .vport = t->dport, .backend_id = backend_id };
	struct ct_key rkey = {
		.sport = be->port,
		.dport = t->sport,
		.protocol = t->protocol,
		.family = t->family,
	};

	__builtin_memcpy(rkey.saddr, be->addr, sizeof(rkey.saddr));
	__builtin_memcpy(rev.vip, t->daddr, sizeof(rev.vip));
	if (hairpin) {
		flow.flags = LB_FLOW_F_HAIRPIN;
		rev.flags = LB_FLOW_F_HAIRPIN;
		lb_hairpin_addr(rkey.daddr, t->family);
		__builtin_memcpy(rev.client, t->saddr, sizeof(rev.client));
	} else {
		__builtin_memcpy(rkey.daddr, t->saddr, sizeof(rkey.daddr));
	}
	bpf_map_update_elem(&strait_lb_flows_v1, t, &flow, BPF_ANY);
	bpf_map_update_elem(&strait_lb_rev_v1, &rkey, &rev, BPF_ANY);
}

/*
 * from_pod, for a packet whose destination is no local endpoint: a Service's gets
 * its backend. client: the sending endpoint (checked). Returns LB_*, or a negated
 * drop reason.
 */
static __always_inline int lb_translate(struct __sk_buff *skb, struct packet *pkt,
					const struct endpoint_value *client, int *verdict)
{
	struct lb_service_key skey = {};
	struct lb_service_value *svc;
	struct lb_backend_value *be = NULL;
	struct lb_flow_value *flow;
	struct lb_packet p;
	__u32 backend_id = 0, hairpin[4] = {};
	bool is_hairpin;
	int ret;

	ret = lb_extract(skb, pkt, &p);
	if (ret <= 0)
		return ret;
	__builtin_memcpy(skey.addr, p.tuple.daddr, sizeof(skey.addr));
	skey.port = p.tuple.dport;
	skey.protocol = p.tuple.protocol;
	skey.family = p.tuple.family;
	svc = bpf_map_lookup_elem(&strait_lb_services_v1, &skey);
	if (likely(!svc))
		return LB_NONE;

	flow = bpf_map_lookup_elem(&strait_lb_flows_v1, &p.tuple);
	if (flow && flow->service_id == svc->service_id) {
		backend_id = flow->backend_id;
		be = lb_backend(backend_id, svc->service_id);
		/* The tuple's earlier connection went to a backend that takes no new ones
		 * now; a SYN on it (the client port reused) is a new connection. */
		if (be && unlikely(!(be->flags & LB_BE_F_READY)) && lb_pure_syn(skb, &p))
			be = NULL;
	}
	if (!be) {
		be = svc->count ? lb_pick(skb, svc, &p.tuple, &backend_id) : NULL;
		if (!be) {
			*verdict = lb_reject(skb, pkt, client);
			return *verdict < 0 ? *verdict : LB_ANSWERED;
		}
		is_hairpin = ipv6_addr_equal(be->addr, p.tuple.saddr);
		lb_remember(&p.tuple, be, backend_id, svc->service_id, is_hairpin);
	} else {
		is_hairpin = flow->flags & LB_FLOW_F_HAIRPIN;
	}

	ret = nat_rewrite(skb, &p.tuple, p.l4_off, true, be->addr, be->port);
	if (ret < 0)
		return ret;
	if (is_hairpin) {
		lb_hairpin_addr(hairpin, p.tuple.family);
		ret = nat_addr(skb, &p.tuple, p.l4_off, false, hairpin);
		if (ret < 0)
			return ret;
	}
	ret = lb_reparse(skb, pkt);
	if (ret < 0)
		return ret;
	count_stat(skb, STAT_LB_TRANSLATED);
	return is_hairpin ? LB_HAIRPIN : LB_TRANSLATED;
}

/*
 * An ICMP or ICMPv6 error about a Service connection, on its way to the client: it
 * quotes the packet as translated (to the backend), which the client's socket never
 * sent. The quote gets the ClusterIP and Service port back as its destination, and
 * the error the ClusterIP as its source when the backend sent it (a router's stays
 * its own). Hairpin errors are left alone. Returns 1 when translated, 0 when pkt is
 * no such error, or a negated drop reason.
 */
static __always_inline int lb_rev_nat_error(struct __sk_buff *skb, struct packet *pkt,
					    const struct lb_packet *p)
{
	const struct ct_key *t = &p->tuple;
	struct lb_rev_value *rev;
	struct nat_quote q;
	__u8 type;
	int ret;

	if (!is_icmp(t->family, t->protocol) ||
	    bpf_skb_load_bytes(skb, p->l4_off, &type, sizeof(type)) < 0 ||
	    !icmp_is_error(t->family, type) || !nat_read_quote(skb, t->family, p->l4_off, &q))
		return 0;
	rev = bpf_map_lookup_elem(&strait_lb_rev_v1, &q.reply);
	if (!rev)
		return -DROP_LB_REV_MISS;
	if (rev->flags & LB_FLOW_F_HAIRPIN)
		return 0;
	if (!bpf_map_lookup_elem(&strait_lb_backends_v1, &rev->backend_id))
		return -DROP_LB_BACKEND_GONE;
	ret = nat_quote_dst(skb, &q, rev->vip, rev->vport);
	if (ret < 0)
		return ret;
	if (ipv6_addr_equal(t->saddr, q.reply.saddr)) {
		ret = nat_icmp_src(skb, t, p->l4_off, rev->vip);
		if (ret < 0)
			return ret;
	}
	ret = lb_reparse(skb, pkt);
	if (ret < 0)
		return ret;
	count_stat(skb, STAT_LB_REV_NAT);
	return 1;
}

/*
 * A reply of a Service connection (conntrack said CT_F_SERVICE) where it is
 * delivered to the client: its source becomes the ClusterIP and Service port again
 * (STAT_LB_REV_NAT); a hairpin reply (to LB_HAIRPIN_*) also gets the pod back as its
 * destination (from_pod counts it STAT_LB_HAIRPIN). Returns 1 when translated, 0 for
 * a packet with no ports (nothing to translate), or a negated drop reason.
 */
static __always_inline int lb_rev_nat(struct __sk_buff *skb, struct packet *pkt)
{
	struct lb_rev_value *rev;
	struct lb_packet p;
	int ret;

	ret = lb_extract(skb, pkt, &p);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return lb_rev_nat_error(skb, pkt, &p);
	rev = bpf_map_lookup_elem(&strait_lb_rev_v1, &p.tuple);
	if (!rev)
		return -DROP_LB_REV_MISS;
	if (!bpf_map_lookup_elem(&strait_lb_backends_v1, &rev->backend_id))
		return -DROP_LB_BACKEND_GONE;
	ret = nat_rewrite(skb, &p.tuple, p.l4_off, false, rev->vip, rev->vport);
	if (ret < 0)
		return ret;
	if (rev->flags & LB_FLOW_F_HAIRPIN) {
		ret = nat_addr(skb, &p.tuple, p.l4_off, true, rev->client);
		if (ret < 0)
			return ret;
	}
	ret = lb_reparse(skb, pkt);
	if (ret < 0)
		return ret;
	if (!(rev->flags & LB_FLOW_F_HAIRPIN))
		count_stat(skb, STAT_LB_REV_NAT);
	return 1;
}

/*
 * Where a packet is delivered into a pod (hit_flags: what policy_enforce() found in
 * conntrack): a reply of a Service connection gets the ClusterIP back. Returns 0 or
 * a negated drop reason.
 */
static __always_inline int lb_deliver(struct __sk_buff *skb, struct packet *pkt, __u32 hit_flags)
{
	int ret;

	if (likely(!(hit_flags & CT_F_SERVICE)) || !(hit_flags & CT_HIT_REPLY))
		return 0;
	ret = lb_rev_nat(skb, pkt);
	return ret < 0 ? ret : 0;
}

/*
 * from_pod, for a checked sender's packet to no local endpoint: a pod's answer
 * through its own Service (to LB_HAIRPIN_*) is translated back (LB_HAIRPIN), a
 * packet to a Service translated (lb_translate). Returns LB_* or a negated drop
 * reason.
 */
static __always_inline int lb_from_pod(struct __sk_buff *skb, struct packet *pkt,
				       const struct endpoint_value *client, int *verdict)
{
	int ret;

	if (unlikely(lb_to_hairpin(pkt))) {
		ret = lb_rev_nat(skb, pkt);
		return ret > 0 ? LB_HAIRPIN : ret;
	}
	return lb_translate(skb, pkt, client, verdict);
}

#endif /* STRAIT_LB_H */
