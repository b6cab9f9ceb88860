import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirSource, isManifestName, type DirSourceOptions } from '../../src/agent/sources/dir.js';
import type { ClusterState } from '../../src/policy/types.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

const ns = (name: string, labels: Record<string, string> = {}) =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels: ${JSON.stringify(labels)}\n`;
const pod = (namespace: string, name: string, ip: string, labels: Record<string, string> = {}) =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n  labels: ${JSON.stringify(labels)}\n` +
  `spec:\n  nodeName: node-a\n  containers: [{name: c, ports: [{name: http, containerPort: 80}]}]\nstatus:\n  podIPs: [{ip: "${ip}"}]\n`;
const denyAll = (namespace: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'deny-all', namespace },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
});

let dir: string;
let source: DirSource | null;
let calls: { state: ClusterState; generation: number; at: number }[];
let logs: LogLine[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strait-dir-'));
  source = null;
  calls = [];
  logs = [];
});
afterEach(() => {
  source?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(opts: DirSourceOptions = {}, path = dir): Promise<DirSource> {
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  source = new DirSource(path, log, (state, generation) => calls.push({ state, generation, at: Date.now() }), opts);
  await source.start();
  return source;
}

const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
const last = () => calls[calls.length - 1]!;
const podNames = (s: ClusterState) => s.pods.map((p) => `${p.namespace}/${p.name}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the n-th onChange; returns how long after `since` it came. */
async function change(n: number, since: number, within = 1000): Promise<number> {
  const deadline = since + within + 500;
  while (calls.length < n && Date.now() < deadline) await sleep(10);
  expect(calls.length).toBe(n);
  const ms = calls[n - 1]!.at - since;
  expect(ms).toBeLessThan(within);
  return ms;
}

describe('isManifestName', () => {
  it.each([
    ['a.yaml', true],
    ['a.yml', true],
    ['a.json', true],
    ['A.YAML', true],
    ['.a.yaml', false],
    ['.#a.yaml', false],
    ['#a.yaml#', false],
    ['a.yaml~', false],
    ['a.yaml.swp', false],
    ['a.yaml.tmp', false],
    ['..data', false],
    ['README.md', false],
  ])('%s → %s', (name, ok) => expect(isManifestName(name)).toBe(ok));
});

describe('DirSource: reading', () => {
  it('reads multi-document YAML, JSON and Lists into one sorted snapshot (generation 1)', async () => {
    write('10-ns.yaml', `${ns('x', { team: 'a' })}---\n${pod('x', 'web', '198.18.1.2', { app: 'web' })}---\n# only a comment\n---\n${pod('x', 'client', '198.18.1.3')}`);
    write('20-policy.json', JSON.stringify(denyAll('x'), null, 2));
    write(
      '30-list.yml',
      'apiVersion: v1\nkind: List\nitems:\n' +
        '- {apiVersion: v1, kind: Node, metadata: {name: node-a}, status: {addresses: [{type: InternalIP, address: 192.0.2.1}]}}\n' +
        '- {apiVersion: v1, kind: Namespace, metadata: {name: y}}\n',
    );
    write('40-empty.yaml', '');
    // Not manifests: skipped without a word.
    write('.hidden.yaml', ns('hidden'));
    write('.#lock.yaml', ns('lock'));
    write('notes.txt', 'not yaml: [');
    write('50-ns.yaml~', ns('backup'));
    write('50-ns.yaml.swp', ns('swap'));
    mkdirSync(join(dir, 'sub.yaml'));
    write('sub.yaml/inner.yaml', ns('inner'));

    const s = await start();
    expect(calls).toHaveLength(1);
    const { state, generation } = calls[0]!;
    expect(generation).toBe(1);
    expect(state.namespaces.map((n) => n.name)).toEqual(['x', 'y']);
    expect(state.namespaces[0]!.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'x' });
    expect(podNames(state)).toEqual(['x/client', 'x/web']);
    expect(state.pods[1]).toMatchObject({ ips: ['198.18.1.2'], labels: { app: 'web' }, nodeName: 'node-a' });
    expect(state.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual(['x/deny-all']);
    expect(state.nodes).toEqual([{ name: 'node-a', addresses: ['192.0.2.1'], internalIPs: ['192.0.2.1'], podCIDRs: [] }]);
    expect(s.errors()).toEqual([]);
    expect(logs.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('reads a Service and its EndpointSlice into the snapshot; an FQDN slice is reported and skipped', async () => {
    write(
      'web.yaml',
      'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: x}\n' +
        'spec: {clusterIPs: [198.18.100.10, "fd00:96::10"], ipFamilyPolicy: PreferDualStack, selector: {app: web}, sessionAffinity: ClientIP, ports: [{name: dns, protocol: UDP, port: 53, targetPort: dns}]}\n' +
        '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: x, labels: {kubernetes.io/service-name: web}}\n' +
        'addressType: IPv4\nendpoints: [{addresses: [198.18.1.2], conditions: {ready: false, terminating: true}, nodeName: node-a}]\nports: [{name: dns, protocol: UDP, port: 5353}]\n' +
        '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-fqdn, namespace: x}\naddressType: FQDN\n',
    );
    await start();
    const s = last().state;
    expect(s.services).toMatchObject([
      { namespace: 'x', name: 'web', clusterIPs: ['198.18.100.10', 'fd00:96::10'], ipFamilies: ['IPv4', 'IPv6'], sessionAffinity: { timeoutSeconds: 10800 }, ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 'dns' }] },
    ]);
    expect(s.endpointSlices).toEqual([
      {
        namespace: 'x',
        name: 'web-1',
        serviceName: 'web',
        addressType: 'IPv4',
        endpoints: [{ addresses: ['198.18.1.2'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-a', targetRef: null }],
        ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }],
      },
    ]);
    expect(logs.some((l) => JSON.stringify(l).includes('EndpointSlice x/web-fqdn: addressType: FQDN is not supported'))).toBe(true);
  });

  it('an empty directory is an empty cluster, delivered once', async () => {
    await start();
    expect(calls).toEqual([{ state: { namespaces: [], pods: [], policies: [], nodes: [], services: [], endpointSlices: [] }, generation: 1, at: expect.any(Number) }]);
  });

  it('a missing directory, or a file, at start is an error', async () => {
    await expect(start({}, join(dir, 'nope'))).rejects.toThrow(`manifest directory ${join(dir, 'nope')} does not exist`);
    write('f.yaml', '');
    await expect(start({}, join(dir, 'f.yaml'))).rejects.toThrow(/is not a directory/);
    expect(calls).toEqual([]);
  });

  it('an invalid object or document is reported with file, object and field, and skipped; the rest applies', async () => {
    write(
      'a.yaml',
      `${pod('x', 'good', '198.18.1.2')}---\n${pod('x', 'bad', '198.18.1.999')}---\nkey: [unclosed\n---\n${ns('x')}`,
    );
    write(
      'b.yaml',
      'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: Bad_Name}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: z}}\n',
    );
    write('c.json', '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s", "namespace": "x"}}');
    const s = await start();
    expect(podNames(last().state)).toEqual(['x/good']);
    expect(last().state.namespaces.map((n) => n.name)).toEqual(['x', 'z']);

    const errs = s.errors();
    expect(errs).toHaveLength(4);
    expect(errs[0]).toEqual({
      file: 'a.yaml',
      document: 1,
      item: null,
      object: 'Pod x/bad',
      field: 'status.podIPs[0].ip',
      message: 'must be a valid IP address',
    });
    expect(errs[1]).toMatchObject({ file: 'a.yaml', document: 2, object: null, field: null, message: expect.stringMatching(/^not valid YAML: .* at line 2\d, column \d+$/) });
    expect(errs[2]).toMatchObject({ file: 'b.yaml', document: 0, item: 0, object: 'Namespace Bad_Name', field: 'metadata.name' });
    expect(errs[3]).toMatchObject({ file: 'c.json', object: 'ConfigMap x/s', field: 'kind', message: expect.stringMatching(/unsupported kind "ConfigMap"/) });

    // One warning per problem, naming the file, the object and the field.
    const warns = logs.filter((l) => l.level === 40);
    expect(warns).toHaveLength(4);
    expect(warns[0]).toMatchObject({ file: 'a.yaml', object: 'Pod x/bad', field: 'status.podIPs[0].ip' });
    expect(warns[0]!.msg).toBe('a.yaml document 1: Pod x/bad: status.podIPs[0].ip: must be a valid IP address (skipped)');
    expect(warns[2]!.msg).toMatch(/^b\.yaml document 0 item 0: Namespace Bad_Name: metadata\.name: /);

    // Fixing the file clears its errors.
    const t = Date.now();
    write('a.yaml', `${pod('x', 'good', '198.18.1.2')}---\n${pod('x', 'bad', '198.18.1.9')}---\n${ns('x')}`);
    await change(2, t);
    expect(podNames(last().state)).toEqual(['x/bad', 'x/good']);
    expect(s.errors().map((e) => e.file)).toEqual(['b.yaml', 'c.json']);
  });

  it('the last file in sorted order wins a conflict, and it is reported', async () => {
    write('a.yaml', pod('x', 'web', '198.18.1.2', { v: '1' }));
    write('b.yaml', pod('x', 'web', '198.18.1.2', { v: '2' }));
    const s = await start();
    expect(last().state.pods).toHaveLength(1);
    expect(last().state.pods[0]!.labels).toEqual({ v: '2' });
    expect(s.errors()).toEqual([
      { file: 'a.yaml', document: 0, item: null, object: 'Pod x/web', field: null, message: 'also defined in b.yaml, which wins (the last file in sorted order)' },
    ]);
    expect(logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'a.yaml document 0: Pod x/web: also defined in b.yaml, which wins (the last file in sorted order)',
    ]);

    const t = Date.now();
    unlinkSync(join(dir, 'b.yaml'));
    await change(2, t);
    expect(last().state.pods[0]!.labels).toEqual({ v: '1' });
    expect(s.errors()).toEqual([]);
  });

  it('within one file, the later document wins', async () => {
    write('a.yaml', `${ns('x', { v: '1' })}---\n${ns('x', { v: '2' })}`);
    const s = await start();
    expect(last().state.namespaces[0]!.labels.v).toBe('2');
    expect(s.errors()[0]).toMatchObject({ file: 'a.yaml', document: 0, object: 'Namespace x', message: 'defined again later in a.yaml (document 1), which wins' });
  });
});

