// The lab's wires: the underlay bridge in its own netns, and a host (node or the
// outside) joined to it by a veth whose far end is a bridge port. Nothing is made in
// the machine's own network namespace, so nothing of the lab can clash with its links.
import { must } from './run.js';
import { UNDERLAY_PREFIX, UPLINK, UPLINK_MTU, type NodeAddresses } from './topology.js';

const BRIDGE = 'br0';

export function addNetns(name: string): void {
  must('ip', ['netns', 'add', name]);
  must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export function createBridge(underlay: string): void {
  must('ip', ['-n', underlay, 'link', 'add', BRIDGE, 'mtu', String(UPLINK_MTU), 'type', 'bridge']);
  must('ip', ['-n', underlay, 'link', 'set', BRIDGE, 'up']);
}

/**
 * Gives `host` its uplink eth0 on the bridge with `addrs` (/24, /64; no DAD: the lab
 * owns the whole underlay, and a tentative address would only delay the first packet).
 * `port` names the bridge's end, unique within the underlay.
 */
export function attachToUnderlay(underlay: string, host: string, port: string, addrs: NodeAddresses, dualStack: boolean): void {
  must('ip', ['-n', host, 'link', 'add', UPLINK, 'mtu', String(UPLINK_MTU), 'type', 'veth', 'peer', 'name', port, 'netns', underlay]);
  must('ip', ['-n', underlay, 'link', 'set', port, 'master', BRIDGE, 'up']);
  must('ip', ['-n', host, 'addr', 'add', `${addrs.v4}/${UNDERLAY_PREFIX.v4}`, 'dev', UPLINK]);
  if (dualStack) must('ip', ['-n', host, 'addr', 'add', `${addrs.v6}/${UNDERLAY_PREFIX.v6}`, 'dev', UPLINK, 'nodad']);
  must('ip', ['-n', host, 'link', 'set', UPLINK, 'up']);
}
