// deploy/entrypoint.sh exactly as the DaemonSet runs it: STRAIT_SOURCE=kube with the
// in-cluster config (KUBERNETES_SERVICE_HOST/PORT and the service account's ca.crt,
// token and namespace at /var/run/secrets/kubernetes.io/serviceaccount, in a private
// mount namespace so the host's /run is untouched), against the API emulation in a
// netns of its own behind the node's uplink, serving https with a CA made here and
// asking for the token. The ConfigMap is deploy/strait.yaml's, verbatim (its template
// has no ranges: Kubernetes IPAM mode, the Node's spec.podCIDRs), and the node's name
// comes from STRAIT_NODE_NAME as the DaemonSet's downward API gives it. Not ready and nothing installed while the API fails;
// then ready with the shim and conflist installed, pods ADDed through them get
// addresses from the podCIDR, a NetworkPolicy written to the API is enforced, and
// --uninstall leaves the dirs as they were.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCni } from '../helpers/cni.js';
import { EntrypointAgent, entrypointDirs, entrypointEnv, snapshot } from '../helpers/entrypoint-node.js';
import { LabApi } from '../helpers/kube-api-lab.js';
import { cleanupAll, createNetns, isRoot, onCleanup, rand, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('deploy/entrypoint.sh on --source kube');
afterAll(cleanupAll);

const NODE_IP = '198.18.213.1';
const API_IP = '198.18.213.2';
const POD_CIDR = '198.18.214.0/24';
const MANIFEST = fileURLToPath(new URL('../../deploy/strait.yaml', import.meta.url));

/** The ConfigMap's data in deploy/strait.yaml: what the DaemonSet mounts at /etc/strait. */
function configMapData(): Record<string, string> {
  const docs = parseAllDocuments(readFileSync(MANIFEST, 'utf8')).map((d) => d.toJS() as { kind?: string; data?: Record<string, string> } | null);
  const cm = docs.find((d) => d?.kind === 'ConfigMap');
  if (cm?.data === undefined) throw new Error(`${MANIFEST} holds no ConfigMap with data`);
  return cm.data;
}

/** A CA and a server certificate for API_IP signed by it (openssl, as kubeadm's PKI would be). */
function makePki(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=strait-test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=kube-apiserver', '-keyout', f('server.key'), '-out', f('server.csr'));
  writeFileSync(f('ext'), `subjectAltName=IP:${API_IP}\n`);
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('ext'), '-out', f('server.crt'));
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

/**
 * Inside the node's netns: a private mount namespace whose /run is a temp dir
 * holding the host's /run/netns (the pods' netns files, made before) and the
 * service account's files, then the entrypoint.
 */
const inPrivateRun = (fakeRun: string) => (entrypoint: string): string[] => [
  'unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', 'mount --rbind /run/netns "$0/netns" && mount --rbind "$0" /run && exec "$@"', fakeRun, entrypoint,
];

describe.skipIf(!isRoot)('deploy/entrypoint.sh as the DaemonSet runs it (--source kube, in-cluster config)', () => {
  it('becomes ready and installs only once synced, serves Kubernetes IPAM, enforces a NetworkPolicy from the API, uninstalls exactly', async () => {
    const node = createNetns('dk-node');
    const apiNs = createNetns('dk-api');
    const link = `dk${rand(3)}`;
    node.exec('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`, 'netns', apiNs.name]);
    node.exec('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', link]);
    node.exec('ip', ['link', 'set', link, 'up']);
    apiNs.exec('ip', ['addr', 'add', `${API_IP}/24`, 'dev', `${link}p`]);
    apiNs.exec('ip', ['link', 'set', `${link}p`, 'up']);
    apiNs.exec('ip', ['link', 'set', 'lo', 'up']);

    const pki = makePki(tempDir('dk-pki'));
    const token = rand(16);
    const fakeRun = tempDir('dk-run');
    const saDir = join(fakeRun, 'secrets/kubernetes.io/serviceaccount');
    mkdirSync(join(fakeRun, 'netns'));
    mkdirSync(saDir, { recursive: true });
    copyFileSync(pki.ca, join(saDir, 'ca.crt'));
    writeFileSync(join(saDir, 'token'), token);
    writeFileSync(join(saDir, 'namespace'), 'kube-system');
    const tokenFile = join(tempDir('dk-token'), 'token');
    writeFileSync(tokenFile, token);

    const api = await LabApi.spawn({ netns: apiNs.name, dir: tempDir('dk-api'), listen: `${API_IP}:443`, args: ['--tls-cert', pki.cert, '--tls-key', pki.key, '--token-file', tokenFile] });
    onCleanup(() => void api.stop());
    await api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } } });
    await api.apply({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: { podCIDR: POD_CIDR, podCIDRs: [POD_CIDR] },
      status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] },
    });

    const d = entrypointDirs('dk');
    writeFileSync(join(d.conf, '99-other.conflist'), '{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"bridge"}]}\n');
    copyFileSync('/usr/lib/cni/loopback', join(d.bin, 'loopback'));
    // The ConfigMap as deploy/strait.yaml ships it: a template with no ranges, and the agent's options.
    const data = configMapData();
    expect(Object.keys(data).sort()).toEqual(['10-strait.conflist', 'agent.flags']);
    expect(JSON.stringify(JSON.parse(data['10-strait.conflist']!))).not.toContain('ranges');
    for (const [file, text] of Object.entries(data)) writeFileSync(join(d.config, file), text);
    const before = { bin: snapshot(d.bin), conf: snapshot(d.conf) };
    // Pods' netns exist before the agent's private mount namespace copies /run/netns.
    const pods = [createNetns('dk-pod-a'), createNetns('dk-pod-b')];

    // What the kubelet gives a pod (the service's address) and the DaemonSet its container (no KUBECONFIG).
    const env = entrypointEnv(d, 'kube', { STRAIT_NODE_NAME: 'n1', KUBERNETES_SERVICE_HOST: API_IP, KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: '' });
    const agent = new EntrypointAgent(node, env, d.root, inPrivateRun(fakeRun));
    // The API answers nothing but errors: the agent runs, is not ready, and has installed nothing.
    await api.request('POST', '/_emu/fail?count=1000000&code=503');
    agent.start();
    for (let i = 0; i < 40 && agent.probe('/readyz') === null; i++) await new Promise((r) => setTimeout(r, 50));
    expect(agent.probe('/readyz')?.status, agent.log()).toBe(503);
    expect(existsSync(join(d.conf, '10-strait.conflist'))).toBe(false);
    await api.request('POST', '/_emu/fail?count=0');
    await agent.untilReady();
    expect(readFileSync(join(d.bin, 'strait')).length).toBeGreaterThan(0);
    const conflist = JSON.parse(readFileSync(join(d.conf, '10-strait.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    expect(conflist.plugins[0]).toMatchObject({ type: 'strait', agentSocket: d.socket, ipam: { type: 'strait' } });
    expect(snapshot(d.conf)['99-other.conflist']).toEqual(before.conf['99-other.conflist']);

    // Two pods, as the kubelet adds them: ADD through the installed shim and conflist, then the Pod with its IP.
    const config = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };
    const ips: string[] = [];
    for (const [k, pod] of pods.entries()) {
      const name = k === 0 ? 'a' : 'b';
      const add = await runCni({ command: 'ADD', config, bin: join(d.bin, 'strait'), inNetns: node.name, netns: pod.path, containerId: `dk-${name}`, args: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name}` });
      expect(add.exitCode, add.stdout + add.stderr + agent.log()).toBe(0);
      const ip = (add.json as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
      expect(ip.startsWith('198.18.214.')).toBe(true); // from the Node's spec.podCIDRs
      ips.push(ip);
      await api.apply({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { namespace: 'default', name, labels: { app: name } },
        spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
        status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
      });
    }
    await api.synced([d.socket]);
    const ping = (): boolean => {
      try {
        pods[0]!.exec('ping', ['-c', '1', '-W', '1', ips[1]!]);
        return true;
      } catch {
        return false;
      }
    };
    expect(ping()).toBe(true);
    // A NetworkPolicy written to the API: b takes no ingress; the agent enforces it.
    await api.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'default', name: 'b-deny' }, spec: { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Ingress'] } });
    await api.synced([d.socket]);
    expect(ping()).toBe(false);

    for (const [k, pod] of pods.entries()) {
      const del = await runCni({ command: 'DEL', config, bin: join(d.bin, 'strait'), inNetns: node.name, netns: pod.path, containerId: `dk-${k === 0 ? 'a' : 'b'}` });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
    }
    await agent.stop();
    const un = agent.uninstall();
    expect(un.status, un.output).toBe(0);
    expect({ bin: snapshot(d.bin), conf: snapshot(d.conf) }).toEqual(before);
  });
});
