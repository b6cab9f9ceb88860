// judge() (src/agent/explain.ts) makes the lookups bpf/include/policy.h makes: here
// against fake maps, so each identity's place in the order can be checked alone.
import { describe, expect, it } from 'vitest';

import { judge, type MapLookups } from '../../src/agent/explain.js';
import { IDENTITY_ANY, IDENTITY_CIDR_FLAG, IDENTITY_CLUSTER, IDENTITY_REMOTE_NODE, IDENTITY_WORLD } from '../../src/policy/types.js';

const POD = '10.244.1.10';
const REMOTE_POD = '10.244.2.20';
const OTHER_NODE = '198.18.0.12';
const NODES_BLOCK = IDENTITY_CIDR_FLAG | 7;

/** POD is egress-isolated; its only entries: `allowed` (identity → rule), any protocol and port. */
function maps(allowed: Record<number, number>): MapLookups {
  const ipcache: Record<string, { identity: number; namespace: number }> = {
    [REMOTE_POD]: { identity: 1000, namespace: 0 },
    [OTHER_NODE]: { identity: IDENTITY_REMOTE_NODE, namespace: 0 },
  };
  return {
    endpointOf: (ip) =>
      ip === POD ? { ifindex: 5, identity: 1000, flags: { ready: true, ingressIsolated: false, egressIsolated: true, generation: 0 } } : null,
    podIdentityOf: (ip) => ipcache[ip] ?? { identity: IDENTITY_ANY, namespace: 0 },
    cidrIdentityOf: (ip) => (ip === OTHER_NODE ? NODES_BLOCK : IDENTITY_WORLD),
    policyLookup: (_ifindex, _gen, identity, egress) => (egress ? (allowed[identity] ?? null) : null),
  };
}

const flow = (dst: string) => ({ src: POD, dst, protocol: 6, port: 443 });

describe('judge: which peer identities an entry admits', () => {
  it('"any pod" (IDENTITY_CLUSTER) admits a remote pod', () => {
    expect(judge(maps({ [IDENTITY_CLUSTER]: 1 }), null, flow(REMOTE_POD)).allowed).toBe(true);
  });

  it('"any pod" does not admit another node (IDENTITY_REMOTE_NODE is no pod)', () => {
    const j = judge(maps({ [IDENTITY_CLUSTER]: 1 }), null, flow(OTHER_NODE));
    expect(j.allowed).toBe(false);
    expect(j.reason).toMatch(/isolated for egress/);
  });

  it("another node's address still matches the ipBlock around it", () => {
    expect(judge(maps({ [NODES_BLOCK]: 2 }), null, flow(OTHER_NODE)).allowed).toBe(true);
  });
});
