// The VXLAN hint maps (maps.h strait_identity_vni_v1, strait_vni_v1): the VNI a pod's
// packets carry must name its label set the same way on every node, which this
// node's identity numbers cannot promise (an identity keeps its number once given,
// so two nodes that met two colliding label sets in another order number them
// differently). So the VNI is a 24-bit hash of the label set's canonical text — the
// text identities are numbered from — and each node maps it back to its own pod and
// namespace identity. A hash two label sets share names neither: their pods send no
// hint, and a receiver judges them only once its ipcache knows them (fail closed).
// Pure planning here; syncVni writes the difference through VniMaps.
import { hash32, podIdentityKey } from '../policy/identity.js';
import type { DesiredState, IdentityInfo } from '../policy/types.js';

export interface VniValue {
  identity: number;
  namespace: number;
}

export interface VniContent {
  /** pod identity → its VNI */
  byIdentity: Map<number, number>;
  /** VNI → the pod and namespace identity it stands for here */
  byVni: Map<number, VniValue>;
}

/** What the agent needs of the two maps. */
export interface VniMaps {
  readVni(): VniContent;
  setIdentityVni(identity: number, vni: number): void;
  delIdentityVni(identity: number): void;
  setVni(vni: number, v: VniValue): void;
  delVni(vni: number): void;
}

/** The label set's VNI: 1..0xffffff (0 is "no hint"). */
export function vniOf(info: IdentityInfo): number {
  const h = hash32(podIdentityKey(info.namespace, info.namespaceLabels, info.labels, info.namedPorts)) & 0xffffff;
  return h === 0 ? 1 : h;
}

/** Both maps as the state wants them: every identity whose hash no other identity shares. */
export function planVni(state: Pick<DesiredState, 'identities' | 'podNamespaces'>): VniContent {
  const holders = new Map<number, number[]>();
  for (const [identity, info] of state.identities ?? []) {
    const vni = vniOf(info);
    holders.set(vni, [...(holders.get(vni) ?? []), identity]);
  }
  const out: VniContent = { byIdentity: new Map(), byVni: new Map() };
  for (const [vni, ids] of holders) {
    if (ids.length !== 1) continue;
    const identity = ids[0]!;
    const ns = state.podNamespaces?.get(identity) ?? 0;
    out.byIdentity.set(identity, vni);
    out.byVni.set(vni, { identity, namespace: ns > 0 ? ns : 0 });
  }
  return out;
}

/**
 * The agent's writer of the two maps: the first call (and the first after a failed
 * write) reads them back, as adoption does; later ones diff against what the last
 * call wrote, so an unchanged cluster costs no map reads.
 */
export function createVniSync(maps: VniMaps): (want: VniContent) => number {
  let written: VniContent | null = null;
  return (want) => {
    const have = written ?? maps.readVni();
    written = null; // unknown until every write below has landed
    const n = syncVni(maps, want, have);
    written = want;
    return n;
  };
}

/** Writes only what differs from `have` (removals first); returns how many writes it made. */
export function syncVni(maps: VniMaps, want: VniContent, have: VniContent = maps.readVni()): number {
  const writes: (() => void)[] = [];
  for (const id of have.byIdentity.keys()) if (!want.byIdentity.has(id)) writes.push(() => maps.delIdentityVni(id));
  for (const vni of have.byVni.keys()) if (!want.byVni.has(vni)) writes.push(() => maps.delVni(vni));
  for (const [vni, v] of want.byVni) {
    const h = have.byVni.get(vni);
    if (h?.identity !== v.identity || h.namespace !== v.namespace) writes.push(() => maps.setVni(vni, v));
  }
  for (const [id, vni] of want.byIdentity) if (have.byIdentity.get(id) !== vni) writes.push(() => maps.setIdentityVni(id, vni));
  for (const w of writes) w();
  return writes.length;
}
