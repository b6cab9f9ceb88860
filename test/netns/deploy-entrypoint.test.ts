// deploy/entrypoint.sh run as an emulated node's agent: a network namespace of its own,
// temp dirs standing in for /opt/cni/bin, /etc/cni/net.d, /var/lib/strait, /run/strait
// and the ConfigMap, a private bpffs, and --source dir: (so nothing here depends on the
// kube source). It must install the shim, become ready on its health endpoint only
// with the conflist written, wire a pod ADDed through the installed binary and
// conflist, keep both across a restart, and leave the dirs as they were on --uninstall.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentEndpoints } from '../helpers/agent-drill.js';
import { runCni, STRAIT_BIN } from '../helpers/cni.js';
import { ENTRYPOINT, EntrypointAgent, entrypointDirs, entrypointEnv, snapshot } from '../helpers/entrypoint-node.js';
import { cleanupAll, createNetns, isRoot, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('deploy/entrypoint.sh as a node agent');
afterAll(cleanupAll);

describe.skipIf(!isRoot)('deploy/entrypoint.sh on an emulated node', () => {
  it('installs, becomes ready, serves an ADD through the installed shim, survives a restart, uninstalls exactly', async () => {
    const node = createNetns('deploy');
    const d = entrypointDirs('deploy');
    const { bpfDir, socket } = d;
    const manifests = tempDir('deploy-manifests');
    // What a node has before strait: another CNI's config and plugin, which stay as they are.
    writeFileSync(join(d.conf, '99-other.conflist'), '{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"bridge"}]}\n');
    copyFileSync('/usr/lib/cni/loopback', join(d.bin, 'loopback'));
    // The ConfigMap: the template (explicit ranges, test addresses) and the agent's options.
    const template = { cniVersion: '1.1.0', name: 'deploy-test', plugins: [{ type: 'strait', mtu: 1500, ipam: { type: 'strait', ranges: [[{ subnet: '198.18.210.0/24' }]] } }] };
    writeFileSync(join(d.config, '10-strait.conflist'), JSON.stringify(template));
    writeFileSync(join(d.config, 'agent.flags'), '# as the ConfigMap holds them\n--node=n1\n\n  --masquerade=false  \n--log-level=info\n');
    const before = { bin: snapshot(d.bin), conf: snapshot(d.conf) };

    const agent = new EntrypointAgent(node, entrypointEnv(d, `dir:${manifests}`), d.root);
    const probe = (path: string): ReturnType<EntrypointAgent['probe']> => agent.probe(path);

    agent.start();
    await agent.untilReady();
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
    await agent.stop();
    expect({ bin: snapshot(d.bin), conf: snapshot(d.conf) }).toEqual(installed);
    agent.start();
    await agent.untilReady();
    expect({ bin: snapshot(d.bin), conf: snapshot(d.conf) }).toEqual(installed);
    const del = await runCni({ command: 'DEL', config, bin: join(d.bin, 'strait'), inNetns: node.name, netns: pod.path, containerId: 'deploy-pod-1' });
    expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    await agent.stop();

    const un = agent.uninstall();
    expect(un.status, un.output).toBe(0);
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
