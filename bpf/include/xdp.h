/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What an XDP program needs that the tc ones get from parse.h and counters.h: the
 * Ethernet header of an xdp_md (then parse_ipv4/parse_ipv6 work on it unchanged,
 * they read only struct packet) and the one exit, where a negated drop reason
 * becomes a counted XDP_DROP. Inlined, unlike counters.h's drop(): in XDP a drop
 * is the path that has to be fast.
 */
#ifndef STRAIT_XDP_H
#define STRAIT_XDP_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "counters.h"
#include "drop.h"
#include "parse.h"

static __always_inline int xdp_parse_eth(struct xdp_md *ctx, struct packet *pkt)
{
	return parse_eth_at((void *)(long)ctx->data, (void *)(long)ctx->data_end, pkt);
}

/* Handlers return XDP_PASS or a negated enum drop_reason (counted under it, bytes as tc counts them). */
static __always_inline int xdp_exit_verdict(struct xdp_md *ctx, int ret)
{
	if (ret >= 0)
		return ret;
	counter_add(&strait_drops_v1, (enum drop_reason)(-ret), ctx->data_end - ctx->data);
	return XDP_DROP;
}

#endif /* STRAIT_XDP_H */
