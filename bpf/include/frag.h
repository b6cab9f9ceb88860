/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fragments of IPv4 packets and of IPv6 packets (fragment header): only the first
 * carries the L4 header, so the later ones take its ports from strait_frag_v1, as
 * Cilium's frag map does. The entry is written when the first fragment passes
 * (policy or conntrack); a later fragment without one is DROP_FRAG_NO_FIRST: its
 * first fragment was denied, or has not arrived yet. Fragments arriving before the
 * first are rare (senders emit them in order, and veths do not reorder); their
 * packet is lost and the sender's retransmission or timeout deals with it, as with
 * any drop. An IPv6 atomic fragment (offset 0, M clear, RFC 6946) is the whole
 * packet: no entry.
 *
 * Entries are not deleted when the last fragment passes (fragments may be
 * duplicated); the LRU recycles them, and an identification reused long after is
 * overwritten by its new first fragment.
 */
#ifndef STRAIT_FRAG_H
#define STRAIT_FRAG_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "compiler.h"
#include "drop.h"
#include "maps.h"

enum frag_kind {
	FRAG_NONE = 0, /* not fragmented, or an atomic fragment */
	FRAG_FIRST,
	FRAG_LATER,
};

/* Where a packet stands among the fragments of its datagram. */
struct frag_info {
	__u8 kind;     /* enum frag_kind */
	__u8 protocol; /* IPv4 protocol, or the IPv6 fragment header's next header */
	__be32 id;
};

static __always_inline void frag_key_of(struct frag_key *key, const struct ct_key *t,
					const struct frag_info *fi)
{
	*key = (struct frag_key){ .id = fi->id, .protocol = fi->protocol, .family = t->family };
	__builtin_memcpy(key->saddr, t->saddr, sizeof(key->saddr));
	__builtin_memcpy(key->daddr, t->daddr, sizeof(key->daddr));
}

/* A later fragment: the first's protocol and ports into t (addresses already set). */
static __always_inline int frag_lookup(struct ct_key *t, const struct frag_info *fi, __u8 *flags)
{
	struct frag_value *v;
	struct frag_key key;

	frag_key_of(&key, t, fi);
	v = bpf_map_lookup_elem(&strait_frag_v1, &key);
	if (!v)
		return -DROP_FRAG_NO_FIRST;
	t->protocol = v->protocol;
	t->sport = v->sport;
	t->dport = v->dport;
	*flags = v->flags;
	return 0;
}

/* The first fragment passed: its datagram's later fragments may follow. */
static __always_inline void frag_record(const struct ct_key *t, const struct frag_info *fi,
					__u8 flags)
{
	struct frag_value v = {
		.sport = t->sport, .dport = t->dport, .protocol = t->protocol, .flags = flags
	};
	struct frag_key key;

	if (fi->kind != FRAG_FIRST)
		return;
	frag_key_of(&key, t, fi);
	bpf_map_update_elem(&strait_frag_v1, &key, &v, BPF_ANY);
}

#endif /* STRAIT_FRAG_H */
