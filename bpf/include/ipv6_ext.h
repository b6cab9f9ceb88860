/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6 extension headers between the fixed header and L4 (RFC 8200 4): hop-by-hop,
 * routing, fragment, destination options, and AH (RFC 4302). The walk is only
 * entered when the first next header is one of them, so plain TCP/UDP pays one
 * compare. It is bounded (IPV6_EXT_MAX headers, unrolled): a chain longer than that,
 * a second fragment header, or hop-by-hop anywhere but first is DROP_IPV6_EXT; a
 * header cut short is DROP_MALFORMED. Headers are read with bpf_skb_load_bytes, as
 * L4 is in conntrack.h: the offsets are data-dependent and may pass the linear part.
 *
 * A later fragment (offset != 0) ends the walk at its fragment header: what follows
 * is payload, not headers. Its ports come from the first fragment (frag.h).
 */
#ifndef STRAIT_IPV6_EXT_H
#define STRAIT_IPV6_EXT_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "drop.h"

#define IPV6_EXT_MAX 6

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

/* Fragment header frag_off: offset in 8-byte units above 3 flag bits, M the lowest. */
#define IPV6_FRAG_OFFSET_MASK 0xfff8
#define IPV6_FRAG_MORE 0x0001

/* What the walk found in a fragment header, if any. */
struct ipv6_frag {
	bool present;
	__u8 next; /* its next header: part of the fragment key */
	__be16 frag_off;
	__be32 id;
};

static __always_inline bool ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == NEXTHDR_HOP || nexthdr == NEXTHDR_ROUTING ||
	       nexthdr == NEXTHDR_FRAGMENT || nexthdr == NEXTHDR_AUTH || nexthdr == NEXTHDR_DEST;
}

/*
 * From the first extension header at *off (its type in *nexthdr) to the header that
 * is not one: on return *off and *nexthdr are the L4 header's, or, for a later
 * fragment, the payload after its fragment header and that header's next header.
 */
static __always_inline int ipv6_skip_ext(struct __sk_buff *skb, __u32 *off, __u8 *nexthdr,
					 struct ipv6_frag *frag)
{
	struct {
		__u8 next;
		__u8 len;
		__be16 frag_off;
		__be32 id;
	} h;
	__u8 nh = *nexthdr;
	__u32 o = *off;
	int i;

#pragma unroll
	for (i = 0; i < IPV6_EXT_MAX; i++) {
		if (!ipv6_is_ext(nh))
			goto done;
		if (nh == NEXTHDR_HOP && i > 0)
			return -DROP_IPV6_EXT;
		if (nh == NEXTHDR_FRAGMENT) {
			if (frag->present)
				return -DROP_IPV6_EXT;
			if (bpf_skb_load_bytes(skb, o, &h, sizeof(h)) < 0)
				return -DROP_MALFORMED;
			frag->present = true;
			frag->next = h.next;
			frag->frag_off = h.frag_off;
			frag->id = h.id;
			o += sizeof(h);
			nh = h.next;
			if (h.frag_off & bpf_htons(IPV6_FRAG_OFFSET_MASK))
				goto done;
			continue;
		}
		if (bpf_skb_load_bytes(skb, o, &h, 2) < 0)
			return -DROP_MALFORMED;
		/* AH counts its length in 4-byte units minus 2, the others in 8-byte units
		 * minus 1. */
		o += nh == NEXTHDR_AUTH ? ((__u32)h.len + 2) * 4 : ((__u32)h.len + 1) * 8;
		/* A header that claims more than the packet holds is cut short too. */
		if (o > skb->len)
			return -DROP_MALFORMED;
		nh = h.next;
	}
	if (ipv6_is_ext(nh))
		return -DROP_IPV6_EXT;
done:
	*off = o;
	*nexthdr = nh;
	return 0;
}

#endif /* STRAIT_IPV6_EXT_H */
