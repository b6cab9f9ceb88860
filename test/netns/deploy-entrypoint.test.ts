// deploy/entrypoint.sh run as an emulated node's agent: a network namespace of its own,
// temp dirs standing in for /opt/cni/bin, /etc/cni/net.d, /var/lib/strait, /run/strait
// and the ConfigMap, a private bpffs, and --source dir: (so nothing here depends on the
// kube source). It must install the shim, become ready on its health endpoint only
// with the conflist written, wire a pod ADDed through the installed binary and
// conflist, keep both across a restart, and leave the dirs as they were on --uninstall.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { agentEndpoints } from '../helpers/agent-drill.js';
import { runCni, STRAIT_BIN } from '../helpers/cni.js';
import { bpffsDir, cleanupAll, createNetns, isRoot, onCleanup, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('deploy/entrypoint.sh as a node agent');
afterAll(cleanupAll);

const ENTRYPOINT = fileURLToPath(new URL('../../deploy/entrypoint.sh', import.meta.url));
const NODE = fileURLToPath(new URL('../../tools/node24/bin/node', import.meta.url));
const HEALTH = '127.0.0.1:9876'; // the node namespace's own loopback: no other test shares it

function snapshot(dir: string): Record<string, { data: string; mode: number; ino: number; mtimeMs: number }> {
  return Object.fromEntries(
    readdirSync(dir).sort().map((n) => {
      const st = statSync(join(dir, n));
      return [n, { data: readFileSync(join(dir, n), 'latin1'), mode: st.mode, ino: st.ino, mtimeMs: st.mtimeMs }];
    }),
  );
}

describe.skipIf(!isRoot)('deploy/entrypoint.sh on an emulated node', () => {
  it('installs, becomes ready, serves an ADD through the installed shim, survives a restart, uninstalls exactly', async () => {
    const node = createNetns('deploy');
    const root = tempDir('deploy-node');
    const d = { bin: join(root, 'opt-cni-bin'), conf: join(root, 'etc-cni-net.d'), state: join(root, 'var-lib-strait'), run: join(root, 'run-strait'), config: join(root, 'etc-strait') };
    for (const p of Object.values(d)) mkdirSync(p);
    const manifests = tempDir('deploy-manifests');
    const bpfDir = join(bpffsDir('deploy'), 'strait');
    const socket = join(d.run, 'agent.sock');
    // What a node has before strait: another CNI's config and plugin, which stay as they are.
    writeFileSync(join(d.conf, '99-other.conflist'), '{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"bridge"}]}\n');
    copyFileSync('/usr/lib/cni/loopback', join(d.bin, 'loopback'));
    // The ConfigMap: the template (explicit ranges, test addresses) and the agent's options.
    const template = { cniVersion: '1.1.0', name: 'deploy-test', plugins: [{ type: 'strait', mtu: 1500, ipam: { type: 'strait', ranges: [[{ subnet: '198.18.210.0/24' }]] } }] };
    writeFileSync(join(d.config, '10-strait.conflist'), JSON.stringify(template));
    writeFileSync(join(d.config, 'agent.flags'), '# as the ConfigMap holds them\n--node=n1\n\n  --masquerade=false  \n--log-level=info\n');
    const before = { bin: snapshot(d.bin), conf: snapshot(d.conf) };

    const env = {
      ...process.env,
      STRAIT_CONFIG_DIR: d.config,
      STRAIT_SOURCE: `dir:${manifests}`,
      STRAIT_CNI_BIN_DIR: d.bin,
      STRAIT_CNI_CONF_DIR: d.conf,
      STRAIT_STATE_DIR: d.state,
      STRAIT_BPF_DIR: bpfDir,
      STRAIT_AGENT_SOCKET: socket,
      STRAIT_HEALTH_ADDR: HEALTH,
    };
    const logFile = join(root, 'agent.log');
    let agent: ChildProcess | null = null;
    onCleanup(() => {
      if (agent !== null && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    });
    const start = (): void => {
      const out = openSync(logFile, 'a');
      // ip netns exec execs the entrypoint, which execs the agent: the PID is the agent's.
      agent = spawn('ip', ['netns', 'exec', node.name, ENTRYPOINT], { env, stdio: ['ignore', out, out] });
      closeSync(out);
    };
    const stop = async (): Promise<void> => {
      const a = agent!;
      const exited = new Promise((r) => a.once('exit', r));
      a.kill('SIGTERM');
      await exited;
    };
    const probe = (path: string): { status: number; body: Record<string, unknown> } | null => {
      const js = `fetch('http://${HEALTH}${path}').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })), () => console.log('null'))`;
      const r = spawnSync('ip', ['netns', 'exec', node.name, NODE, '-e', js], { encoding: 'utf8' });
      return JSON.parse(r.stdout || 'null') as { status: number; body: Record<string, unknown> } | null;
    };
    const untilReady = async (): Promise<void> => {
      for (let i = 0; i < 400; i++) {
        if (probe('/readyz')?.status === 200) return;
        if (agent!.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`the agent never became ready:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    };

    start();
    await untilReady();
    expect(probe('/healthz')).toEqual({ status: 200, body: { ok: true } });
    // Ready implies installed: the shim, byte for byte this build's, and the conflist.
    expect(readFileSync(join(d.bin, 'strait')).equals(readFileSync(STRAIT_BIN))).toBe(true);
    expect(statSync(join(d.bin, 'strait')).mode & 0o777).toBe(0o755);
    const conflist = JSON.parse(readFileSync(join(d.conf, '10-strait.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    expect(conflist.plugins[0]).toMatchObject({ type: 'strait', agentSocket: socket, stateDir: d.state, bpfDir });
    expect(snapshot(d.conf)['99-other.conflist']).toEqual(before.conf['99-other.conflist']);

    // A pod, as the runtime adds it: the installed binary, the installed conflist's plugin.
    const pod = createNetns('deploy-pod');
    const config = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };
    const add = await runCni({ command: 'ADD', config, bin: join(d.bin, 'strait'), inNetns: node.name, netns: pod.path, containerId: 'deploy-pod-1' });
    expect(add.exitCode, add.stdout + add.stderr).toBe(0);
    const ip = (add.json as { ips: { address: string }[] }).ips[0]!.address;
    expect(ip).toMatch(/^198\.18\.210\.\d+\/32$/);
    expect(pod.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(ip);
    expect(agentEndpoints(socket)).toBe(1); // the agent served it, not a standalone plugin

    // A restart: the conflist and the shim stay, untouched, and the agent is ready again.
    const installed = { bin: snapshot(d.bin), conf: snapshot(d.conf) };
    await stop();
    expect({ bin: snapshot(d.bin), conf: snapshot(d.conf) }).toEqual(installed);
    start();
    await untilReady();
    expect({ bin: snapshot(d.bin), conf: snapshot(d.conf) }).toEqual(installed);
    const del = await runCni({ command: 'DEL', config, bin: join(d.bin, 'strait'), inNetns: node.name, netns: pod.path, containerId: 'deploy-pod-1' });
    expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    await stop();

    const un = spawnSync('ip', ['netns', 'exec', node.name, ENTRYPOINT, '--uninstall'], { env, encoding: 'utf8' });
    expect(un.status, un.stdout + un.stderr).toBe(0);
    expect({ bin: snapshot(d.bin), conf: snapshot(d.conf) }).toEqual(before);
    expect(readdirSync(d.state)).not.toContain('cni-install.json');
  });

  it('refuses to start when the pin dir is not on a bpffs (pins would die with the container)', () => {
    const root = tempDir('deploy-nobpffs');
    const r = spawnSync(ENTRYPOINT, [], { env: { ...process.env, STRAIT_CONFIG_DIR: root, STRAIT_BPF_DIR: join(root, 'bpf', 'strait'), STRAIT_SOURCE: `dir:${root}` }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is on \S+, not a bpf filesystem: mount one on the host first/);
  });
});
