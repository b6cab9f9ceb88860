// --source kube against the in-process API emulation on loopback, through the real
// @kubernetes/client-node: sync, every change of every kind, pagination, 410 and the
// relist, drops, stalls, bookmarks, 500s, invalid objects, and isCurrent. Waits are
// bounded polls on conditions, never on time.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- client-node's typed bodies are plain JSON on the wire */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSource } from '../../src/agent/options.js';
import { KubeSource, loadKubeConfig, type KubeSourceOptions } from '../../src/agent/sources/kube.js';
import { writeKubeconfig } from '../../src/lab/kube-api/kubeconfig.js';
import { RESOURCES } from '../../src/lab/kube-api/resources.js';
import { startKubeApi, type KubeApiServer } from '../../src/lab/kube-api/server.js';
import type { ClusterState } from '../../src/policy/types.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

const res = (kind: string) => RESOURCES.find((r) => r.kind === kind)!;
const nsObj = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const podObj = (namespace: string, name: string, ip: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels },
  spec: { nodeName: 'node-a', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
  status: { podIPs: [{ ip }] },
});
const nodeObj = (name: string, ip: string, cidr: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: { podCIDRs: [cidr] },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});
const denyAll = (namespace: string, name = 'deny-all') => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
});

const svcObj = (namespace: string, name: string, clusterIP: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { clusterIP, selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
});
const sliceObj = (namespace: string, service: string, ip: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${service}-1`, namespace, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints: [{ addresses: [ip], conditions: { ready: true }, nodeName: 'node-a', targetRef: { kind: 'Pod', namespace, name: service } }],
  ports: [{ name: 'http', port: 80 }],
});

let api: KubeApiServer;
let dir: string;
let kc: KubeConfig;
let source: KubeSource | null;
let states: ClusterState[];
let logs: LogLine[];

beforeEach(async () => {
  api = await startKubeApi({ bookmarkMs: 3_600_000 });
  dir = mkdtempSync(join(tmpdir(), 'strait-kube-'));
  writeKubeconfig(join(dir, 'kubeconfig'), api.serverUrl);
  kc = loadKubeConfig(join(dir, 'kubeconfig'));
  source = null;
  states = [];
  logs = [];
});
afterEach(async () => {
  source?.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Small backoff and a long heartbeat unless a test says otherwise. */
async function start(opts: KubeSourceOptions = {}): Promise<KubeSource> {
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  source = new KubeSource(kc, log, (state) => states.push(state), { backoffBaseMs: 20, backoffMaxMs: 200, heartbeatMs: 60_000, ...opts });
  await source.start();
  return source;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, tries = 500): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await sleep(10);
  if (!cond()) throw new Error(`timed out waiting for: ${what}`);
}
const last = () => states[states.length - 1]!;
const podNames = (s: ClusterState = last()) => s.pods.map((p) => `${p.namespace}/${p.name}`);
const pods = (src: KubeSource) => src.status().resources.find((r) => r.resource === 'pods')!;
const put = (o: object) => api.store.write(res((o as { kind: string }).kind), o, 'apply', null);

describe('kube source', () => {
  it('delivers the initial state of every kind and is current once every watch is live', async () => {
    put(nsObj('x', { team: 'a' }));
    put(podObj('x', 'web', '198.18.1.2', { app: 'web' }));
    put(nodeObj('node-a', '192.0.2.1', '198.18.1.0/24'));
    put(denyAll('x'));
    put(svcObj('x', 'web', '198.18.100.10'));
    put(sliceObj('x', 'web', '198.18.1.2'));
    const src = await start();
    expect(states).toHaveLength(1);
    const s = last();
    expect(s.namespaces.map((n) => n.name)).toEqual(['x']);
    expect(s.namespaces[0]!.labels).toMatchObject({ team: 'a', 'kubernetes.io/metadata.name': 'x' });
    expect(s.pods[0]).toMatchObject({ namespace: 'x', name: 'web', ips: ['198.18.1.2'], labels: { app: 'web' }, nodeName: 'node-a' });
    expect(s.nodes).toEqual([{ name: 'node-a', addresses: ['192.0.2.1'], internalIPs: ['192.0.2.1'], podCIDRs: ['198.18.1.0/24'] }]);
    expect(s.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual(['x/deny-all']);
    expect(s.services).toMatchObject([{ namespace: 'x', name: 'web', clusterIPs: ['198.18.100.10'], ports: [{ name: 'http', port: 80, targetPort: 'http' }] }]);
    expect(s.endpointSlices).toMatchObject([{ namespace: 'x', name: 'web-1', serviceName: 'web', endpoints: [{ addresses: ['198.18.1.2'], targetRef: { namespace: 'x', name: 'web' } }] }]);
    await until('current', () => src.isCurrent());
    const st = src.status();
    expect(st.resources.map((r) => [r.resource, r.synced, r.objects])).toEqual([
      ['namespaces', true, 1],
      ['pods', true, 1],
      ['nodes', true, 1],
      ['networkpolicies', true, 1],
      ['services', true, 1],
      ['endpointslices', true, 1],
    ]);
    expect(pods(src).resourceVersion).toBe(String(api.store.resourceVersion));
  });

  it('follows creates, replaces and deletes of each kind made through client-node', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);
    await start();
    await core.createNamespace({ body: nsObj('x') });
    await core.createNamespacedPod({ namespace: 'x', body: podObj('x', 'a', '198.18.1.2', { app: 'a' }) });
    await core.createNode({ body: nodeObj('node-b', '192.0.2.2', '198.18.2.0/24') });
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: denyAll('x') });
    await until('all four added', () => last().policies.length === 1 && last().nodes.length === 1 && last().pods.length === 1 && last().namespaces.length === 1);

    await core.replaceNamespace({ name: 'x', body: nsObj('x', { env: 'prod' }) });
    await core.replaceNamespacedPod({ name: 'a', namespace: 'x', body: podObj('x', 'a', '198.18.1.3', { app: 'b' }) });
    await core.replaceNode({ name: 'node-b', body: nodeObj('node-b', '192.0.2.9', '198.18.2.0/24') });
    const egress = { ...denyAll('x'), spec: { podSelector: {}, policyTypes: ['Egress'] } };
    await net.replaceNamespacedNetworkPolicy({ name: 'deny-all', namespace: 'x', body: egress });
    await until('all four modified', () => {
      const s = last();
      return s.namespaces[0]?.labels.env === 'prod' && s.pods[0]?.ips[0] === '198.18.1.3' && s.nodes[0]?.internalIPs[0] === '192.0.2.9' && JSON.stringify(s.policies[0]).includes('gress');
    });
    expect(last().pods[0]!.labels).toEqual({ app: 'b' });
    expect(JSON.stringify(last().policies[0])).toContain('"egress"');

    await net.deleteNamespacedNetworkPolicy({ name: 'deny-all', namespace: 'x' });
    await core.deleteNamespacedPod({ name: 'a', namespace: 'x' });
    await core.deleteNode({ name: 'node-b' });
    await core.deleteNamespace({ name: 'x' });
    await until('all deleted', () => {
      const s = last();
      return s.policies.length + s.pods.length + s.nodes.length + s.namespaces.length === 0;
    });
  });

  it('follows Services and EndpointSlices (discovery.k8s.io/v1) made through client-node', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    await start();
    await core.createNamespacedService({ namespace: 'x', body: svcObj('x', 'web', '198.18.100.10') });
    await discovery.createNamespacedEndpointSlice({ namespace: 'x', body: sliceObj('x', 'web', '198.18.1.2') });
    await until('both added', () => last().services.length === 1 && last().endpointSlices.length === 1);
    const draining = sliceObj('x', 'web', '198.18.1.2');
    draining.endpoints[0]!.conditions = { ready: false, serving: true, terminating: true } as typeof draining.endpoints[0]['conditions'];
    await discovery.replaceNamespacedEndpointSlice({ name: 'web-1', namespace: 'x', body: draining });
    await until('slice modified', () => last().endpointSlices[0]?.endpoints[0]?.conditions.terminating === true);
    expect(last().endpointSlices[0]!.endpoints[0]!.conditions).toEqual({ ready: false, serving: true, terminating: true });
    await discovery.deleteNamespacedEndpointSlice({ name: 'web-1', namespace: 'x' });
    await core.deleteNamespacedService({ name: 'web', namespace: 'x' });
    await until('both deleted', () => last().services.length + last().endpointSlices.length === 0);
  });

  it('lists in pages (limit 2, 7 pods) over one snapshot', async () => {
    put(nsObj('x'));
    for (let i = 0; i < 7; i++) put(podObj('x', `p${i}`, `198.18.1.${i + 2}`));
    const before = api.stats().requests.list ?? 0;
    const src = await start({ pageSize: 2 });
    expect(podNames()).toEqual(['x/p0', 'x/p1', 'x/p2', 'x/p3', 'x/p4', 'x/p5', 'x/p6']);
    // pods: 4 pages; namespaces, nodes, networkpolicies, services, endpointslices: 1 each
    expect((api.stats().requests.list ?? 0) - before).toBe(9);
    expect(pods(src).objects).toBe(7);
  });

  it('relists after a compaction (410) and deletes what vanished meanwhile', async () => {
    put(nsObj('x'));
    put(podObj('x', 'keep', '198.18.1.2'));
    put(podObj('x', 'gone', '198.18.1.3'));
    const src = await start();
    await until('current', () => src.isCurrent());
    api.stallWatches(); // the source sees none of what follows
    api.store.remove(res('Pod'), 'x', 'gone');
    put(podObj('x', 'new', '198.18.1.4'));
    api.compact();
    api.dropWatches();
    await until('relisted', () => podNames().join() === 'x/keep,x/new');
    expect(pods(src).relists).toBeGreaterThanOrEqual(1);
    expect(logs.some((l) => l.msg.includes('is gone (410)'))).toBe(true);
    expect(logs.some((l) => l.msg === 'pods: 1 deleted while not watched')).toBe(true);
    await until('current again', () => src.isCurrent());
  });

  it('relists on a watch answered 410 outright (not as an event in the stream)', async () => {
    api.goneAsStatus = true;
    put(nsObj('x'));
    put(podObj('x', 'gone', '198.18.1.3'));
    const src = await start();
    await until('current', () => src.isCurrent());
    api.stallWatches();
    api.store.remove(res('Pod'), 'x', 'gone');
    api.compact();
    api.dropWatches();
    await until('relisted', () => last().pods.length === 0);
    expect(pods(src).relists).toBeGreaterThanOrEqual(1);
  });

  it('answers 410 Expired to a continue token older than the compaction', async () => {
    put(nsObj('x'));
    for (let i = 0; i < 5; i++) put(podObj('x', `p${i}`, `198.18.1.${i + 2}`));
    const base = api.serverUrl;
    const first = (await (await fetch(`${base}/api/v1/pods?limit=2`)).json()) as { metadata: { continue: string } };
    put(podObj('x', 'later', '198.18.1.9'));
    api.compact(); // the first page's snapshot is older than what the store still knows
    const r = await fetch(`${base}/api/v1/pods?limit=2&continue=${first.metadata.continue}`);
    expect(r.status).toBe(410);
    expect(((await r.json()) as { reason: string }).reason).toBe('Expired');
  });

  it('reconnects after an abrupt disconnect and loses nothing changed meanwhile', async () => {
    put(nsObj('x'));
    const src = await start();
    await until('current', () => src.isCurrent());
    const lists = api.stats().requests.list;
    api.failRequests(2); // the first reconnects fail, so the changes below land while no watch is open
    expect(api.dropWatches()).toBe(6);
    put(podObj('x', 'a', '198.18.1.2'));
    put(denyAll('x'));
    await until('replayed', () => podNames().join() === 'x/a' && last().policies.length === 1);
    // watches from the last resourceVersion, not lists
    expect(api.stats().requests.list).toBe(lists);
    expect(pods(src).relists).toBe(0);
    const reconnects = src.status().resources.reduce((n, r) => n + r.reconnects, 0);
    expect(reconnects).toBeGreaterThanOrEqual(4);
    // the two refused requests are counted as errors (strait_source_errors_total)
    expect(src.status().resources.reduce((n, r) => n + r.errors, 0)).toBeGreaterThanOrEqual(2);
    await until('current again', () => src.isCurrent());
  });

  it('reopens a watch the server ended (its timeoutSeconds) from its resourceVersion, without a list', async () => {
    put(nsObj('x'));
    const src = await start({ watchTimeoutSeconds: [1, 1] });
    await until('current', () => src.isCurrent());
    const lists = api.stats().requests.list;
    await until('every watch reopened', () => (api.stats().requests.watch ?? 0) >= 8, 1000);
    put(podObj('x', 'after', '198.18.1.2'));
    await until('seen', () => podNames().join() === 'x/after');
    expect(api.stats().requests.list).toBe(lists);
    expect(src.status().resources.every((r) => r.reconnects === 0 && r.errors === 0 && r.lastError === null)).toBe(true);
  });

  it('restarts a watch that went silent (the heartbeat)', async () => {
    put(nsObj('x'));
    const src = await start({ heartbeatMs: 300 });
    await until('current', () => src.isCurrent());
    const watchesBefore = api.stats().requests.watch ?? 0;
    api.stallWatches();
    put(podObj('x', 'late', '198.18.1.2'));
    await until('seen after a restart', () => podNames().join() === 'x/late');
    expect(pods(src).reconnects).toBeGreaterThanOrEqual(1);
    expect(api.stats().requests.watch ?? 0).toBeGreaterThan(watchesBefore);
    expect(logs.some((l) => l.msg.startsWith('pods: no event or bookmark for 300 ms'))).toBe(true);
  });

  it('bookmarks advance the resourceVersion without events of the kind', async () => {
    const src = await start();
    await until('current', () => src.isCurrent());
    const rvBefore = pods(src).resourceVersion;
    api.setBookmarkMs(20);
    api.dropWatches(); // new watches pick up the bookmark period
    for (let i = 0; i < 3; i++) put(nsObj(`n${i}`));
    const target = String(api.store.resourceVersion);
    await until('bookmark seen', () => pods(src).resourceVersion === target);
    expect(pods(src).resourceVersion).not.toBe(rvBefore);
    expect(pods(src).objects).toBe(0);
  });

  it('backs off on 500s and then syncs', async () => {
    put(nsObj('x'));
    api.failRequests(6);
    const src = await start();
    expect(last().namespaces.map((n) => n.name)).toEqual(['x']);
    const failures = logs.filter((l) => typeof l.err === 'string' && (l.err).includes('HTTP 500'));
    expect(failures.length).toBe(6);
    await until('current', () => src.isCurrent());
    expect(src.status().resources.every((r) => r.lastError === null)).toBe(true);
  });

  it('skips an invalid object with its problem and takes it once fixed', async () => {
    put(nsObj('x'));
    put(podObj('x', 'good', '198.18.1.2'));
    const bad = podObj('x', 'bad', '198.18.1.3');
    bad.spec.containers[0]!.ports[0]!.containerPort = 70000;
    put(bad);
    const src = await start();
    expect(podNames()).toEqual(['x/good']);
    const problems = src.status().problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^Pod x\/bad: .*spec\.containers\[0\]\.ports\[0\]\.containerPort/);
    expect(logs.some((l) => l.level === 40 && l.msg.includes('containerPort') && l.msg.endsWith('(skipped)'))).toBe(true);
    put(podObj('x', 'bad', '198.18.1.3'));
    await until('fixed', () => podNames().join() === 'x/bad,x/good');
    expect(src.status().problems).toEqual([]);
  });

  it('is not current until synced, nor while the API fails', async () => {
    api.failRequests(3);
    const log = pino({ level: 'silent' });
    source = new KubeSource(kc, log, (s) => states.push(s), { backoffBaseMs: 20, backoffMaxMs: 100 });
    const started = source.start();
    expect(source.isCurrent()).toBe(false);
    await started;
    const src = source;
    await until('current', () => src.isCurrent());
    expect(src.staleSeconds()).toBe(0);
    api.failRequests(1_000_000);
    api.dropWatches();
    await until('not current', () => !src.isCurrent());
    expect(src.status().current).toBe(false);
    await until('the 500 shown', () => src.status().resources.some((r) => r.lastError?.includes('HTTP 500') === true));
    expect(src.isCurrent()).toBe(false);
    // Stale since the watches dropped, and still counting: every request fails.
    const stale = src.staleSeconds();
    expect(stale).toBeGreaterThan(0);
    await sleep(20);
    expect(src.staleSeconds()).toBeGreaterThan(stale);
    api.failRequests(0);
    await until('current again', () => src.isCurrent());
    expect(src.staleSeconds()).toBe(0);
  });

  it('gives up start() with E_SOURCE naming what failed', async () => {
    api.failRequests(1_000_000, 403);
    const log = pino({ level: 'silent' });
    source = new KubeSource(kc, log, (s) => states.push(s), { backoffBaseMs: 10, backoffMaxMs: 20, startTimeoutMs: 300 });
    await expect(source.start()).rejects.toMatchObject({ code: 'E_SOURCE', message: expect.stringMatching(/pods: list: HTTP 403/) });
    expect(states).toEqual([]);
  });
});

describe('--source kube', () => {
  it('takes --kubeconfig, else KUBECONFIG, else the in-cluster config, else says what is missing', () => {
    expect(parseSource('kube', '/k/config', {})).toEqual({ kind: 'kube', kubeconfig: '/k/config' });
    expect(parseSource('kube', undefined, { KUBECONFIG: '/e/config' })).toEqual({ kind: 'kube', kubeconfig: '/e/config' });
    expect(parseSource('kube', undefined, { KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toEqual({ kind: 'kube', kubeconfig: null });
    expect(() => parseSource('kube', undefined, {})).toThrow(/--source kube needs --kubeconfig PATH .*KUBERNETES_SERVICE_HOST is not set/);
  });

  it('refuses a kubeconfig that cannot be read with E_SOURCE', () => {
    expect(() => loadKubeConfig(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'E_SOURCE' }));
  });
});
