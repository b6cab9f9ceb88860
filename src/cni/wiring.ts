// The pod's veth pair, as docs/architecture.md "Packet paths" lays it out: the pod
// side holds the pod address as /32 (/128) with a default route via a link-local gateway whose
// neighbour entry is permanent (so the pod never ARPs for it); the host side has no
// address, only a route to the pod. Both sides are named deterministically, so a DEL
// or GC finds them again from the container ID alone.
import type { Netlink } from '../datapath/netlink.js';
import { errors, SyscallError } from '../errors.js';
import type { Rollback } from '../util/rollback.js';
import { hardenHostVeth } from './sysctl.js';
import type { Owner } from '../state/endpoint-record.js';
import { hostVethName, ownerAlias } from '../state/host-veth.js';
import { bitsOf } from '../ipam/addr.js';

export const GATEWAY = { 4: '169.254.1.1', 6: 'fe80::1' } as const;

export interface PodAddress {
  family: 4 | 6;
  ip: string;
}

export interface ExtraRoute {
  family: 4 | 6;
  dst: string;
  prefixLen: number;
}


export interface WireRequest extends Owner {
  netnsPath: string;
  mtu: number | null;
  addresses: PodAddress[];
  /** routes beyond the default one, all through the link-local gateway */
  routes: ExtraRoute[];
  /** the pod side's MAC address when the runtime asked for one */
  mac?: string | null;
}

export interface Wired {
  host: { name: string; mac: string; ifindex: number };
  pod: { name: string; mac: string; ifindex: number };
}

export function wirePod(host: Netlink, pod: Netlink, req: WireRequest, rollback: Rollback): Wired {
  const hostName = hostVethName(req);
  try {
    host.createVeth({
      name: hostName,
      peerName: req.ifname,
      peerNetnsPath: req.netnsPath,
      ...(req.mtu !== null ? { mtu: req.mtu } : {}),
      alias: ownerAlias(req),
      ...(req.mac ? { peerMac: req.mac } : {}),
    });
  } catch (err) {
    // Only here does EEXIST mean an interface (anywhere else it is a netlink failure).
    // Which one is looked up only now, so the common case pays for no lookups.
    if (err instanceof SyscallError && err.errnoName === 'EEXIST') throw whichExists(host, pod, req, hostName, err.nativeMessage);
    throw err;
  }
  // Deleting the host end removes the pod end and every route through it.
  rollback.add(`delete veth ${hostName}`, () => host.deleteLink(hostName));

  hardenHostVeth(hostName);
  host.setLinkUp(hostName);
  pod.setLinkUp(req.ifname);
  const hostLink = host.getLink(hostName);
  const podLink = pod.getLink(req.ifname);
  if (hostLink === null || podLink === null) {
    throw errors.netlink(`veth ${hostName} <-> ${req.ifname} vanished while being set up`);
  }

  for (const a of req.addresses) {
    pod.addAddress(req.ifname, { address: a.ip, prefixLen: bitsOf(a.family), noDad: true });
  }
  for (const family of familiesOf(req.addresses)) {
    const gw = GATEWAY[family];
    pod.addNeighbor({ ifname: req.ifname, address: gw, mac: hostLink.mac });
    if (family === 4) {
      // The pod's /32 has no connected subnet, so the gateway needs a route of its own.
      pod.addRoute({ dst: gw, prefixLen: 32, ifname: req.ifname, scope: 'link' });
    }
    pod.addRoute({ dst: null, prefixLen: 0, gateway: gw, ifname: req.ifname, family });
    for (const r of req.routes.filter((r) => r.family === family && r.prefixLen !== 0)) {
      pod.addRoute({ dst: r.dst, prefixLen: r.prefixLen, gateway: gw, ifname: req.ifname });
    }
  }
  for (const a of req.addresses) {
    host.addRoute({ dst: a.ip, prefixLen: bitsOf(a.family), ifname: hostName, scope: 'link' });
  }
  return {
    host: { name: hostName, mac: hostLink.mac, ifindex: hostLink.ifindex },
    pod: { name: req.ifname, mac: podLink.mac, ifindex: podLink.ifindex },
  };
}

/** The precise 103 of a veth that could not be made: the pod's interface, or ours left by an earlier ADD. */
function whichExists(host: Netlink, pod: Netlink, req: WireRequest, hostName: string, detail: string): Error {
  if (pod.getLink(req.ifname) !== null) return errors.interfaceExists(`interface ${req.ifname} already exists in ${req.netnsPath}`);
  if (host.getLink(hostName) !== null) {
    return errors.interfaceExists(
      `host interface ${hostName} for container ${req.containerId}/${req.ifname} already exists`,
      'left by an earlier ADD of the same attachment; DEL it first',
    );
  }
  // A parallel call took a name and gave it back in between.
  return errors.interfaceExists(`interface ${req.ifname} or ${hostName} already exists: ${detail}`);
}

/** Removes the pair by its host end; false when it was already gone. */
export function unwirePod(host: Netlink, a: Owner, onLateError: (err: Error) => void): Promise<boolean> {
  return host.deleteLinkEarly(hostVethName(a), onLateError);
}

function familiesOf(addresses: readonly PodAddress[]): (4 | 6)[] {
  return ([4, 6] as const).filter((f) => addresses.some((a) => a.family === f));
}
