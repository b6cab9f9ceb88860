// VXLAN mode on the emulated cluster (two nodes, two pods each): pod traffic across
// nodes through the collect_md device strait_vxlan, encapsulated by from_pod and
// decapsulated by from_tunnel (counted STAT_TUNNEL_TX / STAT_TUNNEL_RX), and the MTU
// limit: a pod whose link is wider than the tunnel (1500 over 1450) gets ICMP
// "fragmentation needed" / "packet too big" back for a packet that cannot fit, never
// a black hole, and a bulk TCP transfer finds the path MTU and completes.
import { describe, expect, it } from 'vitest';
import { counter, iperf, ping, probe } from '../../src/lab/checks.js';

import { POD_PORT, UPLINK_MTU, VXLAN_OVERHEAD } from '../../src/lab/topology.js';
import { spawnSync } from 'node:child_process';
import { pluginConfig } from '../../src/lab/cni.js';
import { podFile, podObject } from '../../src/lab/manifests.js';
import { inNetns, NODE, POD_TOOL } from '../../src/lab/run.js';
import { runCni } from '../helpers/cni.js';
import { useLab } from '../helpers/lab-drill.js';
import { createNetns, isRoot, rand, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('cross-node drills in VXLAN mode (emulated cluster)');

const TUNNEL_MTU = UPLINK_MTU - VXLAN_OVERHEAD;

interface Link {
  ifindex: number;
  ifname: string;
  mtu: number;
  link_index?: number;
  linkinfo?: { info_kind?: string; info_data?: { port?: number; external?: boolean } };
}

describe.skipIf(!isRoot)('cross-node drills (VXLAN)', () => {
  const lab = useLab({ nodes: 2, podsPerNode: 2, routing: 'vxlan', prefix: 'v' });
  const links = (where: { pod: string } | { node: number }, dev?: string): Link[] =>
    JSON.parse(lab().exec(where, 'ip', ['-d', '-j', 'link', 'show', ...(dev === undefined ? [] : ['dev', dev])]).stdout || '[]') as Link[];

  it('each node has one collect_md strait_vxlan on UDP 8472 with the uplink MTU less 50, and its pods that MTU', () => {
    for (const i of [1, 2]) {
      const [dev] = links({ node: i }, 'strait_vxlan');
      expect(dev?.mtu).toBe(TUNNEL_MTU);
      expect(dev?.linkinfo).toMatchObject({ info_kind: 'vxlan', info_data: { port: 8472, external: true } });
      for (const pod of lab().podsOf(i)) expect(links({ pod: pod.name }, 'eth0')[0]?.mtu).toBe(TUNNEL_MTU);
    }
  });

  it('a conflist that names no MTU gets the MTU of the tunnel device (the uplink less 50), as the agent configured it', async () => {
    const node = lab().node(1);
    const { mtu, ...config } = pluginConfig(node);
    expect(mtu).toBe(TUNNEL_MTU); // the lab's own conflist says it; this one does not
    const ns = createNetns('vxmtu');
    const containerId = `vxmtu-${rand()}`;
    const call = { config, containerId, netns: ns.path, inNetns: node.netns, args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=mtu-probe' };
    const add = await runCni({ command: 'ADD', ...call });
    try {
      expect(add.exitCode, add.stdout + add.stderr).toBe(0);
      const result = add.json as { interfaces: { sandbox?: string; mtu?: number }[] };
      expect(result.interfaces.find((i) => i.sandbox !== undefined)?.mtu).toBe(TUNNEL_MTU);
      const eth0 = JSON.parse(ns.exec('ip', ['-j', 'link', 'show', 'dev', 'eth0'])) as { mtu: number }[];
      expect(eth0[0]?.mtu).toBe(TUNNEL_MTU);
    } finally {
      const del = await runCni({ command: 'DEL', ...call });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    }
  });

  it('a new pod the receiving node has no address for yet is judged by the label set and namespace its VNI names', async () => {
    const cl = lab();
    const target = cl.pod('n2-a');
    const [ip] = target.ips;
    // A pod on n1 whose Pod object has no status.podIPs yet: n2 knows its labels
    // (the Pod object) but not its address, as when the watch has not caught up.
    const fresh = async (name: string, labels: Record<string, string>) => {
      cl.writeManifest(podFile(name), podObject({ name, node: 1, labels, ips: [] }, POD_PORT));
      cl.waitSynced();
      const ns = createNetns(`vx${name}`);
      const call = { config: pluginConfig(cl.node(1)), containerId: `vx-${name}-${rand()}`, netns: ns.path, inNetns: cl.node(1).netns, args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=${name}` };
      const add = await runCni({ command: 'ADD', ...call });
      expect(add.exitCode, add.stdout + add.stderr).toBe(0);
      const probeFrom = (): boolean => {
        const [cmd, args] = inNetns(ns.name, NODE, [POD_TOOL, 'probe', ip!, String(POD_PORT), '1500']);
        const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
        return r.status === 0 && r.stdout.trim() === target.name;
      };
      return { probeFrom, del: () => runCni({ command: 'DEL', ...call }) };
    };
    const policy = (from: object): object => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { namespace: 'lab', name: 'n2-a-in' },
      spec: { podSelector: { matchLabels: { pod: 'n2-a' } }, ingress: [{ from: [from] }] },
    });
    const client = await fresh('vni-client', { role: 'client' });
    const stranger = await fresh('vni-stranger', { role: 'stranger' });
    try {
      cl.writeManifest('policy-vni.json', policy({ podSelector: { matchLabels: { role: 'client' } } }));
      cl.waitSynced();
      expect(client.probeFrom(), 'the label set the policy allows, named by the VNI').toBe(true);
      expect(stranger.probeFrom(), 'another label set').toBe(false);
      // A rule that names only the namespace: the namespace identity travels too.
      cl.writeManifest('policy-vni.json', policy({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'lab' } } }));
      cl.waitSynced();
      expect(stranger.probeFrom(), 'any pod of namespace lab').toBe(true);
    } finally {
      cl.removeManifest('policy-vni.json');
      for (const p of [client, stranger]) expect((await p.del()).exitCode).toBe(0);
      for (const name of ['vni-client', 'vni-stranger']) cl.removeManifest(podFile(name));
    }
  });

  it('pod to pod across nodes, ping and TCP over IPv4 and IPv6 both ways, through the tunnel programs', () => {
    const cl = lab();
    for (const [src, dst, from, to] of [['n1-a', 'n2-a', 1, 2], ['n2-a', 'n1-a', 2, 1]] as const) {
      for (const ip of cl.pod(dst).ips) {
        const [tx, rx] = [counter(cl, from, 'STAT_TUNNEL_TX'), counter(cl, to, 'STAT_TUNNEL_RX')];
        expect(ping(cl, { pod: src }, ip).ok, `${src} -> ${dst} ping ${ip}`).toBe(true);
        expect(probe(cl, { pod: src }, ip), `${src} -> ${dst} TCP ${ip}`).toBe(dst);
        expect(counter(cl, from, 'STAT_TUNNEL_TX') - tx, `${ip} encapsulated by n${from}`).toBeGreaterThanOrEqual(4n);
        expect(counter(cl, to, 'STAT_TUNNEL_RX') - rx, `${ip} decapsulated by n${to}`).toBeGreaterThanOrEqual(4n);
      }
    }
  });

  it('a pod wider than the tunnel gets "frag needed" / "packet too big" (mtu 1450) back, and bulk TCP finds the path MTU', async () => {
    const cl = lab();
    // A pod configured for 1500 (both ends of its veth, as a wrong conflist would): only the tunnel is narrower.
    const [eth0] = links({ pod: 'n1-a' }, 'eth0');
    const peer = links({ node: 1 }).find((l) => l.ifindex === eth0?.link_index);
    expect(peer, 'the host end of n1-a').toBeDefined();
    for (const [where, dev] of [[{ pod: 'n1-a' }, 'eth0'], [{ node: 1 }, peer!.ifname]] as const) {
      expect(cl.exec(where, 'ip', ['link', 'set', 'dev', dev, 'mtu', String(UPLINK_MTU)]).status).toBe(0);
    }
    const [v4, v6] = cl.pod('n2-a').ips as [string, string];
    // What fits the tunnel exactly passes with DF set; 50 bytes more comes back as ICMP.
    const df = (ip: string, payload: number) => cl.exec({ pod: 'n1-a' }, 'ping', ['-c', '1', '-W', '2', '-M', 'do', '-s', String(payload), ip]);
    expect(df(v4, TUNNEL_MTU - 28).status, 'v4 at the tunnel MTU').toBe(0);
    expect(df(v6, TUNNEL_MTU - 48).status, 'v6 at the tunnel MTU').toBe(0);
    const big4 = df(v4, UPLINK_MTU - 28);
    expect(big4.stdout + big4.stderr).toMatch(new RegExp(`Frag needed and DF set \\(mtu = ${TUNNEL_MTU}\\)`));
    const big6 = df(v6, UPLINK_MTU - 48);
    expect(big6.stdout + big6.stderr).toMatch(new RegExp(`Packet too big: mtu=${TUNNEL_MTU}`));
    // Another destination (no path MTU learnt yet): TCP starts with 1460-byte segments and must learn 1450.
    for (const ip of cl.pod('n2-b').ips) {
      const bps = await iperf(cl, { pod: 'n1-a' }, { pod: 'n2-b' }, ip, 1);
      expect(bps, ip).toBeGreaterThan(1_000_000);
    }
  });
});
