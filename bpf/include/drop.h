/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Why a packet was dropped. Mirrored in src/datapath/maps/drop.ts for logs, metrics
 * and straitctl; values are stable (they index a pinned map), new ones go at the end.
 */
#ifndef STRAIT_DROP_H
#define STRAIT_DROP_H

enum drop_reason {
	DROP_NONE = 0,            /* never recorded; keeps 0 meaning "not dropped" */
	DROP_MALFORMED = 1,       /* headers truncated or inconsistent */
	DROP_SPOOF_IP = 2,        /* source address is not the sending endpoint's */
	DROP_SPOOF_MAC = 3,       /* source MAC is not the sending endpoint's */
	DROP_UNKNOWN_L3 = 4,      /* neither IPv4, IPv6 nor ARP */
	DROP_NOT_READY = 5,       /* endpoint exists but its policy is not written yet */
	DROP_POLICY_EGRESS = 6,   /* egress policy of the source denies it */
	DROP_POLICY_INGRESS = 7,  /* ingress policy of the destination denies it */
	DROP_REDIRECT_FAILED = 8, /* the destination pod's veth is gone */
	DROP_ROUTER_MSG = 9,      /* a pod sent what only routers send: RA, Redirect, MLD query */
	DROP_NO_LINK = 10,        /* a strait veth with no pod behind it in strait_links_v1 */
	DROP_NOT_FOR_POD = 11,    /* to_pod: addressed to something that is not this veth's pod */
	DROP_FRAG_NO_FIRST = 13,  /* a later IP fragment whose first fragment did not pass here */
	DROP_IPV6_EXT = 14,       /* IPv6 extension headers: too many, a second fragment header,
				   * or hop-by-hop not first */
	DROP_CT_REVOKED = 15,     /* a packet of a connection the agent cut: policy no longer
				   * allows it */
	DROP_CT_MISS = 16,        /* TCP other than a SYN, unknown to conntrack (evicted, expired or
				   * never opened), that policy denies as a new connection */
	DROP_SPOOF_UPLINK = 17,   /* from the uplink with a local pod's source address: a pod's
				   * packets never come from outside */
	DROP_TUNNEL_NO_REMOTE = 21,    /* to_tunnel: from the host stack for an address in no other
					* node's pod CIDR (link-local and multicast noise too) */
	DROP_TUNNEL_UNKNOWN_NODE = 22, /* from_tunnel: the outer source is no node of the cluster */
	DROP_TUNNEL_SPOOF = 23,        /* from_tunnel: the inner source is a pod of this node */
	DROP_TUNNEL_KEY = 24,          /* tunnel metadata not set (to a node) or not read (from
					* one: the device is not collect_md) */
	DROP_LB_NO_BACKEND = 25,       /* to a Service with no ready backend, and no answer could be
					* made (SCTP, GSO, a fragment): dropped */
	DROP_LB_BACKEND_GONE = 26,     /* a reply from a Service's backend that has been removed */
	DROP_LB_REV_MISS = 27, /* a reply of a Service connection whose way back is no longer
					* in strait_lb_rev_v1 (evicted): it would reach the client
					* from the wrong address */
	DROP_MAX = 32,
};

#endif /* STRAIT_DROP_H */
