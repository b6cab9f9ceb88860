/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ARP over Ethernet for IPv4 (RFC 826), the only kind a pod's veth carries. The
 * sender fields are what a receiver learns from, so they are what anti-spoofing
 * checks: a pod may only say "my address is at my MAC".
 */
#ifndef STRAIT_ARP_H
#define STRAIT_ARP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

#include "compiler.h"
#include "drop.h"
#include "parse.h"

/* <linux/if_arp.h> drags in libc headers that -target bpf cannot build: RFC 826 here. */
#define ARPHRD_ETHER 1

struct arp_eth {
	__be16 ar_hrd;
	__be16 ar_pro;
	__u8 ar_hln;
	__u8 ar_pln;
	__be16 ar_op;
	__u8 sha[ETH_ALEN];
	__be32 spa;
	__u8 tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

/* The ARP body after pkt->eth, or -DROP_MALFORMED for a short or non-Ethernet/IPv4 one. */
static __always_inline int parse_arp(const struct packet *pkt, struct arp_eth **out)
{
	struct arp_eth *arp = (void *)(pkt->eth + 1);

	if ((void *)(arp + 1) > pkt->data_end)
		return -DROP_MALFORMED;
	if (arp->ar_hrd != bpf_htons(ARPHRD_ETHER) || arp->ar_pro != bpf_htons(ETH_P_IP) ||
	    arp->ar_hln != ETH_ALEN || arp->ar_pln != 4)
		return -DROP_MALFORMED;
	*out = arp;
	return 0;
}

#endif /* STRAIT_ARP_H */
