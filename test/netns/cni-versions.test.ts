// The real bin/strait, run as a runtime runs it, for every supported cniVersion:
// result shape, the wiring it leaves in the kernel, real packets between pods, and
// a DEL that removes everything (twice, and once without a netns).
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCni, straitConfig } from '../helpers/cni.js';
import { cleanupAll, createNetns, hostLinkExists, hostRoutes, isRoot, rand, tempDir, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('CNI version integration tests');

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

interface Added {
  ns: Netns;
  containerId: string;
  result: Record<string, unknown>;
}

function leaseFiles(stateDir: string, network: string): string[] {
  const dir = join(stateDir, 'ipam', network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^[0-9a-f.:_]+$/i.test(f) && (f.includes('.') || f.includes('_')) && !f.startsWith('last_reserved'));
}

describe.skipIf(!isRoot)('bin/strait across CNI versions', () => {
  afterAll(() => cleanupAll());

  VERSIONS.forEach((cniVersion, i) => {
    it(`ADD, traffic, DEL, DEL again for cniVersion ${cniVersion}`, async () => {
      const stateDir = tempDir('ver');
      const network = `ver${i}-${rand(2)}`;
      const config = straitConfig({
        name: network,
        cniVersion,
        stateDir,
        v4: `198.18.${10 + i}.0/24`,
        v6: `fd5a:${10 + i}::/64`,
        extra: { mtu: 1400 },
      });
      const pods: Added[] = [];
      for (const p of ['a', 'b']) {
        const ns = createNetns(`v${i}${p}`);
        const containerId = `ver-${cniVersion}-${p}-${rand()}`;
        const r = await runCni({ command: 'ADD', config, containerId, netns: ns.path, ifname: 'eth0' });
        expect(r.exitCode, r.stdout + r.stderr).toBe(0);
        pods.push({ ns, containerId, result: r.json! });
      }
      const [a, b] = pods as [Added, Added];

      // Result shape of this version.
      const res = a.result as {
        cniVersion: string;
        interfaces: { name: string; mac: string; sandbox?: string; mtu?: number }[];
        ips: { address: string; version?: string; interface: number; gateway: string }[];
        routes: { dst: string; gw: string }[];
      };
      expect(res.cniVersion).toBe(cniVersion);
      expect(res.interfaces).toHaveLength(2);
      expect(res.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: a.ns.path });
      expect(res.interfaces[1]!.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(res.interfaces[1]!.mtu).toBe(cniVersion === '1.1.0' ? 1400 : undefined);
      expect(res.ips).toHaveLength(2);
      const v4 = res.ips.find((x) => !x.address.includes(':'))!;
      const v6 = res.ips.find((x) => x.address.includes(':'))!;
      expect(v4.address).toMatch(new RegExp(`^198\\.18\\.${10 + i}\\.\\d+/32$`));
      expect(v6.address).toMatch(/\/128$/);
      expect(v4.gateway).toBe('169.254.1.1');
      expect(v6.gateway).toBe('fe80::1');
      expect(v4.interface).toBe(1);
      if (cniVersion.startsWith('0.')) {
        expect(v4.version).toBe('4');
        expect(v6.version).toBe('6');
      } else {
        expect(v4.version).toBeUndefined();
      }
      expect(res.routes).toEqual(
        expect.arrayContaining([
          { dst: '0.0.0.0/0', gw: '169.254.1.1' },
          { dst: '::/0', gw: 'fe80::1' },
        ]),
      );

      // What the kernel holds: pod side, host side.
      const ip4 = v4.address.split('/')[0]!;
      const ip6 = v6.address.split('/')[0]!;
      const link = JSON.parse(a.ns.exec('ip', ['-j', 'addr', 'show', 'dev', 'eth0'])) as {
        mtu: number;
        addr_info: { local: string; prefixlen: number }[];
      }[];
      expect(link[0]!.mtu).toBe(1400);
      expect(link[0]!.addr_info).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ local: ip4, prefixlen: 32 }),
          expect.objectContaining({ local: ip6, prefixlen: 128 }),
        ]),
      );
      expect(a.ns.exec('ip', ['-4', 'route'])).toMatch(/default via 169\.254\.1\.1 dev eth0/);
      expect(a.ns.exec('ip', ['-6', 'route'])).toMatch(/default via fe80::1 dev eth0/);
      expect(a.ns.exec('ip', ['neigh', 'show', '169.254.1.1'])).toMatch(/PERMANENT/);
      const hostVeth = res.interfaces[0]!.name;
      expect(hostVeth.length).toBeLessThanOrEqual(15);
      expect(hostLinkExists(hostVeth)).toBe(true);
      expect(hostRoutes(4)).toContain(`${ip4} dev ${hostVeth}`);
      expect(hostRoutes(6)).toContain(`${ip6} dev ${hostVeth}`);

      // Real packets both ways, both families.
      const bIps = (b.result as typeof res).ips.map((x) => x.address.split('/')[0]!);
      for (const dst of bIps) a.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', dst]);
      b.ns.exec('ping', ['-c', '1', '-W', '2', ip4]);
      b.ns.exec('ping', ['-c', '1', '-W', '2', ip6]);
      expect(leaseFiles(stateDir, network)).toHaveLength(4);

      // DEL twice: the second finds nothing and still succeeds. Pod b's DEL comes
      // without a netns, as containerd's second DEL does.
      for (const p of pods) {
        const netns = p === b ? '' : p.ns.path;
        for (let n = 0; n < 2; n++) {
          const r = await runCni({ command: 'DEL', config, containerId: p.containerId, netns, ifname: 'eth0' });
          expect(r.exitCode, r.stdout + r.stderr).toBe(0);
          expect(r.stdout.trim()).toBe('');
        }
        expect(hostLinkExists((p.result as typeof res).interfaces[0]!.name)).toBe(false);
        expect(p.ns.exec('ip', ['link', 'show'])).not.toContain('eth0');
      }
      expect(hostRoutes(4)).not.toContain(ip4);
      expect(leaseFiles(stateDir, network)).toHaveLength(0);
    });
  });
});
