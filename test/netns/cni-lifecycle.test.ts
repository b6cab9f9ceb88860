// Lifecycle behaviour a runtime relies on, through the real bin/strait: VERSION with
// junk variables, 32 parallel ADDs, CHECK finding drift, GC freeing leaks, STATUS,
// and an ADD killed half-way cleaned up by the next DEL (through the agent: the shim
// killed while the agent works).
import { afterAll, describe, expect, it } from 'vitest';
import { agentMode } from '../helpers/cni-agents.js';
import { runCni, spawnCni, straitConfig } from '../helpers/cni.js';
import { cleanupAll, createNetns, deleteNetns, hostLinkExists, hostRoutes, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';
import { leaseCount } from '../helpers/leases.js';
import { listEndpointRecords } from '../../src/state/endpoint-record.js';

warnIfNotRoot('CNI lifecycle integration tests');

const hostVethOf = (r: Record<string, unknown> | null): string =>
  ((r as { interfaces: { name: string }[] }).interfaces[0]!).name;
const podIp = (r: Record<string, unknown> | null, n = 0): string =>
  (r as { ips: { address: string }[] }).ips[n]!.address.split('/')[0]!;

describe('VERSION', () => {
  it('answers with podman-style dummy variables and any stdin version', async () => {
    const r = await runCni({
      command: 'VERSION',
      config: { cniVersion: '0.4.0' },
      env: { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' },
    });
    expect(r.exitCode).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
});

describe.skipIf(!isRoot)('lifecycle', () => {
  afterAll(() => cleanupAll());

  it('32 parallel ADDs from separate processes get 32 distinct addresses', async () => {
    const stateDir = tempDir('par');
    const network = `par-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.20.0/24', v6: 'fd5a:20::/64' });
    const pods = Array.from({ length: 32 }, (_, i) => ({ ns: createNetns(`p${i}`), id: `par-${i}-${rand()}` }));
    const replies = await Promise.all(
      pods.map((p) => runCni({ command: 'ADD', config, containerId: p.id, netns: p.ns.path })),
    );
    for (const r of replies) expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const v4 = new Set(replies.map((r) => podIp(r.json, 0)));
    const v6 = new Set(replies.map((r) => podIp(r.json, 1)));
    expect(v4.size).toBe(32);
    expect(v6.size).toBe(32);
    expect(leaseCount(stateDir, network)).toBe(64);
    // Pod 0 reaches pod 31: the addresses are not only distinct but wired.
    pods[0]!.ns.exec('ping', ['-c', '1', '-W', '2', podIp(replies[31]!.json)]);
    const dels = await Promise.all(
      pods.map((p) => runCni({ command: 'DEL', config, containerId: p.id, netns: p.ns.path })),
    );
    for (const r of dels) expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(leaseCount(stateDir, network)).toBe(0);
    for (const r of replies) expect(hostLinkExists(hostVethOf(r.json))).toBe(false);
    for (const p of pods) deleteNetns(p.ns);
  });

  it('CHECK passes on a healthy attachment and names a deleted route, address or lease', async () => {
    const stateDir = tempDir('chk');
    const network = `chk-${rand(2)}`;
    const base = straitConfig({ name: network, stateDir, v4: '198.18.21.0/24' });
    const ns = createNetns('chk');
    const id = `chk-${rand()}`;
    const add = await runCni({ command: 'ADD', config: base, containerId: id, netns: ns.path });
    expect(add.exitCode, add.stdout).toBe(0);
    const config = { ...base, prevResult: add.json };
    const check = () => runCni({ command: 'CHECK', config, containerId: id, netns: ns.path });

    expect((await check()).exitCode).toBe(0);

    const ip = podIp(add.json);
    const veth = hostVethOf(add.json);
    sh('ip', ['route', 'del', `${ip}/32`, 'dev', veth]);
    let r = await check();
    expect(r.exitCode).toBe(1);
    expect(r.json).toMatchObject({ code: 107 });
    expect(r.json!.msg).toMatch(new RegExp(`host route to ${ip.replace(/\./g, '\\.')} via ${veth} is missing`));
    sh('ip', ['route', 'add', `${ip}/32`, 'dev', veth, 'scope', 'link']);
    expect((await check()).exitCode).toBe(0);

    ns.exec('ip', ['route', 'del', 'default']);
    r = await check();
    expect(r.json!.msg).toMatch(/default route via 169\.254\.1\.1 is missing/);
    ns.exec('ip', ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);

    ns.exec('ip', ['addr', 'del', `${ip}/32`, 'dev', 'eth0']);
    r = await check();
    expect(r.json!.msg).toMatch(new RegExp(`address ${ip.replace(/\./g, '\\.')} is missing on eth0`));
    // Removing the last address also flushed the routes through eth0: restore all.
    ns.exec('ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    ns.exec('ip', ['route', 'replace', '169.254.1.1/32', 'dev', 'eth0', 'scope', 'link']);
    ns.exec('ip', ['route', 'replace', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    r = await check();
    expect(r.exitCode, r.stdout).toBe(0);

    // The lease goes missing (as if GC'd by mistake): CHECK says so.
    const gc = await runCni({ command: 'GC', config: { ...base, 'cni.dev/valid-attachments': [] } });
    expect(gc.exitCode, gc.stdout).toBe(0);
    r = await check();
    expect(r.exitCode).toBe(1);
    expect(r.json!.msg).toMatch(/interface eth0 is missing|lease/);

    // CHECK is not part of CNI 0.3.x.
    r = await runCni({ command: 'CHECK', config: { ...config, cniVersion: '0.3.1' }, containerId: id, netns: ns.path });
    expect(r.json).toMatchObject({ code: 1 });
    await runCni({ command: 'DEL', config: base, containerId: id, netns: ns.path });
  });

  it('GC releases every lease and veth not in cni.dev/valid-attachments, keeping the valid one working', async () => {
    const stateDir = tempDir('gc');
    const network = `gc-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.22.0/24' });
    const pods = ['a', 'b', 'c'].map((n) => ({ ns: createNetns(`gc${n}`), id: `gc-${n}-${rand()}` }));
    const added = [];
    for (const p of pods) {
      const r = await runCni({ command: 'ADD', config, containerId: p.id, netns: p.ns.path });
      expect(r.exitCode, r.stdout).toBe(0);
      added.push(r.json);
    }
    expect(leaseCount(stateDir, network)).toBe(3);
    const keep = pods[0]!;
    for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
      const r = await runCni({ command: 'GC', config: { ...config, [key]: [{ containerID: keep.id, ifname: 'eth0' }] } });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    }
    expect(leaseCount(stateDir, network)).toBe(1);
    expect(hostLinkExists(hostVethOf(added[0]!))).toBe(true);
    expect(hostLinkExists(hostVethOf(added[1]!))).toBe(false);
    expect(hostLinkExists(hostVethOf(added[2]!))).toBe(false);
    expect(hostRoutes(4)).not.toContain(podIp(added[1]!));
    // The released addresses are free again: a new ADD can get them.
    const again = await runCni({
      command: 'ADD',
      config: { ...config, runtimeConfig: { ips: [`${podIp(added[1]!)}/24`] } },
      containerId: `gc-new-${rand()}`,
      netns: pods[1]!.ns.path,
    });
    expect(again.exitCode, again.stdout).toBe(0);
    expect(podIp(again.json)).toBe(podIp(added[1]!));
    // An empty list releases everything of this network, the new ADD included.
    await runCni({ command: 'GC', config: { ...config, 'cni.dev/valid-attachments': [] } });
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(hostLinkExists(hostVethOf(added[0]!))).toBe(false);
    expect(hostLinkExists(hostVethOf(again.json))).toBe(false);
  });

  it('GC releases the leases and records of an earlier boot, even ones the runtime lists as valid', async () => {
    const stateDir = tempDir('gcb');
    const network = `gcb-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.25.0/24' });
    const ns = createNetns('gcb');
    const id = `gcb-${rand()}`;
    const add = await runCni({ command: 'ADD', config, containerId: id, netns: ns.path, extraEnv: { STRAIT_BOOT_ID: 'boot-1' } });
    expect(add.exitCode, add.stdout).toBe(0);
    const valid = { ...config, 'cni.dev/valid-attachments': [{ containerID: id, ifname: 'eth0' }] };
    expect((await runCni({ command: 'GC', config: valid, extraEnv: { STRAIT_BOOT_ID: 'boot-1' } })).exitCode).toBe(0);
    expect(leaseCount(stateDir, network)).toBe(1);
    expect(listEndpointRecords(stateDir)).toHaveLength(1);
    // The machine rebooted (as far as strait can tell): nothing of boot-1 can be alive.
    expect((await runCni({ command: 'GC', config: valid, extraEnv: { STRAIT_BOOT_ID: 'boot-2' } })).exitCode).toBe(0);
    expect(leaseCount(stateDir, network)).toBe(0);
    expect(listEndpointRecords(stateDir)).toEqual([]);
    await runCni({ command: 'DEL', config, containerId: id, netns: ns.path, extraEnv: { STRAIT_BOOT_ID: 'boot-2' } });
    expect(hostLinkExists(hostVethOf(add.json))).toBe(false);
  });

  it('STATUS answers 0 with room left and 50 when the pool is exhausted', async () => {
    const stateDir = tempDir('st');
    const network = `st-${rand(2)}`;
    const config = straitConfig({
      name: network,
      stateDir,
      ipam: { type: 'strait', ranges: [[{ subnet: '198.18.23.0/24', rangeStart: '198.18.23.10', rangeEnd: '198.18.23.10' }]] },
    });
    expect((await runCni({ command: 'STATUS', config })).exitCode).toBe(0);
    const ns = createNetns('st');
    const id = `st-${rand()}`;
    expect((await runCni({ command: 'ADD', config, containerId: id, netns: ns.path })).exitCode).toBe(0);
    const st = await runCni({ command: 'STATUS', config });
    expect(st.exitCode).toBe(1);
    expect(st.json).toMatchObject({ code: 50 });
    expect(st.json!.msg).toMatch(/198\.18\.23/);
    expect((await runCni({ command: 'STATUS', config: { ...config, cniVersion: '1.0.0' } })).json).toMatchObject({ code: 1 });
    await runCni({ command: 'DEL', config, containerId: id, netns: ns.path });
  });

  it('an ADD killed at any point is cleaned up by the next DEL', async () => {
    const stateDir = tempDir('kill');
    const network = `kill-${rand(2)}`;
    const config = straitConfig({ name: network, stateDir, v4: '198.18.24.0/24', v6: 'fd5a:24::/64' });
    const ns = createNetns('kill');
    let killedMidway = 0;
    let agentWorkedOn = 0;
    // Standalone, bin/strait does the ADD itself for some 100 ms; through the agent it
    // only waits on it, some 15 ms, while the agent goes on without it.
    const delays = agentMode ? [0, 1, 2, 3, 5, 7, 10, 13, 16, 20, 40] : [40, 80, 120, 160, 200, 240, 280, 320, 400, 600];
    for (const delayMs of delays) {
      const id = `kill-${delayMs}-${rand()}`;
      const child = spawnCni({ command: 'ADD', config, containerId: id, netns: ns.path });
      child.stderr.resume();
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
      await new Promise((res) => setTimeout(res, delayMs));
      child.kill('SIGKILL');
      const code = await exited;
      if (code === null && out === '') {
        killedMidway++;
        if (leaseCount(stateDir, network) > 0) agentWorkedOn++; // the ADD went on after its caller died
      }
      const del = await runCni({ command: 'DEL', config, containerId: id, netns: ns.path });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect(leaseCount(stateDir, network)).toBe(0);
      expect(listEndpointRecords(stateDir)).toEqual([]);
      expect(ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
    }
    expect(sh('ip', ['-o', 'link', 'show']).match(/alias strait\/kill-/g)).toBeNull();
    expect(killedMidway).toBeGreaterThan(0);
    if (agentMode) expect(agentWorkedOn).toBeGreaterThan(0);
  });
});
