/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What policy decided for one new connection: filled by policy.h, read by
 * events.h for the connection's record. Apart from both so neither includes the
 * other.
 */
#ifndef STRAIT_VERDICT_H
#define STRAIT_VERDICT_H

#include <linux/bpf.h>

#include "compiler.h"
#include "maps.h"

struct policy_verdict {
	__u32 rule_id;
	__u32 egress_rule; /* the sender's rule when its egress policy was checked, else 0 */
	bool by_rule;      /* a policy entry allowed it (not only "not isolated" or "host") */
	/* in: the source's identities as its node said (VXLAN: what the VNI stands for),
	 * for when the ipcache does not know the address yet (identity_hint); or NULL */
	const struct ipcache_value *src_hint;
};

#endif /* STRAIT_VERDICT_H */
