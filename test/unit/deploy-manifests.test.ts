// deploy/: every object of strait.yaml and of its parts validated against the
// Kubernetes OpenAPI schemas (kubernetes-models), the bundle equal to its parts, the
// RBAC exactly read-only on exactly what the source reads, the DaemonSet as issue #12
// asks, the ConfigMap's template and flags accepted by the agent, and the Dockerfile's
// shape (there is no Docker here to build it).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ServiceAccount, ConfigMap } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { renderConflist } from '../../src/agent/install.js';
import { parseAgentFlags } from '../../src/agent/options.js';

const DEPLOY = new URL('../../deploy/', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(DEPLOY, p), 'utf8');
const PARTS = readdirSync(join(DEPLOY, 'parts')).filter((f) => f.endsWith('.yaml')).sort();

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

function objects(text: string): Obj[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(d.errors.map((e) => e.message).join('; '));
    return d.toJS() as Obj;
  }).filter((o) => o !== null);
}

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
};

const bundle = objects(read('strait.yaml'));
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape of the kind it asks for
const byKind = <T>(kind: string): T => bundle.find((o) => o.kind === kind) as T;

describe('deploy/strait.yaml and deploy/parts', () => {
  it('the bundle is its parts, in order, as deploy/bundle.sh writes it', () => {
    const header = read('strait.yaml').split('\n---\n')[0];
    expect(read('strait.yaml')).toBe(`${header}\n${PARTS.map((p) => `---\n${read(`parts/${p}`)}`).join('')}`);
    expect(PARTS.flatMap((p) => objects(read(`parts/${p}`)))).toEqual(bundle);
    expect(bundle.map((o) => o.kind)).toEqual(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
  });

  it.each([...PARTS.map((p) => `parts/${p}`), 'strait.yaml'])('%s: every object is valid against its OpenAPI schema', (file) => {
    for (const o of objects(read(file))) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(Model, `${o.apiVersion} ${o.kind}`).toBeDefined();
      expect(() => new Model!(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
  });

  it('the validation is real: a wrong type is refused', () => {
    const ds = structuredClone(byKind<IDaemonSet>('DaemonSet'));
    (ds.spec!.template.spec as unknown as Record<string, unknown>).hostNetwork = 'yes';
    expect(() => new DaemonSet(ds).validate()).toThrow(/hostNetwork must be boolean/);
  });

  it('RBAC: get/list/watch only, on exactly pods, namespaces, nodes, services, networkpolicies and endpointslices, bound to the agent', () => {
    const role = byKind<IClusterRole>('ClusterRole');
    const granted = (role.rules ?? []).flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).map((res) => `${g}/${res}`)));
    expect(granted.sort()).toEqual(['/namespaces', '/nodes', '/pods', '/services', 'discovery.k8s.io/endpointslices', 'networking.k8s.io/networkpolicies']);
    for (const r of role.rules ?? []) {
      expect([...r.verbs].sort()).toEqual(['get', 'list', 'watch']);
      expect(r.resourceNames).toBeUndefined();
      expect(r.nonResourceURLs).toBeUndefined();
    }
    const binding = byKind<{ roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] }>('ClusterRoleBinding');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata!.name });
    const sa = byKind<Obj>('ServiceAccount');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  });

  it('the DaemonSet: kube-system, host network, node-critical, every taint, named capabilities, host mounts, probes', () => {
    const ds = byKind<IDaemonSet>('DaemonSet');
    expect(ds.metadata?.namespace).toBe('kube-system');
    const pod = ds.spec!.template.spec!;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.serviceAccountName).toBe(byKind<Obj>('ServiceAccount').metadata.name);
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    expect(c.command).toEqual(['/opt/strait/deploy/entrypoint.sh']);
    expect(c.securityContext?.privileged).toBe(false);
    expect(c.securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_RESOURCE'] });
    // each added capability has its reason next to it
    const text = read('parts/05-daemonset.yaml');
    for (const cap of ['NET_ADMIN', 'BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_RESOURCE']) expect(text).toMatch(new RegExp(`# [^\\n]+\\n(\\s+# [^\\n]+\\n)*\\s+- ${cap}\\n`));

    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const hostPathAt = (mountPath: string) => volumes.get(mounts.get(mountPath)?.name ?? '')?.hostPath?.path;
    // The conflist and the shim name these paths: in the container they are the host's own.
    for (const p of ['/sys/fs/bpf', '/opt/cni/bin', '/etc/cni/net.d', '/var/run/netns', '/var/lib/strait', '/run/strait']) expect(hostPathAt(p), p).toBe(p);
    expect(hostPathAt('/host/proc/sys/net')).toBe('/proc/sys/net');
    expect(mounts.get('/var/run/netns')?.mountPropagation).toBe('HostToContainer');
    expect(mounts.get('/sys/fs/bpf')?.mountPropagation).toBe('HostToContainer');
    expect(mounts.get('/etc/strait')).toMatchObject({ readOnly: true });
    expect(volumes.get(mounts.get('/etc/strait')!.name)?.configMap?.name).toBe(byKind<Obj>('ConfigMap').metadata.name);

    const env = new Map((c.env ?? []).map((e) => [e.name, e]));
    expect(env.get('STRAIT_NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(env.get('STRAIT_SOURCE')?.value).toBe('kube');
    expect(env.get('STRAIT_PROC_SYS')?.value).toBe('/host/proc/sys');
    const health = env.get('STRAIT_HEALTH_ADDR')!.value!;
    const [host, port] = health.split(':');
    for (const [probe, path] of [[c.livenessProbe, '/healthz'], [c.readinessProbe, '/readyz'], [c.startupProbe, '/healthz']] as const) {
      expect(probe?.httpGet).toEqual({ host, port: Number(port), path });
    }
  });

  it("the ConfigMap's conflist template renders, and its agent flags are the agent's", () => {
    const cm = byKind<{ data: Record<string, string> }>('ConfigMap');
    const out = JSON.parse(renderConflist(cm.data['10-strait.conflist']!, { stateDir: '/var/lib/strait', bpfDir: '/sys/fs/bpf/strait', socketPath: '/run/strait/agent.sock' })) as { cniVersion: string; plugins: { type: string; agentSocket?: string }[] };
    expect(out.cniVersion).toBe('1.1.0');
    expect(out.plugins[0]).toMatchObject({ type: 'strait', agentSocket: '/run/strait/agent.sock' });
    const flags = cm.data['agent.flags']!.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    expect(flags.length).toBeGreaterThan(0);
    // what deploy/entrypoint.sh passes besides (--source kube comes from the kube helper's branch)
    expect(() => parseAgentFlags(['--source', 'dir:/m', '--health-addr', '127.0.0.1:9876', '--cni-bin-dir', '/opt/cni/bin', '--cni-conf-dir', '/etc/cni/net.d', ...flags], {})).not.toThrow();
  });
});

