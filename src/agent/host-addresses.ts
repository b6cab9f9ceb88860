// This node's own addresses: traffic between a pod and the node it runs on is always
// allowed (Kubernetes NetworkPolicy), so the datapath must recognise them. Read at
// most every few seconds: they rarely change, and a node with hundreds of pod veths
// would otherwise pay two netlink dumps on every reconcile.
import { Netlink } from '../datapath/netlink.js';
import { isStraitAlias } from '../state/host-veth.js';

const REFRESH_MS = 3000;
let cached: { at: number; addresses: string[] } | null = null;

export function hostAddresses(now = Date.now()): string[] {
  if (cached !== null && now - cached.at < REFRESH_MS) return cached.addresses;
  const nl = Netlink.open();
  try {
    // Pod veths carry no address of the host's. One dump of every link's addresses.
    const podVeths = new Set(nl.listLinks().filter((l) => isStraitAlias(l.alias)).map((l) => l.ifindex));
    const out = new Set<string>();
    for (const a of nl.listAddresses()) {
      if (podVeths.has(a.ifindex)) continue;
      if (a.family === 6 && a.address.toLowerCase().startsWith('fe80:')) continue;
      out.add(a.address);
    }
    cached = { at: now, addresses: [...out].sort() };
    return cached.addresses;
  } finally {
    nl.close();
  }
}
