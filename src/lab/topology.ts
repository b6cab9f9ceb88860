// The emulated cluster contract (README "The emulated cluster"): names and addresses
// only, so tests, benches and straitctl lab agree on them without running anything.
// Node i (from 1) is netns `<prefix>-n<i>`; its uplink eth0 is a veth into the
// underlay's bridge and holds the node's InternalIPs; its pods come from its own
// pod CIDRs. The outside host sits on the same bridge with no route to any pod CIDR,
// so only masqueraded traffic from a pod gets an answer from it.

export type Routing = 'native' | 'vxlan';

export const UPLINK = 'eth0';
export const UPLINK_MTU = 1500;
/** what a VXLAN header costs on an IPv4 underlay (outer IP + UDP + VXLAN + inner Ethernet) */
export const VXLAN_OVERHEAD = 50;
export const LAB_NAMESPACE = 'lab';
/** the port every pod's server listens on (TCP and UDP) */
export const POD_PORT = 8080;
/** the Kubernetes network name of the lab's conflist, the same on every node */
export const NETWORK = 'strait';

export const underlayNetns = (prefix: string): string => `${prefix}-u`;
export const outsideNetns = (prefix: string): string => `${prefix}-out`;
export const nodeNetns = (prefix: string, i: number): string => `${prefix}-n${i}`;
export const nodeName = (i: number): string => `n${i}`;
export const podNetns = (prefix: string, pod: string): string => `${prefix}-${pod}`;
/** the j-th pod (from 0) of node i: n1-a, n1-b, … */
export const podName = (i: number, j: number): string => `n${i}-${String.fromCharCode(97 + (j % 26))}${j >= 26 ? String(Math.floor(j / 26)) : ''}`;

export interface NodeAddresses {
  v4: string;
  v6: string;
}

/** The node's InternalIPs (no prefix length); the uplink holds them as /24 and /64. */
export function nodeAddresses(i: number): NodeAddresses {
  checkIndex(i);
  return { v4: `198.18.0.${10 + i}`, v6: `fd5a:0:0:1::${10 + i}` };
}

export const UNDERLAY_PREFIX = { v4: 24, v6: 64 } as const;
export const OUTSIDE: NodeAddresses = { v4: '198.18.0.254', v6: 'fd5a:0:0:1::fe' };

export interface PodCidrs {
  v4: string;
  /** null when the cluster is IPv4 only */
  v6: string | null;
}

export function podCidrs(i: number, dualStack: boolean): PodCidrs {
  checkIndex(i);
  return { v4: `198.18.${100 + i}.0/24`, v6: dualStack ? `fd5a:1ab:${i}::/64` : null };
}

/** The pod MTU: a VXLAN packet must still fit the uplink once encapsulated. */
export const podMtu = (routing: Routing): number => (routing === 'vxlan' ? UPLINK_MTU - VXLAN_OVERHEAD : UPLINK_MTU);

/** Node indexes are bounded by the addressing: 198.18.(100+i) and 198.18.0.(10+i). */
export const MAX_NODES = 150;

function checkIndex(i: number): void {
  if (!Number.isInteger(i) || i < 1 || i > MAX_NODES) throw new RangeError(`node index ${i} is outside 1..${MAX_NODES}`);
}
