// Restart and upgrade: forwarding needs no running process, and loading a newer
// build of the BPF objects swaps the programs on every endpoint atomically while a
// TCP stream between two pods keeps flowing through the fast path.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as bpf from '../../src/datapath/bpf.js';
import { listLinks } from '../../src/datapath/endpoints.js';
import { MapName } from '../../src/datapath/maps/index.js';
import { runCni, straitConfig } from '../helpers/cni.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('datapath reload integration test');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
const BPF_SRC = fileURLToPath(new URL('../../bpf', import.meta.url));

const progIdOn = (dev: string, dir: 'ingress' | 'egress'): string =>
  /\bid (\d+)/.exec(sh('tc', ['filter', 'show', 'dev', dev, dir]))?.[1] ?? 'none';

describe.skipIf(!isRoot)('datapath reload', () => {
  afterAll(() => cleanupAll());

  it('a newer build replaces the programs on every endpoint while a TCP stream keeps flowing', async () => {
    const stateDir = tempDir('rl');
    const bpfDir = bpffsDir('rl');
    const config = straitConfig({ name: `rl-${rand(2)}`, stateDir, bpfDir, v4: '198.18.51.0/24' });
    const [a, b] = [createNetns('rla'), createNetns('rlb')];
    const added: { ips: { address: string }[]; interfaces: { name: string }[] }[] = [];
    for (const ns of [a, b]) {
      const r = await runCni({ command: 'ADD', config, containerId: `rl-${rand()}`, netns: ns.path });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      added.push(r.json as { ips: { address: string }[]; interfaces: { name: string }[] });
    }
    const bIp = added[1]!.ips[0]!.address.split('/')[0]!;
    const vethA = added[0]!.interfaces[0]!.name;
    const vethB = added[1]!.interfaces[0]!.name;
    const idsBefore = [progIdOn(vethA, 'ingress'), progIdOn(vethB, 'egress')];

    // A newer build: the same sources compiled with other debug info, so other bytes.
    const newer = tempDir('rl-obj');
    sh('make', ['-s', '-C', BPF_SRC, `OUT=${newer}`, 'CLANG=clang -gdwarf-4']);

    sh('ip', ['netns', 'exec', b.name, 'iperf3', '-s', '-1', '-D', '-B', bIp]);
    await new Promise((r) => setTimeout(r, 300));
    const client = spawn('ip', ['netns', 'exec', a.name, 'iperf3', '-c', bIp, '-t', '4', '-i', '0.5', '-J'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    client.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((res) => client.on('close', res));

    await new Promise((r) => setTimeout(r, 1500));
    const reload = spawnSync(STRAITCTL, ['reload', '--objects', newer, '--bpf-dir', bpfDir, '--state-dir', stateDir, '-o', 'json'], { encoding: 'utf8' });
    expect(reload.status, reload.stderr).toBe(0);
    const idsAfter = [progIdOn(vethA, 'ingress'), progIdOn(vethB, 'egress')];

    expect(await done).toBe(0);
    const report = JSON.parse(out) as { error?: string; intervals: { sum: { bytes: number } }[]; end: { sum_sent: { retransmits: number } } };
    expect(report.error).toBeUndefined();
    // Every half second of the stream moved data: no stall around the swap.
    expect(report.intervals.length).toBeGreaterThanOrEqual(7);
    for (const iv of report.intervals) expect(iv.sum.bytes).toBeGreaterThan(0);

    expect(idsAfter[0]).not.toBe(idsBefore[0]);
    expect(idsAfter[1]).not.toBe(idsBefore[1]);
    expect(idsAfter).not.toContain('none');
    // Only the newer build's programs stay pinned; the maps (state) were kept.
    const pins = sh('ls', [bpfDir]).split('\n').filter((x) => x !== '');
    expect(pins.filter((p) => p.startsWith('progs-'))).toHaveLength(1);
    expect(pins).toContain('strait_endpoints_v1');
    // No process of ours runs now, and the pods still talk through the new programs.
    a.exec('ping', ['-c', '1', '-W', '2', bIp]);
  });

  it('an upgrade from a build without strait_links_v1 gives every endpoint its link entry before to_pod needs it', async () => {
    const stateDir = tempDir('rl2');
    const bpfDir = bpffsDir('rl2');
    const config = straitConfig({ name: `rl2-${rand(2)}`, stateDir, bpfDir, v4: '198.18.52.0/24' });
    const ns = createNetns('rl2');
    const r = await runCni({ command: 'ADD', config, containerId: `rl2-${rand()}`, netns: ns.path });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const added = r.json as { ips: { address: string }[]; interfaces: { name: string }[] };
    const ip = added.ips[0]!.address.split('/')[0]!;
    const ifindex = Number(sh('cat', [`/sys/class/net/${added.interfaces[0]!.name}/ifindex`]).trim());

    // What a build from before the link map leaves pinned: endpoints, and no strait_links_v1.
    rmSync(join(bpfDir, MapName.links));
    const newer = tempDir('rl2-obj');
    sh('make', ['-s', '-C', BPF_SRC, `OUT=${newer}`, 'CLANG=clang -gdwarf-4']);
    const reload = spawnSync(STRAITCTL, ['reload', '--objects', newer, '--bpf-dir', bpfDir, '--state-dir', stateDir], { encoding: 'utf8' });
    expect(reload.status, reload.stderr).toBe(0);

    const fd = bpf.getPinned(join(bpfDir, MapName.links));
    expect(fd).not.toBeNull();
    try {
      expect(listLinks(fd!)).toEqual([{ ifindex, family: 4, ip }]);
    } finally {
      bpf.closeFd(fd!);
    }
    // The host still reaches the pod through the new to_pod.
    sh('ping', ['-c', '1', '-W', '2', ip]);
  });
});
