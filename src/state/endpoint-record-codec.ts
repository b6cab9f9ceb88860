// The endpoint record's file format: JSON, checked field by field on the way in,
// because the file is written by one process (the plugin, or doctor --fix) and
// read by others (a later DEL or GC, the agent, straitctl) that must not act on a
// torn or foreign file as if it were a record. Fields it does not know are dropped,
// so a newer writer's extra fields do not stop an older reader.

/** Which attachment a record is of: CNI's (network, container, interface). */
export interface Owner {
  network: string;
  containerId: string;
  ifname: string;
}

export interface EndpointRecord extends Owner {
  /** absent in records written before boot stamping */
  bootId?: string;
  netns: string;
  /** the host veth's name: what a record is matched against a live link by (with the ifindex) */
  hostVeth: string;
  ifindex: number;
  addresses: string[];
  podMac: string;
  k8s: { namespace?: string; name?: string; uid?: string; infraContainerId?: string };
  createdAt: string;
}

export type Decoded = { ok: true; record: EndpointRecord } | { ok: false; problem: string };

export const encodeEndpointRecord = (r: EndpointRecord): string => JSON.stringify(r);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** The first field that is not what a record holds, or null. */
function problemOf(o: Obj): string | null {
  for (const f of ['network', 'containerId', 'ifname', 'hostVeth'] as const)
    if (!isStr(o[f]) || o[f] === '') return `${f} must be a non-empty string`;
  for (const f of ['netns', 'podMac', 'createdAt'] as const) if (!isStr(o[f])) return `${f} must be a string`;
  if (o.bootId !== undefined && !isStr(o.bootId)) return 'bootId must be a string when present';
  if (typeof o.ifindex !== 'number' || !Number.isInteger(o.ifindex) || o.ifindex < 1 || o.ifindex > 0xffff_ffff)
    return 'ifindex must be a positive integer';
  if (!Array.isArray(o.addresses) || !o.addresses.every(isStr)) return 'addresses must be an array of strings';
  if (!isObj(o.k8s)) return 'k8s must be an object';
  for (const f of ['namespace', 'name', 'uid', 'infraContainerId'] as const)
    if (o.k8s[f] !== undefined && !isStr(o.k8s[f])) return `k8s.${f} must be a string when present`;
  return null;
}

export function decodeEndpointRecord(text: string): Decoded {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `not JSON: ${(e as Error).message}` };
  }
  if (!isObj(v)) return { ok: false, problem: 'not a JSON object' };
  const problem = problemOf(v);
  if (problem !== null) return { ok: false, problem };
  // Checked above; rebuilt so that only known fields travel on.
  const o = v as unknown as EndpointRecord;
  const k8s: EndpointRecord['k8s'] = {};
  for (const f of ['namespace', 'name', 'uid', 'infraContainerId'] as const) if (o.k8s[f] !== undefined) k8s[f] = o.k8s[f];
  return {
    ok: true,
    record: {
      network: o.network,
      containerId: o.containerId,
      ifname: o.ifname,
      ...(o.bootId === undefined ? {} : { bootId: o.bootId }),
      netns: o.netns,
      hostVeth: o.hostVeth,
      ifindex: o.ifindex,
      addresses: [...o.addresses],
      podMac: o.podMac,
      k8s,
      createdAt: o.createdAt,
    },
  };
}
