/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Stateful NetworkPolicy: conntrack first, then the policy of each isolated
 * endpoint the packet passes, then a conntrack entry for the new connection.
 *
 * - A packet of a known flow (established, reply or related ICMP error) passes
 *   without a policy lookup: STAT_CT_HIT.
 * - A new connection needs the egress policy of an egress-isolated sender and the
 *   ingress policy of an ingress-isolated receiver (each only where it is local to
 *   this program: from_pod knows its sender and maybe a local receiver, to_pod only
 *   its receiver). Traffic to or from this node (IDENTITY_HOST) is always allowed.
 * - A policy allows a peer when strait_policy_v1 has an entry for the endpoint's
 *   live slot, the direction, and one of the peer's identities (pod, namespace,
 *   IDENTITY_CLUSTER for any pod, CIDR) or IDENTITY_ANY; the LPM trie matches the
 *   protocol and port wildcards. At most five lookups per direction, however many
 *   rules exist.
 * - Every new connection that passes gets an entry (pending until answered, see
 *   conntrack.h), isolated or not, so that its replies still pass if isolation
 *   arrives later. The entry records the rule that allowed it: the receiver's when
 *   both directions were checked. New connections are counted per endpoint and
 *   direction (strait_ep_counters_v1) and per rule that allowed them
 *   (strait_rule_counters_v1).
 * - A TCP packet other than a SYN that conntrack does not know (its entry evicted
 *   or expired) is judged as a new connection: allowed, its entry is recreated
 *   (STAT_CT_RECREATED); denied, it is counted as DROP_CT_MISS.
 * - The first fragment that passes records its ports for the later ones (frag.h).
 * - Flow events (events.h): a NEW record for each entry created, a STATE record for a
 *   hit that changed its entry (an answer, a FIN, the close); nothing for the rest.
 *
 * Handlers return 0 to let the packet on or a negated DROP_POLICY_* reason.
 */
#ifndef STRAIT_POLICY_H
#define STRAIT_POLICY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "conntrack.h"
#include "counters.h"
#include "drop.h"
#include "events.h"
#include "identity.h"
#include "maps.h"
#include "parse.h"
#include "verdict.h"

static __always_inline __u32 policy_slot(const struct endpoint_value *ep)
{
	return ep->ifindex | (ep->flags & EP_F_POLICY_GEN ? POLICY_SLOT_GEN : 0);
}

/* One lookup of the peer identity `identity` in ep's live slot; 0 never matches
 * here (IDENTITY_ANY has its own, last, lookup). */
static __always_inline struct policy_value *policy_lookup(struct policy_key *key, __u32 identity)
{
	if (identity == IDENTITY_ANY)
		return NULL;
	key->identity = identity;
	return bpf_map_lookup_elem(&strait_policy_v1, key);
}

/*
 * Does ep's policy for this direction allow the peer of flow f? The peer is the
 * destination for egress, the source for ingress. The peer's identities, most
 * specific first: its label set, its namespace ("every pod in these namespaces"),
 * any pod of the cluster, its CIDR prefix, then any peer at all. At most five
 * lookups, however many policies exist, and only for a new connection.
 */
static __always_inline int policy_check(const struct endpoint_value *ep, const struct flow *f,
					bool egress, struct policy_verdict *verdict)
{
	const __u32 *peer = egress ? f->tuple.daddr : f->tuple.saddr;
	struct policy_key key = {
		.prefixlen = POLICY_PREFIX_FULL,
		.slot = policy_slot(ep),
		.egress = egress,
		.protocol = f->tuple.protocol,
		.dport = f->policy_dport,
	};
	struct policy_value *v;
	struct peer_identity id;

	identity_classify(peer, f->tuple.family, &id);
	if (!egress)
		identity_hint(&id, verdict->src_hint);
	if (identity_is_host(&id))
		return 0;

	v = policy_lookup(&key, id.pod);
	if (!v)
		v = policy_lookup(&key, id.ns);
	/* Only a pod is "any pod": another node's address (IDENTITY_REMOTE_NODE) is not. */
	if (!v && id.pod >= FIRST_POD_IDENTITY)
		v = policy_lookup(&key, IDENTITY_CLUSTER);
	if (!v)
		v = policy_lookup(&key, id.cidr);
	if (!v) {
		key.identity = IDENTITY_ANY;
		v = bpf_map_lookup_elem(&strait_policy_v1, &key);
	}
	if (!v)
		return egress ? -DROP_POLICY_EGRESS : -DROP_POLICY_INGRESS;

	verdict->rule_id = v->rule_id;
	if (egress)
		verdict->egress_rule = v->rule_id;
	verdict->by_rule = true;
	return 0;
}

/* Egress policy of the sending endpoint: every packet a pod sends, wherever it goes. */
static __always_inline int policy_egress(const struct flow *f, const struct endpoint_value *src,
					 struct policy_verdict *verdict)
{
	if (!(src->flags & EP_F_EGRESS_ISOLATED))
		return 0;
	return policy_check(src, f, true, verdict);
}

/* Ingress policy of the receiving endpoint: from a local pod (from_pod) or the stack (to_pod). */
static __always_inline int policy_ingress(const struct flow *f, const struct endpoint_value *dst,
					  struct policy_verdict *verdict)
{
	if (!(dst->flags & EP_F_INGRESS_ISOLATED))
		return 0;
	return policy_check(dst, f, false, verdict);
}

/* Both policies a new connection in f's direction needs; src/dst as in policy_enforce. */
static __always_inline int policy_judge(const struct flow *f, const struct endpoint_value *src,
					const struct endpoint_value *dst,
					struct policy_verdict *verdict)
{
	int ret;

