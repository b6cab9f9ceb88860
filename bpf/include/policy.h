/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where conntrack and NetworkPolicy go (issue #4). Both hooks return 0 to let the
 * packet on, or a negated DROP_POLICY_* reason. Until issue #4 they allow
 * everything that passed anti-spoofing and readiness; readiness already fails
 * closed for endpoints whose policy the agent has not written.
 *
 * Planned shape: a conntrack lookup first (a reply or a later packet of an allowed
 * flow returns 0 without a policy lookup), then the policy map keyed by (identity
 * or CIDR, protocol, port, direction), then a conntrack entry for a new allowed flow.
 */
#ifndef STRAIT_POLICY_H
#define STRAIT_POLICY_H

#include <linux/bpf.h>

#include "compiler.h"
#include "maps.h"
#include "parse.h"

/* Egress policy of the sending endpoint: every packet a pod sends, wherever it goes. */
static __always_inline int policy_egress(struct __sk_buff *skb, const struct packet *pkt,
					 const struct endpoint_value *src)
{
	(void)skb;
	(void)pkt;
	(void)src;
	return 0;
}

/* Ingress policy of the receiving endpoint: from a local pod (from_pod) or the stack (to_pod). */
static __always_inline int policy_ingress(struct __sk_buff *skb, const struct packet *pkt,
					  const struct endpoint_value *dst)
{
	(void)skb;
	(void)pkt;
	(void)dst;
	return 0;
}

#endif /* STRAIT_POLICY_H */