describe('deploy/Dockerfile', () => {
  const lines = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const stages: { base: string; name: string; lines: string[] }[] = [];
  for (const l of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(l);
    if (from !== null) stages.push({ base: from[1]!, name: from[2] ?? String(stages.length), lines: [] });
    else stages.at(-1)?.lines.push(l);
  }

  it('is multi-stage: a Debian 12 builder that runs scripts/build.sh, a slim Debian 12 runtime', () => {
    expect(stages.map((s) => [s.base, s.name])).toEqual([['debian:12', 'build'], ['debian:12-slim', 'runtime']]);
    const build = stages[0]!.lines.join('\n');
    for (const pkg of ['clang', 'libbpf-dev', 'libnl-route-3-dev', 'nodejs', 'npm']) expect(build).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(build).toMatch(/npm ci --prefix tools\/node24/);
    expect(build).toMatch(/bash scripts\/build\.sh/);
    const runtime = stages[1]!.lines.join('\n');
    for (const pkg of ['libbpf1', 'libnl-3-200', 'libnl-route-3-200', 'iproute2', 'nftables']) expect(runtime).toMatch(new RegExp(`\\b${pkg}\\b`));
  });

  it('copies from earlier stages only, and its ENTRYPOINT is deploy/entrypoint.sh (executable)', () => {
    stages.forEach((s, i) => {
      for (const l of s.lines) {
        const m = /^COPY\s+--from=(\S+)/i.exec(l);
        if (m !== null) expect(stages.slice(0, i).map((p) => p.name)).toContain(m[1]);
      }
    });
    expect(stages[1]!.lines.some((l) => /^COPY\s+--from=build\s/.test(l))).toBe(true);
    const entry = stages[1]!.lines.filter((l) => l.startsWith('ENTRYPOINT'));
    expect(entry).toHaveLength(1);
    expect(JSON.parse(entry[0]!.slice('ENTRYPOINT'.length))).toEqual(['/opt/strait/deploy/entrypoint.sh']);
    expect(statSync(join(DEPLOY, 'entrypoint.sh')).mode & 0o111).toBe(0o111);
  });
});
