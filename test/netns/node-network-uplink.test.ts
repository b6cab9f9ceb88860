// The node network's uplink (src/agent/node-network-effects.ts findUplink), in a
// namespace of its own: the interface that holds one of the node's InternalIPs, or
// the one --uplink names; never a pod's veth; null when there is none.
import { afterAll, describe, expect, it } from 'vitest';
import { findUplink } from '../../src/agent/node-network-effects.js';
import { cleanupAll, createNetns, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('node network uplink test');

describe.skipIf(!isRoot)('findUplink', () => {
  afterAll(() => cleanupAll());

  it('finds the interface by address (IPv4 or IPv6) or by name, with its ifindex and MTU', () => {
    const ns = createNetns('upl');
    // veth pairs inside the namespace (no dummy module here); the peers hold nothing
    ns.exec('ip', ['link', 'add', 'eth0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'eth0p']);
    ns.exec('ip', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p']);
    ns.exec('ip', ['link', 'add', 'st0123456789abc', 'type', 'veth', 'peer', 'name', 'podp']);
    ns.exec('ip', ['link', 'set', 'st0123456789abc', 'alias', 'strait/strait/c1/eth0']);
    ns.exec('ip', ['addr', 'add', '198.18.0.77/32', 'dev', 'st0123456789abc']); // a pod veth never counts
    ns.exec('ip', ['addr', 'add', '198.18.0.11/24', 'dev', 'eth0']);
    ns.exec('ip', ['addr', 'add', 'fd5a:0:0:1::12/64', 'dev', 'eth1', 'nodad']);
    const ifindex = (name: string): number => Number(ns.exec('cat', [`/sys/class/net/${name}/ifindex`]).trim());

    expect(findUplink(['198.18.0.11', 'fd5a:0:0:1::11'], null, ns.path)).toEqual({ name: 'eth0', ifindex: ifindex('eth0'), mtu: 9000 });
    expect(findUplink(['fd5a:0:0:1::12'], null, ns.path)).toEqual({ name: 'eth1', ifindex: ifindex('eth1'), mtu: 1500 });
    expect(findUplink(['198.18.0.11'], 'eth1', ns.path)?.name).toBe('eth1');
    expect(findUplink(['198.18.0.77'], null, ns.path)).toBeNull();
    expect(findUplink(['198.18.0.99'], null, ns.path)).toBeNull();
    expect(findUplink([], 'ens9', ns.path)).toBeNull();
  });
});
