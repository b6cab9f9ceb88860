// Bad input through the real bin/strait: each gets its precise CNI code and a
// message naming the problem, and leaves no lease, interface or route behind.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { agentEnv } from '../helpers/cni-agents.js';
import { runCni, straitConfig, STRAIT_BIN } from '../helpers/cni.js';
import { cleanupAll, createNetns, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';
import { leaseCount } from '../helpers/leases.js';

warnIfNotRoot('CNI error-path integration tests');

function vethsWithAlias(network: string): number {
  return sh('ip', ['-o', 'link', 'show']).split('\n').filter((l) => l.includes(`alias strait/${network}/`)).length;
}

function rawCall(stdin: string, env: Record<string, string>): Promise<{ code: number; json: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const child = spawn(STRAIT_BIN, [], { env: { PATH: process.env.PATH, ...agentEnv(), ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, json: JSON.parse(out) as Record<string, unknown> }));
    child.stdin.end(stdin);
  });
}

describe('errors before any system change', () => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };

  it('malformed JSON is a decode error (6)', async () => {
    const r = await rawCall('{"cniVersion": "1.0.0",', env);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 6 });
    expect(r.json.cniVersion).toBe('1.1.0');
  });

  it('missing variables are code 4, naming every one', async () => {
    const r = await rawCall('{}', { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' });
    expect(r.json).toMatchObject({ code: 4 });
    expect(r.json.msg).toMatch(/CNI_CONTAINERID/);
    expect(r.json.msg).toMatch(/CNI_NETNS/);
  });

  it('a bad container ID and a bad interface name are code 4', async () => {
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'strait', ipam: { type: 'strait', ranges: [[{ subnet: '198.18.30.0/24' }]] } });
    expect((await rawCall(conf, { ...env, CNI_CONTAINERID: '-bad/id' })).json).toMatchObject({ code: 4 });
    expect((await rawCall(conf, { ...env, CNI_IFNAME: 'way-too-long-name0' })).json).toMatchObject({ code: 4 });
  });

  it('wrong types and impossible CIDRs are config errors (7), errors carry the config version', async () => {
    const mk = (ipam: unknown, extra: object = {}) =>
      JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 'strait', ipam, ...extra });
    let r = await rawCall(mk({ type: 'strait', ranges: [[{ subnet: '198.18.30.0/33' }]] }), env);
    expect(r.json).toMatchObject({ code: 7, cniVersion: '0.4.0' });
    expect(r.json.msg).toMatch(/198\.18\.30\.0\/33/);
    r = await rawCall(mk({ type: 'strait', ranges: [[{ subnet: '198.18.30.0/24' }], [{ subnet: '198.18.30.128/25' }]] }), env);
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.json.msg).toMatch(/overlap/i);
    r = await rawCall(mk({ type: 'strait', ranges: [[{ subnet: '198.18.30.0/24' }]] }, { mtu: 'big' }), env);
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.json.msg).toMatch(/mtu/);
  });

  it('unknown top-level keys are refused with code 2', async () => {
    const r = await rawCall(
      JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'strait', ipam: { type: 'strait', ranges: [[{ subnet: '198.18.30.0/24' }]] }, bridge: 'br0' }),
      env,
    );
    expect(r.json).toMatchObject({ code: 2 });
    expect(r.json.msg).toMatch(/bridge/);
  });

  it('an unsupported cniVersion is code 1', async () => {
    const r = await rawCall(JSON.stringify({ cniVersion: '0.2.0', name: 'n', type: 'strait', ipam: { type: 'strait' } }), env);
    expect(r.json).toMatchObject({ code: 1 });
  });
});

describe.skipIf(!isRoot)('errors after ADD has started leave nothing behind', () => {
  afterAll(() => cleanupAll());

  it('a missing netns and a path that is not a network namespace', async () => {
    const stateDir = tempDir('err');
    const network = `err-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.31.0/24' });
    for (const netns of [`/run/netns/strait-missing-${rand()}`, '/etc/hostname', '/proc/self/ns/mnt']) {
      const r = await runCni({ command: 'ADD', config, containerId: `err-${rand()}`, netns });
      expect(r.exitCode).toBe(1);
      expect(r.json).toMatchObject({ code: 104 });
      expect(r.json!.msg).toContain(netns);
    }
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(vethsWithAlias(network)).toBe(0);
  });

  it('an interface that already exists in the pod', async () => {
    const stateDir = tempDir('err');
    const network = `exi-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.32.0/24' });
    const ns = createNetns('exists');
    ns.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const r = await runCni({ command: 'ADD', config, containerId: `exi-${rand()}`, netns: ns.path });
    expect(r.json).toMatchObject({ code: 103 });
    expect(r.json!.msg).toMatch(/eth0 already exists/);
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(vethsWithAlias(network)).toBe(0);
    // The pod's own eth0 is untouched.
    expect(ns.exec('ip', ['-o', 'link', 'show', 'eth0'])).toMatch(/eth0@other0/);
  });

  it('an exhausted pool (101), a requested address in use or out of range (102)', async () => {
    const stateDir = tempDir('err');
    const network = `exh-${rand(2)}`;
    const config = straitConfig({
      name: network,
      stateDir,
      ipam: { type: 'strait', ranges: [[{ subnet: '198.18.33.0/24', rangeStart: '198.18.33.10', rangeEnd: '198.18.33.11' }]] },
    });
    const nss = [createNetns('ex1'), createNetns('ex2'), createNetns('ex3')];
    const ids = nss.map(() => `exh-${rand()}`);
    const first = await runCni({ command: 'ADD', config, containerId: ids[0], netns: nss[0]!.path, args: 'IgnoreUnknown=1;IP=198.18.33.11' });
    expect(first.exitCode, first.stdout).toBe(0);
    expect((first.json as { ips: { address: string }[] }).ips[0]!.address).toBe('198.18.33.11/32');

    let r = await runCni({ command: 'ADD', config, containerId: ids[1], netns: nss[1]!.path, args: 'IP=198.18.33.11' });
    expect(r.json).toMatchObject({ code: 102 });
    r = await runCni({ command: 'ADD', config: { ...config, runtimeConfig: { IPs: ['198.18.34.5/24'] } }, containerId: ids[1], netns: nss[1]!.path });
    expect(r.json).toMatchObject({ code: 102 });
    expect(r.json!.msg).toMatch(/198\.18\.34\.5/);

    expect((await runCni({ command: 'ADD', config, containerId: ids[1], netns: nss[1]!.path })).exitCode).toBe(0);
    r = await runCni({ command: 'ADD', config, containerId: ids[2], netns: nss[2]!.path });
    expect(r.json).toMatchObject({ code: 101 });
    expect(r.json!.msg).toMatch(/198\.18\.33/);
    expect(nss[2]!.exec('ip', ['link', 'show'])).not.toContain('eth0');
    expect(leaseCount(stateDir, network)).toBe(2);
    expect(vethsWithAlias(network)).toBe(2);
    for (let i = 0; i < 2; i++) await runCni({ command: 'DEL', config, containerId: ids[i], netns: nss[i]!.path });
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(vethsWithAlias(network)).toBe(0);
  });
});