	if (src) {
		ret = policy_egress(f, src, verdict);
		if (ret < 0)
			return ret;
	}
	if (dst) {
		ret = policy_ingress(f, dst, verdict);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * In policy_enforce()'s ct_flags, never stored: a packet conntrack has not seen
 * is judged here only when it opens a connection (a pure SYN, an echo request);
 * anything else is POLICY_TO_STACK. From another node such a packet may be the
 * answer to a connection the host NATed (a kube-proxy Service whose backend is
 * there): only the host's conntrack can undo that, and to_pod judges it after.
 */
#define POLICY_F_OPENERS_ONLY (1U << 31)
#define POLICY_TO_STACK 1

/*
 * The whole decision for a packet that passed parsing, anti-spoofing and readiness.
 * src: the local sending endpoint (from_pod) or NULL; dst: the local receiving
 * endpoint, or NULL when the packet leaves for the stack. src_hint: the source's
 * identities as the tunnel named them, or NULL (policy_verdict.src_hint).
 *
 * A recreated entry (STAT_CT_RECREATED) is marked CT_F_VIA_STACK whichever program
 * recreates it: whether the lost one was (a Service's DNAT) is not known, and the
 * stack path works for both.
 */
static __always_inline int policy_enforce_hinted(struct __sk_buff *skb, const struct packet *pkt,
						 const struct endpoint_value *src,
						 const struct endpoint_value *dst, __u32 ct_flags,
						 const struct ipcache_value *src_hint,
						 __u32 *hit_flags)
{
	struct policy_verdict verdict = { .src_hint = src_hint };
	__u8 recreated = 0; /* FLOW_EV_F_RECREATED, for the record */
	enum ct_status status;
	struct flow f = {};
	int ret;

	*hit_flags = 0;
	ret = ct_extract(skb, pkt, &f);
	if (ret < 0)
		return ret;
	status = ct_lookup(skb, &f);
	if (status == CT_REVOKED)
		return -DROP_CT_REVOKED;
	if (status == CT_NEW && (ct_flags & POLICY_F_OPENERS_ONLY) && !ct_opens(&f))
		return POLICY_TO_STACK;
	ct_flags &= ~POLICY_F_OPENERS_ONLY;
	if (status != CT_NEW) {
		count_stat(skb, STAT_CT_HIT);
		if (f.promoted)
			count_stat(skb, STAT_CT_PROMOTED);
		if (status == CT_REPLY || (status == CT_RELATED && f.error_to_opener))
			*hit_flags = f.hit_flags | CT_HIT_REPLY;
		else
			*hit_flags = f.hit_flags;
		/* The connection changed state (conntrack.h): its record. */
		if (unlikely(f.ev_flags & FLOW_EV_F_STATE_MASK))
			events_connection_of(skb, &f, src, dst, &verdict,
					     f.ev_flags | CT_BIT_MOVE(f.hit_flags, CT_F_SERVICE,
								      FLOW_EV_F_SERVICE));
		goto pass;
	}

	/*
	 * A TCP packet other than a SYN that conntrack does not know: its entry was
	 * evicted or expired, or it never existed (a scan, a forged segment). Policy
	 * judges it the way round it travels, as the connection's first packet would
	 * be; allowed, its entry is recreated. Denied, it is counted apart from
	 * policy drops, so a connection conntrack lost is never a silent policy drop.
	 * It is never taken for a reply: that would let a peer the pod may reach send
	 * it segments its ingress policy denies. The opening side's next packet (a
	 * retransmission, an ACK) recreates a lost entry, and the answers pass again.
	 */
	ret = policy_judge(&f, src, dst, &verdict);
	if (ret < 0)
		return ct_midstream(&f) ? -DROP_CT_MISS : ret;
	if (ct_midstream(&f)) {
		ct_flags |= CT_F_VIA_STACK;
		*hit_flags = CT_F_VIA_STACK;
		count_stat(skb, STAT_CT_RECREATED);
		recreated = FLOW_EV_F_RECREATED;
	}
	/* Flags without branches (each is one the verifier would walk every path through). */
	if (ct_create(&f, verdict.rule_id, ct_flags))
		events_connection_of(
			skb, &f, src, dst, &verdict,
			(__u8)verdict.by_rule * FLOW_EV_F_BY_RULE | recreated |
				CT_BIT_MOVE(ct_flags, CT_F_SERVICE, FLOW_EV_F_SERVICE));
	if (src)
		count_endpoint(src->ifindex, EP_DIR_EGRESS, EP_REASON_NEW_CONN, skb->len);
	if (dst)
		count_endpoint(dst->ifindex, EP_DIR_INGRESS, EP_REASON_NEW_CONN, skb->len);
	if (verdict.by_rule) {
		count_stat(skb, STAT_POLICY_ALLOWED);
		/* Each policy that allowed it: the sender's and the receiver's. */
		count_rule(skb, verdict.egress_rule);
		if (verdict.rule_id != verdict.egress_rule)
			count_rule(skb, verdict.rule_id);
	}
pass:
	frag_record(&f.tuple, &f.frag, f.icmp_error ? FRAG_F_ICMP_ERROR : 0);
	return 0;
}

/* The decision when the ipcache is all there is to know about the peer. */
static __always_inline int policy_enforce(struct __sk_buff *skb, const struct packet *pkt,
					  const struct endpoint_value *src,
					  const struct endpoint_value *dst, __u32 ct_flags,
					  __u32 *hit_flags)
{
	return policy_enforce_hinted(skb, pkt, src, dst, ct_flags, NULL, hit_flags);
}

#endif /* STRAIT_POLICY_H */
