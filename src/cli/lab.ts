// `straitctl lab`: strait's main job on one machine. Three pods as network
// namespaces, added through the real bin/strait exactly as a runtime would, then
// ping between them, a short iperf3 between two, the datapath's counters showing
// the traffic took the BPF redirect, and everything removed again.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StraitError } from '../errors.js';
import { readCounters } from './drops.js';

function redirected(bpfDir: string): bigint {
  const row = readCounters(bpfDir)?.find((r) => r.name === 'STAT_REDIRECT_PEER');
  return row === undefined ? 0n : BigInt(row.packets);
}

const STRAIT = fileURLToPath(new URL('../../bin/strait', import.meta.url));
const V4 = '198.18.100.0/24';
const V6 = 'fd5a:1ab::/64';

interface Pod {
  name: string;
  netns: string;
  containerId: string;
  ips: string[];
}

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });

function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new StraitError('E_COMMAND', `${cmd} ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

function cni(command: string, pod: Pod, config: object): Record<string, unknown> | null {
  const r = spawnSync(STRAIT, [], {
    input: JSON.stringify(config),
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: `/run/netns/${pod.netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=${pod.name}`,
    },
  });
  const out = r.stdout.trim() === '' ? null : (JSON.parse(r.stdout) as Record<string, unknown>);
  if (r.status !== 0) throw new StraitError('E_COMMAND', `strait ${command} ${pod.name}: ${JSON.stringify(out)} ${r.stderr}`);
  return out;
}

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

export async function lab(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('straitctl lab needs root: it creates network namespaces and veth pairs');
    return 1;
  }
  const tag = randomBytes(3).toString('hex');
  const stateDir = mkdtempSync(join(tmpdir(), 'strait-lab-'));
  // Its own pin dir (the plugin mounts a bpffs there), so the lab leaves nothing pinned.
  const bpfDir = mkdtempSync(join(tmpdir(), 'strait-lab-bpf-'));
  const config = {
    cniVersion: '1.1.0',
    name: `lab-${tag}`,
    type: 'strait',
    mtu: 1500,
    stateDir,
    bpfDir,
    ipam: { type: 'strait', ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] },
  };
  const pods: Pod[] = ['a', 'b', 'c'].map((n) => ({
    name: `pod-${n}`,
    netns: `strait-lab-${n}-${tag}`,
    containerId: `lab-${tag}-${n}`,
    ips: [],
  }));
  const added: Pod[] = [];
  let failed = false;
  try {
    console.log(bold(`strait lab: 3 pods on ${V4} and ${V6}`));
    for (const pod of pods) {
      must('ip', ['netns', 'add', pod.netns]);
      must('ip', ['-n', pod.netns, 'link', 'set', 'lo', 'up']);
      const t0 = performance.now();
      const result = cni('ADD', pod, config);
      added.push(pod);
      const ips = (result?.ips as { address: string }[] | undefined) ?? [];
      pod.ips = ips.map((i) => i.address.split('/')[0]!);
      console.log(`  ${pod.name}  netns ${pod.netns}  ${pod.ips.join('  ')}  (ADD ${(performance.now() - t0).toFixed(0)} ms)`);
    }

    console.log(bold('ping between every pair'));
    for (const src of pods) {
      for (const dst of pods) {
        if (src === dst) continue;
        for (const ip of dst.ips) {
          const r = sh('ip', ['netns', 'exec', src.netns, 'ping', '-c', '1', '-W', '2', ip]);
          const rtt = /time=([\d.]+ ms)/.exec(r.stdout)?.[1];
          const ok = r.status === 0;
          failed ||= !ok;
          console.log(`  ${src.name} -> ${dst.name} ${ip.padEnd(22)} ${ok ? `ok  ${rtt ?? ''}` : 'FAILED'}`);
        }
      }
    }

    const [a, b] = pods as [Pod, Pod, Pod];
    console.log(bold(`iperf3 TCP, ${a.name} -> ${b.name}, 3 s`));
    const before = redirected(bpfDir);
    const bps = await iperf(a, b);
    const after = redirected(bpfDir);
    console.log(`  ${(bps / 1e9).toFixed(2)} Gbit/s`);

    console.log(bold('datapath counters'));
    const rows = readCounters(bpfDir) ?? [];
    for (const r of rows.filter((r) => r.kind === 'forward' || r.packets !== '0')) {
      console.log(`  ${r.kind.padEnd(8)} ${r.name.padEnd(22)} ${r.packets.padStart(10)} packets  ${r.description}`);
    }
    if (!rows.some((r) => r.kind === 'drop' && r.packets !== '0')) console.log('  drop     (none: no packet was dropped)');
    const viaBpf = after - before;
    console.log(
      viaBpf > 0n
        ? `  fast path: ${viaBpf} packets of the iperf3 run went pod to pod through the BPF redirect (bpf_redirect_peer), not the host stack`
        : '  fast path NOT taken: no packet was redirected by BPF during iperf3',
    );
    failed ||= viaBpf === 0n;
  } catch (err) {
    failed = true;
    console.error(`lab failed: ${(err as Error).message}`);
  } finally {
    for (const pod of added.reverse()) {
      try {
        cni('DEL', pod, config);
      } catch (err) {
        failed = true;
        console.error((err as Error).message);
      }
    }
    for (const pod of pods) sh('ip', ['netns', 'del', pod.netns]);
    rmSync(stateDir, { recursive: true, force: true });
    sh('umount', ['-l', bpfDir]);
    rmSync(bpfDir, { recursive: true, force: true });
    console.log(bold(failed ? 'lab FAILED; everything removed' : 'done; everything removed'));
  }
  return failed ? 1 : 0;
}

async function iperf(client: Pod, server: Pod): Promise<number> {
  const srv = spawn('ip', ['netns', 'exec', server.netns, 'iperf3', '-s', '-1', '-B', server.ips[0]!], {
    stdio: 'ignore',
  });
  try {
    // The server needs a moment to listen; retry the client briefly instead of sleeping blindly.
    for (let attempt = 0; ; attempt++) {
      const r = sh('ip', ['netns', 'exec', client.netns, 'iperf3', '-J', '-t', '3', '-c', server.ips[0]!]);
      if (r.status === 0) {
        const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
        return j.end.sum_received.bits_per_second;
      }
      if (attempt >= 20) throw new StraitError('E_COMMAND', `iperf3 failed: ${r.stdout.slice(0, 300)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    srv.kill();
  }
}
