/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The last steps of a packet another node sent to a local pod, natively
 * (from_uplink) or through the tunnel (from_tunnel), once its sender has been
 * checked: the pod's readiness, its ingress policy with conntrack first, and then
 * bpf_redirect_peer into the pod. A packet conntrack has not seen is judged here
 * only when it opens a connection (a pure SYN, an echo request); any other may
 * answer a connection the host NATed (a kube-proxy Service whose backend is on that
 * other node), so it goes to the host stack, whose conntrack undoes the NAT, and
 * to_pod judges it (STAT_NODE_TO_STACK). So does a connection the pod answers
 * through the stack (CT_F_VIA_STACK).
 */
#ifndef STRAIT_FROM_NODE_H
#define STRAIT_FROM_NODE_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "compiler.h"
#include "counters.h"
#include "endpoint.h"
#include "lb.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"
#include "redirect.h"

/* src_hint: the sender's identities as the tunnel named them (tunnel.h), NULL natively. */
static __always_inline int deliver_from_node(struct __sk_buff *skb, struct packet *pkt,
					     const struct endpoint_value *dst,
					     const struct ipcache_value *src_hint,
					     enum stat_id delivered)
{
	__u32 ct_flags;
	int ret;

	if (!endpoint_ready(dst))
		return -DROP_NOT_READY;
	/* No local sender: only the destination's ingress policy applies here. */
	ret = policy_enforce_hinted(skb, pkt, NULL, dst, POLICY_F_OPENERS_ONLY, src_hint,
				    &ct_flags);
	if (ret < 0)
		return ret;
	if (ret == POLICY_TO_STACK) {
		count_stat(skb, STAT_NODE_TO_STACK);
		return TC_ACT_OK;
	}
	if (ct_flags & CT_F_VIA_STACK)
		return TC_ACT_OK;
	ret = lb_deliver(skb, pkt, ct_flags);
	if (ret < 0)
		return ret;
	return redirect_to_endpoint(skb, pkt, dst, delivered);
}

#endif /* STRAIT_FROM_NODE_H */
