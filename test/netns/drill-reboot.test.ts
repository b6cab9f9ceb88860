// Drill: a node reboots. Simulated as a new node namespace (so ifindexes start again
// from 2, and the new pods' veths get exactly the ifindexes the old records name), a
// new bpffs, a new boot ID, and the old state dir kept. Then, as containerd does after
// a reboot, the runtime DELs the pre-reboot sandboxes with an empty CNI_NETNS (all but
// one it has forgotten) and GCs. The new pods' entries, policy and connectivity must
// be untouched, and nothing of the old boot left: no lease, no record.
//
// One old pod is "pre-upgrade": its record and lease carry no boot ID (strait before
// boot stamping wrote them), so only matching by the live veth's name keeps its DEL,
// and the restarted agent, off the new pod that now has its ifindex.
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentRequest } from '../../src/agent/client.js';
import * as bpf from '../../src/datapath/bpf.js';
import { listEndpoints, type EndpointEntry } from '../../src/datapath/endpoints.js';
import { EP_F_INGRESS_ISOLATED, EP_F_READY } from '../../src/datapath/maps/endpoints.js';
import { MapName } from '../../src/datapath/maps/names.js';
import { listEndpointRecords } from '../../src/state/endpoint-record.js';
import { DiskStore } from '../../src/ipam/disk-store.js';
import { Cluster, type ClusterPod } from '../helpers/cluster.js';
import { runCni } from '../helpers/cni.js';
import { cleanupAll, createNetns, deleteNetns, isRoot, rand, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('reboot drill');

const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const NAMES = ['web', 'client', 'other'];
const manifests = {
  namespaces: list([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'r', labels: { ns: 'r' } } }]),
  pods: list(NAMES.map((name) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'r', name, labels: { app: name } }, spec: { containers: [{ name: 'c' }] } }))),
  policy: list([
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { namespace: 'r', name: 'web-from-client' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] },
    },
  ]),
};

