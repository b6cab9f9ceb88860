// A MAC address the runtime asks for (podman --mac-address sends CNI_ARGS MAC=,
// others runtimeConfig.mac) is the pod interface's: in the pod, in the result, and
// in the endpoint map the fast path checks source MACs against.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCni, straitConfig, fileBpffs } from '../helpers/cni.js';
import { leaseCount } from '../helpers/leases.js';
import { cleanupAll, createNetns, isRoot, rand, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('CNI MAC integration tests');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));

interface AddResult {
  interfaces: { name: string; mac: string; sandbox?: string }[];
  ips: { address: string }[];
}

describe.skipIf(!isRoot)('requested MAC addresses', () => {
  afterAll(() => cleanupAll());

  it('CNI_ARGS MAC= and runtimeConfig.mac (which wins) set the pod MAC the fast path then checks', async () => {
    const stateDir = tempDir('mac');
    const network = `mac-${rand(2)}`;
    const base = straitConfig({ name: network, stateDir, v4: '198.18.42.0/24', v6: 'fd5a:42::/64' });
    const [a, b] = [createNetns('maca'), createNetns('macb')];
    const [idA, idB] = [`mac-a-${rand()}`, `mac-b-${rand()}`];

    const addA = await runCni({
      command: 'ADD',
      config: base,
      containerId: idA,
      netns: a.path,
      args: 'IgnoreUnknown=1;K8S_POD_NAME=a;MAC=02:AA:00:00:42:01',
    });
    expect(addA.exitCode, addA.stdout).toBe(0);
    // Go-style key, as containerd spells it; it wins over CNI_ARGS.
    const addB = await runCni({
      command: 'ADD',
      config: { ...base, runtimeConfig: { Mac: '02:aa:00:00:42:02' } },
      containerId: idB,
      netns: b.path,
      args: 'IgnoreUnknown=1;MAC=02:aa:00:00:42:99',
    });
    expect(addB.exitCode, addB.stdout).toBe(0);

    for (const [ns, add, mac] of [[a, addA, '02:aa:00:00:42:01'], [b, addB, '02:aa:00:00:42:02']] as const) {
      const pod = (add.json as unknown as AddResult).interfaces.find((i) => i.sandbox !== undefined)!;
      expect(pod.mac).toBe(mac);
      expect(ns.exec('cat', ['/sys/class/net/eth0/address']).trim()).toBe(mac);
    }
    const rows = JSON.parse(
      execFileSync(STRAITCTL, ['endpoints', '--bpf-dir', fileBpffs(), '--state-dir', stateDir, '-o', 'json'], { encoding: 'utf8' }),
    ) as { containerId: string; podMac: string }[];
    expect(rows.filter((r) => r.containerId === idA).map((r) => r.podMac)).toEqual(['02:aa:00:00:42:01', '02:aa:00:00:42:01']);

    // Anti-spoofing compares the source MAC with the map: traffic flows both ways.
    const ipOf = (add: typeof addA, n: number) => (add.json as unknown as AddResult).ips[n]!.address.split('/')[0]!;
    a.exec('ping', ['-c', '1', '-W', '2', ipOf(addB, 0)]);
    b.exec('ping', ['-c', '1', '-W', '2', ipOf(addA, 1)]);

    for (const [id, ns] of [[idA, a], [idB, b]] as const) {
      expect((await runCni({ command: 'DEL', config: base, containerId: id, netns: ns.path })).exitCode).toBe(0);
    }
    expect(leaseCount(stateDir, network)).toBe(0);
  });

  it('a MAC no interface can have is refused before anything is made', async () => {
    const stateDir = tempDir('macbad');
    const network = `macbad-${rand(2)}`;
    const base = straitConfig({ name: network, stateDir, v4: '198.18.42.0/24' });
    const ns = createNetns('macbad');
    const multicast = await runCni({ command: 'ADD', config: base, containerId: `m-${rand()}`, netns: ns.path, args: 'MAC=01:00:5e:00:00:01' });
    expect(multicast.json).toMatchObject({ code: 4 });
    expect(multicast.json!.msg).toMatch(/multicast/);
    const garbage = await runCni({
      command: 'ADD',
      config: { ...base, runtimeConfig: { mac: 'not-a-mac' } },
      containerId: `m-${rand()}`,
      netns: ns.path,
    });
    expect(garbage.json).toMatchObject({ code: 7 });
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(ns.exec('ip', ['-o', 'link', 'show']).split('\n').filter(Boolean)).toHaveLength(1); // lo only
  });
});
