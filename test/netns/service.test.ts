// A pod reaching another pod on this node through a Service: kube-proxy's DNAT lives
// in the host stack, so the reply must go back through the stack to be un-NATed,
// not straight to the client by the BPF redirect. Emulated with the same iptables
// DNAT rule kube-proxy would write for a ClusterIP.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCni, straitConfig } from '../helpers/cni.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, rand, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('Service (DNAT in the host stack) integration test');

const POD_SERVER = fileURLToPath(new URL('../helpers/pod-server.mjs', import.meta.url));
const CLUSTER_IP = '198.18.53.250';

describe.skipIf(!isRoot)('Service traffic between pods of one node', () => {
  const rules: string[][] = [];
  afterAll(() => {
    for (const r of rules) sh('iptables', ['-t', 'nat', '-D', ...r], { allowFail: true });
    cleanupAll();
  });

  it('the client gets the reply from the ClusterIP, through the fast path and the host conntrack', async () => {
    const config = straitConfig({ name: `svc-${rand(2)}`, stateDir: tempDir('svc'), bpfDir: bpffsDir('svc'), v4: '198.18.53.0/24' });
    const [a, b] = [createNetns('svca'), createNetns('svcb')];
    const ips: string[] = [];
    for (const ns of [a, b]) {
      const r = await runCni({ command: 'ADD', config, containerId: `svc-${rand()}`, netns: ns.path });
      expect(r.exitCode, r.stdout).toBe(0);
      ips.push((r.json as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!);
    }
    const rule = ['PREROUTING', '-d', CLUSTER_IP, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${ips[1]}:8080`];
    sh('iptables', ['-t', 'nat', '-A', ...rule]);
    rules.push(rule);

    const server = spawn('ip', ['netns', 'exec', b.name, process.execPath, POD_SERVER, 'svc/b', 'tcp:8080'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => server.stdout.once('data', r));
      const fetch = (host: string, port: number) =>
        spawnSync('ip', ['netns', 'exec', a.name, process.execPath, '-e',
          `const s = require('net').connect(${port}, '${host}'); let d = ''; s.on('data', x => d += x); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', e => { console.log('ERR ' + e.code); process.exit(1); }); setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 3000);`],
          { encoding: 'utf8' });
      // Directly: the redirect both ways.
      expect(fetch(ips[1]!, 8080).stdout.trim()).toBe('svc/b');
      // Through the "Service": request via the stack's DNAT, reply back through it.
      const viaService = fetch(CLUSTER_IP, 80);
      expect(viaService.stdout.trim()).toBe('svc/b');
    } finally {
      server.kill();
    }
  });
});