function endpointEntries(bpfDir: string): EndpointEntry[] {
  const fd = bpf.getPinned(join(bpfDir, MapName.endpoints))!;
  try {
    return listEndpoints(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

const leases = (c: Cluster) => new DiskStore(join(c.stateDir, 'ipam', c.network), { lock: () => {}, unlock: () => {} }).list();

/** Rewrites a pod's record and lease files as strait before boot stamping wrote them. */
function unstamp(c: Cluster, pod: ClusterPod): void {
  const files = [
    ...readdirSync(join(c.stateDir, 'endpoints', c.network)).map((f) => join(c.stateDir, 'endpoints', c.network, f)),
    ...readdirSync(join(c.stateDir, 'ipam', c.network)).filter((f) => /^\d/.test(f)).map((f) => join(c.stateDir, 'ipam', c.network, f)),
  ];
  for (const f of files) {
    const o = JSON.parse(readFileSync(f, 'utf8')) as { containerId: string; bootId?: string };
    if (o.containerId !== pod.containerId) continue;
    delete o.bootId;
    writeFileSync(f, JSON.stringify(o));
  }
}

async function expectPolicyHolds(c: Cluster): Promise<void> {
  const [web, client, other] = NAMES.map((n) => c.pod(`r/${n}`));
  expect(
    await c.probe([
      { from: client!, to: web!, proto: 'tcp', port: 80 },
      { from: other!, to: web!, proto: 'tcp', port: 80 },
      { from: web!, to: other!, proto: 'tcp', port: 80 },
    ]),
  ).toEqual([true, false, true]);
}

describe.skipIf(!isRoot)('drill: reboot', () => {
  const boots: Cluster[] = [];
  afterAll(async () => {
    for (const c of boots.reverse()) await c.stop();
    cleanupAll();
  });

  it('DELs of pre-reboot containers leave the new pods, their policy and traffic intact, and no old state', async () => {
    const before = new Cluster('198.18.95.0/24', { node: createNetns('boot1'), env: { STRAIT_BOOT_ID: `boot-1-${rand()}` } });
    boots.push(before);
    before.write('namespaces.yaml', manifests.namespaces);
    before.write('pods.yaml', manifests.pods);
    before.write('policy.yaml', manifests.policy);
    await before.startAgent();
    for (const name of NAMES) await before.addPod({ namespace: 'r', name, labels: {} }, ['tcp:80']);
    await before.waitSynced();
    await expectPolicyHolds(before);
    const old = listEndpointRecords(before.stateDir);
    expect(old).toHaveLength(3);
    unstamp(before, before.pod('r/client'));

    // Power cut: every process, namespace and pin of the old boot goes; the state dir stays.
    before.crash();
    boots.pop();
    for (const p of before.pods) deleteNetns(p.netns);
    const bootId = `boot-2-${rand()}`;
    const after = new Cluster('198.18.95.0/24', { node: createNetns('boot2'), env: { STRAIT_BOOT_ID: bootId }, rebootOf: before });
    boots.push(after);
    await after.startAgent();
    for (const name of NAMES) await after.addPod({ namespace: 'r', name, labels: {} }, ['tcp:80']);
    await after.waitSynced();
    const added = listEndpointRecords(after.stateDir).filter((r) => r.bootId === bootId);
    // The drill means something only if the new veths have the old records' ifindexes.
    expect(added.map((r) => r.ifindex).sort()).toEqual(old.map((r) => r.ifindex).sort());

    // The new boot's ADDs reclaimed the old boot's stamped leases and records; only the
    // pre-upgrade pod's, which carry no boot ID, wait for its DEL.
    const preUpgrade = before.pod('r/client').containerId;
    expect(listEndpointRecords(after.stateDir).filter((r) => r.bootId !== bootId).map((r) => r.containerId)).toEqual([preUpgrade]);
    expect(leases(after).filter((l) => l.bootId !== bootId).map((l) => l.containerId)).toEqual([preUpgrade]);

    // A restarted agent must not adopt the pre-upgrade record for the new pod with its ifindex.
    await after.stopAgent();
    await after.startAgent();
    const status = (await agentRequest(after.socket, 'GET', '/v1/status')).json as { endpoints: number };
    expect(status.endpoints).toBe(3);

    // The runtime DELs two of the old sandboxes (the pre-upgrade one among them) and
    // forgets the third; then GCs with the new pods as the valid attachments.
    const entriesBefore = endpointEntries(after.bpfDir);
    for (const r of old.filter((x) => x.k8s.name !== 'web')) {
      const del = await runCni({ command: 'DEL', config: after.config(), containerId: r.containerId, netns: '', ...after.cniRun });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    }
    const valid = after.pods.map((p) => ({ containerID: p.containerId, ifname: 'eth0' }));
    const gc = await runCni({ command: 'GC', config: { ...after.config(), 'cni.dev/valid-attachments': valid }, ...after.cniRun });
    expect(gc.exitCode, gc.stdout + gc.stderr).toBe(0);

    // The new pods' entries are all still there, ready, web still isolated; policy and traffic hold.
    const entries = endpointEntries(after.bpfDir);
    expect(entries).toEqual(entriesBefore);
    for (const r of added) {
      const e = entries.find((x) => x.ip === r.addresses[0]);
      expect(e?.ifindex).toBe(r.ifindex);
      expect((e!.flags & EP_F_READY) !== 0).toBe(true);
      expect((e!.flags & EP_F_INGRESS_ISOLATED) !== 0).toBe(r.k8s.name === 'web');
    }
    await expectPolicyHolds(after);

    // Nothing of the old boot remains: every lease and record is a new pod's.
    const mine = new Set(after.pods.map((p) => p.containerId));
    expect(leases(after).map((l) => l.containerId).filter((id) => !mine.has(id))).toEqual([]);
    expect(leases(after).every((l) => l.bootId === bootId)).toBe(true);
    expect(listEndpointRecords(after.stateDir).map((r) => r.containerId).sort()).toEqual([...mine].sort());
  });
});