describe('DirSource: changes', () => {
  it('create, change, rename and delete each take effect within a second, with increasing generations', async () => {
    write('a.yaml', ns('x'));
    await start();
    expect(calls.map((c) => c.generation)).toEqual([1]);

    let t = Date.now();
    write('b.yaml', pod('x', 'web', '198.18.1.2'));
    await change(2, t);
    expect(podNames(last().state)).toEqual(['x/web']);

    t = Date.now();
    write('b.yaml', pod('x', 'web', '198.18.1.7'));
    await change(3, t);
    expect(last().state.pods[0]!.ips).toEqual(['198.18.1.7']);

    // The atomic-write pattern: a temporary name, then a rename into place.
    t = Date.now();
    write('c.yaml.tmp', pod('x', 'db', '198.18.1.8'));
    renameSync(join(dir, 'c.yaml.tmp'), join(dir, 'c.yaml'));
    await change(4, t);
    expect(podNames(last().state)).toEqual(['x/db', 'x/web']);

    // Renamed out of the pattern: gone.
    t = Date.now();
    renameSync(join(dir, 'b.yaml'), join(dir, 'b.yaml.disabled'));
    await change(5, t);
    expect(podNames(last().state)).toEqual(['x/db']);

    // Replaced by a rename over it (how editors save).
    t = Date.now();
    write('.a.yaml.new', ns('x', { env: 'prod' }));
    renameSync(join(dir, '.a.yaml.new'), join(dir, 'a.yaml'));
    await change(6, t);
    expect(last().state.namespaces[0]!.labels.env).toBe('prod');

    t = Date.now();
    unlinkSync(join(dir, 'c.yaml'));
    await change(7, t);
    expect(podNames(last().state)).toEqual([]);

    // Emptied: an empty cluster.
    t = Date.now();
    unlinkSync(join(dir, 'a.yaml'));
    await change(8, t);
    expect(last().state).toEqual({ namespaces: [], pods: [], policies: [], nodes: [], services: [], endpointSlices: [] });

    const gens = calls.map((c) => c.generation);
    expect(gens).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('no onChange when nothing in the resulting state changed', async () => {
    write('a.yaml', `${ns('x')}---\n${pod('x', 'web', '198.18.1.2')}`);
    write('b.yaml', ns('y'));
    await start();
    expect(calls).toHaveLength(1);

    write('a.yaml', `${ns('x')}---\n${pod('x', 'web', '198.18.1.2')}`); // same bytes
    const now = new Date();
    utimesSync(join(dir, 'b.yaml'), now, now); // touched
    write('a.yaml', `# reformatted\n${ns('x')}\n---\n${pod('x', 'web', '198.18.1.2')}`); // same objects
    renameSync(join(dir, 'b.yaml'), join(dir, 'c.yaml')); // same objects under another name
    write('notes.md', 'hello'); // not a manifest
    write('.swap.yaml', ns('z')); // a dotfile
    write('a.yaml.swp', 'x');
    write('d.yaml', pod('x', 'broken', 'not-an-ip')); // invalid: reported, state unchanged
    await sleep(400);
    expect(calls).toHaveLength(1);
    expect(source!.errors().map((e) => e.file)).toEqual(['d.yaml']);
  });

  it('a burst of writes is debounced into few changes, ending on the final content', async () => {
    await start();
    const t = Date.now();
    for (let i = 1; i <= 20; i++) write('a.yaml', ns('x', { i: String(i) }));
    await change(2, t);
    await sleep(300);
    expect(calls.length).toBeLessThanOrEqual(3);
    expect(last().state.namespaces[0]!.labels.i).toBe('20');
    const gens = calls.map((c) => c.generation);
    expect(gens).toEqual([...gens].sort((a, b) => a - b));
    expect(new Set(gens).size).toBe(gens.length);
  });

  it('the periodic rescan catches changes without any watch event', async () => {
    write('a.yaml', ns('x'));
    await start({ watch: false, rescanMs: 100 });
    let t = Date.now();
    write('b.yaml', ns('y'));
    await change(2, t);
    expect(last().state.namespaces.map((n) => n.name)).toEqual(['x', 'y']);
    t = Date.now();
    write('a.yaml', ns('x', { changed: 'yes' })); // same size class, new mtime
    await change(3, t);
    expect(last().state.namespaces[0]!.labels.changed).toBe('yes');
    t = Date.now();
    unlinkSync(join(dir, 'a.yaml'));
    await change(4, t);
    expect(last().state.namespaces.map((n) => n.name)).toEqual(['y']);
  });

  it('a vanished directory keeps the last state and is reported; its return is picked up', async () => {
    write('a.yaml', ns('x'));
    const s = await start({ rescanMs: 100 });
    rmSync(dir, { recursive: true });
    await sleep(300);
    expect(calls).toHaveLength(1);
    expect(s.errors()).toEqual([expect.objectContaining({ file: null, message: expect.stringMatching(/cannot read .*keeping the last state/) })]);
    expect(logs.filter((l) => l.level === 50)).toHaveLength(1);

    mkdirSync(dir);
    write('a.yaml', ns('x2'));
    let t = Date.now();
    while (calls.length < 2 && Date.now() - t < 2000) await sleep(10);
    expect(last().state.namespaces.map((n) => n.name)).toEqual(['x2']);
    expect(s.errors()).toEqual([]);
    // Watched again: the next change arrives through an event, well before a rescan would matter.
    t = Date.now();
    write('b.yaml', ns('y'));
    await change(3, t);
  });

  it('after close, nothing more is delivered', async () => {
    await start();
    source!.close();
    write('a.yaml', ns('x'));
    await sleep(200);
    expect(calls).toHaveLength(1);
  });
});
