// Puts an endpoint on the eBPF fast path: the pinned programs on both directions of
// its host veth, then its addresses into the endpoint map. Programs go first, so the
// pod's packets are dropped (not in the map: not its address) until its entries
// exist.
import * as bpf from '../datapath/bpf.js';
import { deleteEndpoint, deleteEndpointsWhere, writeEndpoint } from '../datapath/endpoints.js';
import { openDatapath, type Datapath } from '../datapath/loader.js';
import { EP_F_READY } from '../datapath/maps/endpoints.js';
import type { Rollback } from '../util/rollback.js';
import type { NetConf } from './config.js';
import type { Wired, PodAddress } from './wiring.js';

export function withDatapath<T>(conf: NetConf, fn: (dp: Datapath) => T): T {
  const dp = openDatapath({ bpfDir: conf.paths.bpfDir, stateDir: conf.paths.stateDir });
  try {
    return fn(dp);
  } finally {
    dp.close();
  }
}

/**
 * `ready`: without an agent no policy applies and the entries are ready at once; with
 * one, they wait for the agent to write the policy and set READY (fail closed).
 */
export function attachEndpoint(
  dp: Datapath,
  wired: Wired,
  addresses: readonly PodAddress[],
  rollback: Rollback,
  opts: { ready: boolean },
): void {
  const ifindex = wired.host.ifindex;
  bpf.tcAttach(ifindex, 'ingress', dp.programs.fromPod, { replace: true });
  bpf.tcAttach(ifindex, 'egress', dp.programs.toPod, { replace: true });
  for (const a of addresses) {
    writeEndpoint(dp.maps.endpoints, {
      family: a.family,
      ip: a.ip,
      ifindex,
      flags: opts.ready ? EP_F_READY : 0,
      podMac: wired.pod.mac,
      hostMac: wired.host.mac,
      identity: 0,
    });
    rollback.add(`endpoint map entry ${a.ip}`, () => deleteEndpoint(dp.maps.endpoints, a.family, a.ip));
  }
}

/** Entries of one host veth (DEL), or of every veth that no longer exists (GC). */
export function removeEndpoints(dp: Datapath, pred: (ifindex: number) => boolean): number {
  return deleteEndpointsWhere(dp.maps.endpoints, (e) => pred(e.ifindex));
}
