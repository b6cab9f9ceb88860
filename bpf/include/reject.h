/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The answer to a packet for a Service with no ready backend (docs/services.md):
 * TCP gets a RST, UDP an ICMP (ICMPv6) port unreachable, sent straight back into
 * the client pod as if from the ClusterIP (STAT_LB_REJECTED); what cannot be
 * answered is DROP_LB_NO_BACKEND.
 *
 * For now every such packet is DROP_LB_NO_BACKEND: the answers are being built
 * (#13), and lb.h calls lb_reject() already, so only this header changes.
 */
#ifndef STRAIT_REJECT_H
#define STRAIT_REJECT_H

#include <linux/bpf.h>

#include "drop.h"
#include "maps.h"
#include "parse.h"

/* pkt: parsed (parse_ipv4/parse_ipv6) and addressed to the ClusterIP; client: the
 * sending endpoint (its veth is where the answer goes). Returns a TC_ACT_* verdict
 * or a negated drop reason. */
static __always_inline int lb_reject(struct __sk_buff *skb, struct packet *pkt,
				     const struct endpoint_value *client)
{
	(void)skb;
	(void)pkt;
	(void)client;
	return -DROP_LB_NO_BACKEND;
}

#endif /* STRAIT_REJECT_H */
