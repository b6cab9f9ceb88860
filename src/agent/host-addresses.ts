// This node's own addresses: traffic between a pod and the node it runs on is always
// allowed (Kubernetes NetworkPolicy), so the datapath must recognise them.
import { Netlink } from '../datapath/netlink.js';

export function hostAddresses(): string[] {
  const nl = Netlink.open();
  try {
    const out = new Set<string>();
    for (const link of nl.listLinks()) {
      for (const a of nl.listAddresses(link.name)) {
        if (a.family === 6 && a.address.toLowerCase().startsWith('fe80:')) continue;
        out.add(a.address);
      }
    }
    return [...out].sort();
  } finally {
    nl.close();
  }
}
