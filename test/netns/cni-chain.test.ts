// strait first in a chain: the reference portmap plugin works on its result, and an
// IPAM other than strait's own (the reference host-local) is delegated through
// CNI_PATH as the spec says.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { runCni, straitConfig, REF_PLUGIN_DIR } from '../helpers/cni.js';
import { cleanupAll, portmapChainsGuard, createNetns, hostLinkExists, isRoot, rand, tempDir, warnIfNotRoot, type Netns } from '../helpers/sys.js';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

warnIfNotRoot('CNI chaining integration tests');

/** A TCP server inside the pod that answers every connection with `reply`. */
function podServer(ns: Netns, port: number, reply: string) {
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e',
    `require('net').createServer(s => s.end(${JSON.stringify(reply)})).listen(${port}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((res) => child.stdout.once('data', () => res()));
  return { ready, stop: () => child.kill() };
}

function fetchTcp(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 3000 });
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('timeout', () => s.destroy(new Error('timeout')));
    s.on('error', reject);
  });
}

describe.skipIf(!isRoot)('chaining', () => {
  const restorePortmapChains = isRoot ? portmapChainsGuard() : () => {};
  afterAll(() => {
    cleanupAll();
    restorePortmapChains();
  });

  it('portmap chained after strait forwards a host port to the pod, and DEL removes its rules', async () => {
    const stateDir = tempDir('pm');
    const network = `pm-${rand(2)}`;
    // Debian's reference plugins speak CNI up to 1.0.0.
    const conf = straitConfig({ name: network, cniVersion: '1.0.0', stateDir, v4: '198.18.40.0/24' });
    const ns = createNetns('pm');
    const id = `pm-${rand()}`;
    const add = await runCni({ command: 'ADD', config: conf, containerId: id, netns: ns.path });
    expect(add.exitCode, add.stdout).toBe(0);

    const hostPort = 20000 + Math.floor(Math.random() * 10000);
    const portmapConf = {
      cniVersion: '1.0.0',
      name: network,
      type: 'portmap',
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: { portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp', hostIP: '127.0.0.1' }] },
      prevResult: add.json,
    };
    const pm = await runCni({ command: 'ADD', config: portmapConf, containerId: id, netns: ns.path, bin: join(REF_PLUGIN_DIR, 'portmap') });
    expect(pm.exitCode, pm.stdout + pm.stderr).toBe(0);
    // portmap passes our result through: what it returns is what strait reported.
    expect((pm.json as { ips: unknown[] }).ips).toEqual((add.json as { ips: unknown[] }).ips);

    const server = podServer(ns, 8080, 'hello from the pod');
    try {
      await server.ready;
      expect(await fetchTcp('127.0.0.1', hostPort)).toBe('hello from the pod');
    } finally {
      server.stop();
    }
    const pmDel = await runCni({ command: 'DEL', config: portmapConf, containerId: id, netns: ns.path, bin: join(REF_PLUGIN_DIR, 'portmap') });
    expect(pmDel.exitCode, pmDel.stdout).toBe(0);
    const del = await runCni({ command: 'DEL', config: { ...conf, prevResult: add.json }, containerId: id, netns: ns.path });
    expect(del.exitCode, del.stdout).toBe(0);
    await expect(fetchTcp('127.0.0.1', hostPort)).rejects.toThrow();
  });

  it('delegates IPAM to the reference host-local through CNI_PATH, and DEL releases there', async () => {
    const stateDir = tempDir('hl');
    const dataDir = tempDir('hl-data');
    const network = `hl-${rand(2)}`;
    const conf = straitConfig({
      name: network,
      cniVersion: '1.0.0',
      stateDir,
      ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.41.0/24' }]], dataDir },
    });
    const nss = [createNetns('hl1'), createNetns('hl2')];
    const ids = nss.map(() => `hl-${rand()}`);
    const results: { ips: { address: string }[]; interfaces: { name: string }[] }[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await runCni({ command: 'ADD', config: conf, containerId: ids[i], netns: nss[i]!.path });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      results.push(r.json as { ips: { address: string }[]; interfaces: { name: string }[] });
    }
    const ip1 = results[1]!.ips[0]!.address.split('/')[0]!;
    expect(ip1).toMatch(/^198\.18\.41\./);
    nss[0]!.exec('ping', ['-c', '1', '-W', '2', ip1]);
    const leases = () => readdirSync(join(dataDir, network)).filter((f) => f.startsWith('198.'));
    expect(leases()).toHaveLength(2);
    const chk = await runCni({ command: 'CHECK', config: { ...conf, prevResult: results[0] }, containerId: ids[0], netns: nss[0]!.path });
    expect(chk.exitCode, chk.stdout).toBe(0);
    for (let i = 0; i < 2; i++) {
      expect((await runCni({ command: 'DEL', config: conf, containerId: ids[i], netns: nss[i]!.path })).exitCode).toBe(0);
      expect(hostLinkExists(results[i]!.interfaces[0]!.name)).toBe(false);
    }
    expect(existsSync(join(dataDir, network)) ? leases() : []).toHaveLength(0);

    // A missing IPAM plugin is a config error naming it.
    const missing = await runCni({ command: 'ADD', config: { ...conf, ipam: { type: 'no-such-ipam' } }, containerId: `hl-${rand()}`, netns: nss[0]!.path });
    expect(missing.json).toMatchObject({ code: 7 });
    expect(missing.json!.msg).toMatch(/no-such-ipam/);
  });
});
