import { describe, expect, it } from 'vitest';
import { compile } from '../../src/policy/compile.js';
import { isCidrIdentity, isNamespaceIdentity, isPodIdentity } from '../../src/policy/identity.js';
import {
  type ClusterState,
  type DesiredState,
  FIRST_POD_IDENTITY,
  IDENTITY_ANY,
  IDENTITY_CLUSTER,
  IDENTITY_HOST,
  IDENTITY_REMOTE_NODE,
  IDENTITY_WORLD,
  type NetworkPolicy,
  type Pod,
  type Protocol,
} from '../../src/policy/types.js';
import { cluster, endpoint, node, ns, pod, policy } from '../helpers/policy-builders.js';
import { cidrIdentity, datapathVerdict, type Direction, referenceVerdict } from '../helpers/policy-oracle.js';

const HOST = '192.168.1.10';
const opts = { nodeName: 'node-a', hostAddresses: [HOST] };

// A small cluster: namespaces x (team=a, env=prod) and y (team=b, env=dev);
// web and db in x, api in x and y, a client in y.
const nsX = ns('x', { team: 'a', env: 'prod' });
const nsY = ns('y', { team: 'b', env: 'dev' });
const web = pod('x', 'web-1', { app: 'web' }, { ips: ['10.244.1.10'], ports: [['http', 8080], ['metrics', 9090]] });
const web2 = pod('x', 'web-2', { app: 'web' }, { ips: ['10.244.1.11'], ports: [['http', 8081]] });
const db = pod('x', 'db-0', { app: 'db' }, { ips: ['10.244.1.20'], ports: [['pg', 5432], ['dns', 53, 'UDP']] });
const apiX = pod('x', 'api-1', { app: 'api' }, { ips: ['10.244.2.30'], nodeName: 'node-b' });
const apiY = pod('y', 'api-1', { app: 'api' }, { ips: ['10.244.2.31'], nodeName: 'node-b' });
const client = pod('y', 'client', { app: 'client' }, { ips: ['10.244.2.40'], nodeName: 'node-b' });
const pods = [web, web2, db, apiX, apiY, client];
const locals = [endpoint(11, web), endpoint(12, web2), endpoint(13, db)];

const base = (policies: NetworkPolicy[], more: Partial<ClusterState> = {}): ClusterState =>
  cluster({ namespaces: [nsX, nsY], pods, policies, nodes: [node('node-a', [HOST])], ...more });

/** verdict at local pod `at` with `peer` on the other side */
function allowed(state: DesiredState, at: Pod, direction: Direction, peer: Pod | string, protocol: Protocol, port: number): boolean {
  const ifindex = locals.find((l) => l.podName === at.name && l.podNamespace === at.namespace)?.ifindex;
  if (ifindex === undefined) throw new Error(`${at.name} is not local`);
  const ip = typeof peer === 'string' ? peer : peer.ips[0]!;
  return datapathVerdict(state, ifindex, direction, ip, protocol, port);
}

const ep = (state: DesiredState, ifindex: number) => {
  const e = state.endpoints.get(ifindex);
  if (e === undefined) throw new Error(`no endpoint ${ifindex}`);
  return e;
};

describe('policy compile: selection and isolation', () => {
  it('no policy: nothing isolated, every pod in the ipcache under its identity', () => {
    const s = compile(base([]), locals, opts);
    for (const l of locals) expect(ep(s, l.ifindex)).toMatchObject({ ingressIsolated: false, egressIsolated: false, entries: [] });
    expect([...s.ipcache.keys()].sort()).toEqual(pods.flatMap((p) => p.ips).sort());
    // equal label sets in one namespace share an identity unless their named ports
    // differ (web-1 names 8080 http, web-2 8081); the same labels elsewhere do not
    expect(s.ipcache.get(web.ips[0]!)).not.toBe(s.ipcache.get(web2.ips[0]!));
    const twin = pod('x', 'web-3', { app: 'web' }, { ips: ['10.244.1.12'], ports: [['http', 8081]] });
    const withTwin = compile(base([], { pods: [...pods, twin] }), locals, opts);
    expect(withTwin.ipcache.get(twin.ips[0]!)).toBe(withTwin.ipcache.get(web2.ips[0]!));
    expect(s.ipcache.get(apiX.ips[0]!)).not.toBe(s.ipcache.get(apiY.ips[0]!));
    expect(ep(s, 11).identity).toBe(s.ipcache.get(web.ips[0]!));
    for (const id of s.ipcache.values()) expect(isPodIdentity(id)).toBe(true);
    expect(s.identities?.get(ep(s, 13).identity)).toEqual({
      namespace: 'x',
      namespaceLabels: nsX.labels,
      labels: { app: 'db' },
      namedPorts: { 'TCP/pg': [5432], 'UDP/dns': [53] },
    });
    expect(s.cidrs).toEqual(new Map([['0.0.0.0/0', IDENTITY_WORLD], ['::/0', IDENTITY_WORLD], [`${HOST}/32`, IDENTITY_HOST]]));
  });

  it('default deny: an empty podSelector isolates every pod of its namespace only', () => {
    const s = compile(base([policy('x', 'deny', { podSelector: {} })]), locals, opts);
    for (const l of locals) expect(ep(s, l.ifindex)).toMatchObject({ ingressIsolated: true, egressIsolated: false, entries: [] });
    expect(allowed(s, web, 'ingress', db, 'TCP', 8080)).toBe(false);
    expect(allowed(s, web, 'ingress', HOST, 'TCP', 8080)).toBe(true); // the host, always
    expect(allowed(s, web, 'egress', db, 'TCP', 5432)).toBe(true);
    const other = compile(base([policy('y', 'deny', { podSelector: {} })]), locals, opts);
    expect(ep(other, 11).ingressIsolated).toBe(false);
  });

  it('allow-all: one empty rule admits every peer, protocol and port', () => {
    const s = compile(base([policy('x', 'deny', { podSelector: {} }), policy('x', 'allow', { podSelector: {}, ingress: [{}] })]), locals, opts);
    expect(ep(s, 11).entries).toEqual([{ identity: IDENTITY_ANY, egress: false, protocol: 0, port: 0, portPrefixLen: 0, ruleId: 1 }]);
    expect(allowed(s, web, 'ingress', '8.8.8.8', 'UDP', 53)).toBe(true);
  });

  it('podSelector peers are pods of the policy namespace', () => {
    const s = compile(
      base([policy('x', 'db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }] })]),
      locals,
      opts,
    );
    expect(ep(s, 13).ingressIsolated).toBe(true);
    expect(ep(s, 11).ingressIsolated).toBe(false);
    expect(allowed(s, db, 'ingress', apiX, 'TCP', 5432)).toBe(true);
    expect(allowed(s, db, 'ingress', apiY, 'TCP', 5432)).toBe(false);
    expect(allowed(s, db, 'ingress', web, 'TCP', 5432)).toBe(false);
  });

  it('namespaceSelector with matchExpressions: every pod of matching namespaces', () => {
    const s = compile(
      base([
        policy('x', 'p', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } }] }],
        }),
      ]),
      locals,
      opts,
    );
    expect(allowed(s, web, 'ingress', apiY, 'TCP', 80)).toBe(true);
    expect(allowed(s, web, 'ingress', client, 'TCP', 80)).toBe(true);
    expect(allowed(s, web, 'ingress', apiX, 'TCP', 80)).toBe(false);
    // by the name label Kubernetes puts on every namespace
    const byName = compile(
      base([policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] })]),
      locals,
      opts,
    );
    expect(allowed(byName, web, 'ingress', client, 'TCP', 80)).toBe(true);
    expect(allowed(byName, web, 'ingress', db, 'TCP', 80)).toBe(false);
  });

  it('podSelector and namespaceSelector in one peer intersect; in two peers they add up', () => {
    const one = compile(
      base([policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'api' } } }] }] })]),
      locals,
      opts,
    );
    expect(allowed(one, db, 'ingress', apiY, 'TCP', 1)).toBe(true);
    expect(allowed(one, db, 'ingress', client, 'TCP', 1)).toBe(false);
    expect(allowed(one, db, 'ingress', apiX, 'TCP', 1)).toBe(false);
    const two = compile(
      base([policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }, { podSelector: { matchLabels: { app: 'api' } } }] }] })]),
      locals,
      opts,
    );
    expect(allowed(two, db, 'ingress', apiY, 'TCP', 1)).toBe(true);
    expect(allowed(two, db, 'ingress', client, 'TCP', 1)).toBe(true);
    expect(allowed(two, db, 'ingress', apiX, 'TCP', 1)).toBe(true);
    expect(allowed(two, db, 'ingress', web, 'TCP', 1)).toBe(false);
  });

  it('ipBlock with except: CIDR identities of the block, none of the except, pod addresses included', () => {
    const s = compile(
      base([
        policy('x', 'p', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.244.2.0/24', '10.1.0.0/16'] } }] }],
        }),
        // another local policy's prefix inside the block, and one inside an except
        policy('x', 'q', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.5.0.0/16' } }, { ipBlock: { cidr: '10.1.2.0/24' } }] }] }),
      ]),
      locals,
      opts,
    );
    const id = (cidr: string) => s.cidrs.get(cidr)!;
    for (const c of ['10.0.0.0/8', '10.244.2.0/24', '10.1.0.0/16', '10.5.0.0/16', '10.1.2.0/24']) expect(isCidrIdentity(id(c))).toBe(true);
    const peers = new Set(ep(s, 11).entries.filter((e) => e.egress).map((e) => e.identity));
    expect(peers).toEqual(new Set([id('10.0.0.0/8'), id('10.5.0.0/16')]));
    expect(allowed(s, web, 'egress', '10.9.9.9', 'TCP', 443)).toBe(true);
    expect(allowed(s, web, 'egress', '10.5.1.1', 'TCP', 443)).toBe(true);
    expect(allowed(s, web, 'egress', '10.1.2.3', 'TCP', 443)).toBe(false); // inside an except, though another prefix is longer
    expect(allowed(s, web, 'egress', '10.1.200.1', 'TCP', 443)).toBe(false);
    expect(allowed(s, web, 'egress', apiX, 'TCP', 443)).toBe(false); // 10.244.2.30 is in the except
    expect(allowed(s, web, 'egress', db, 'TCP', 5432)).toBe(true); // a pod address inside the block
    expect(allowed(s, web, 'egress', '11.0.0.1', 'TCP', 443)).toBe(false);
    expect(cidrIdentity(s, '11.0.0.1')).toBe(IDENTITY_WORLD);
  });

  it('ipBlock 0.0.0.0/0 admits all of IPv4 and none of IPv6', () => {
    const s = compile(
      base([policy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }] }] })]),
      locals,
      opts,
    );
    expect(isCidrIdentity(s.cidrs.get('0.0.0.0/0')!)).toBe(true);
    expect(s.cidrs.get('::/0')).toBe(IDENTITY_WORLD);
    expect(allowed(s, web, 'egress', '8.8.8.8', 'TCP', 443)).toBe(true);
    expect(allowed(s, web, 'egress', '169.254.169.254', 'TCP', 80)).toBe(false);
    expect(allowed(s, web, 'egress', '2001:db8::1', 'TCP', 443)).toBe(false);
  });

  it('named ports: ingress resolves on the endpoint itself', () => {
    const s = compile(
      base([policy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] }] })]),
      locals,
      opts,
    );
    // web-1 names 8080 http, web-2 names 8081; same identity, different entries
    expect(ep(s, 11).entries.map((e) => e.port)).toEqual([8080]);
    expect(ep(s, 12).entries.map((e) => e.port)).toEqual([8081]);
    expect(allowed(s, web, 'ingress', client, 'TCP', 8080)).toBe(true);
    expect(allowed(s, web, 'ingress', client, 'TCP', 8081)).toBe(false);
    expect(allowed(s, web2, 'ingress', client, 'TCP', 8081)).toBe(true);
    expect(allowed(s, web, 'ingress', client, 'UDP', 8080)).toBe(false);
  });

  it('named ports: egress resolves on each destination pod, through a selector or an ipBlock', () => {
    const s = compile(
      base([
        policy('x', 'p', {
          podSelector: { matchLabels: { app: 'db' } },
          policyTypes: ['Egress'],
          egress: [
            { to: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'http' }, { port: 'nope' }] },
            { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 'metrics' }] },
          ],
        }),
      ]),
      locals,
      opts,
    );
    // web-1 and web-2 name their ports differently, so they are two identities
    const [web1Id, web2Id] = [ep(s, 11).identity, ep(s, 12).identity];
    const web1Prefix = s.cidrs.get(`${web.ips[0]}/32`)!;
    expect(isCidrIdentity(web1Prefix)).toBe(true);
    expect(new Set(ep(s, 13).entries)).toEqual(new Set([
      { identity: web1Id, egress: true, protocol: 6, port: 8080, portPrefixLen: 16, ruleId: 1 },
      { identity: web2Id, egress: true, protocol: 6, port: 8081, portPrefixLen: 16, ruleId: 1 },
      // metrics through the ipBlock: web-1's address inside 10.0.0.0/8, by its own prefix
      { identity: web1Prefix, egress: true, protocol: 6, port: 9090, portPrefixLen: 16, ruleId: 2 },
    ]));
    expect(allowed(s, db, 'egress', web, 'TCP', 8080)).toBe(true);
    expect(allowed(s, db, 'egress', web, 'TCP', 9090)).toBe(true);
    expect(allowed(s, db, 'egress', web, 'TCP', 8081)).toBe(false); // web-2's http, not web-1's
    expect(allowed(s, db, 'egress', web2, 'TCP', 8081)).toBe(true);
    expect(allowed(s, db, 'egress', web2, 'TCP', 9090)).toBe(false);
  });

  it('named ports with any destination: every pod identity that has the name', () => {
    const s = compile(
      base([policy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'pg' }] }] })]),
      locals,
      opts,
    );
    expect(ep(s, 11).entries.map((e) => [e.identity, e.port])).toEqual([[ep(s, 13).identity, 5432]]);
    expect(allowed(s, web, 'egress', db, 'TCP', 5432)).toBe(true);
    expect(allowed(s, web, 'egress', '1.1.1.1', 'TCP', 5432)).toBe(false);
  });

  it('endPort: a range becomes port prefixes', () => {
    const s = compile(
      base([policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 8080, endPort: 8090 }, { protocol: 'UDP' }, { protocol: 'SCTP', port: 9 }] }] })]),
      locals,
      opts,
    );
    expect(ep(s, 13).entries.map((e) => [e.protocol, e.port, e.portPrefixLen])).toEqual([
      [6, 8080, 13],
      [6, 8088, 15],
      [6, 8090, 16],
      [17, 0, 0],
      [132, 9, 16],
    ]);
    for (let port = 8070; port < 8100; port++) expect(allowed(s, db, 'ingress', web, 'TCP', port)).toBe(port >= 8080 && port <= 8090);
    expect(allowed(s, db, 'ingress', web, 'UDP', 12345)).toBe(true);
  });

  it('several policies: the union of their rules; duplicates keep the lowest rule id', () => {
    const s = compile(
      base([
        policy('x', 'b', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] }),
        policy('x', 'a', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }, { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] }),
        policy('x', 'c', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] }] }),
      ]),
      locals,
      opts,
    );
    // rule ids follow "namespace/name": a (ingress 0, 1), b (0), c (0)
    expect([...s.rules.values()].map((r) => [r.ruleId, r.policy, r.direction, r.index])).toEqual([
      [1, 'x/a', 'ingress', 0],
      [2, 'x/a', 'ingress', 1],
      [3, 'x/b', 'ingress', 0],
      [4, 'x/c', 'ingress', 0],
    ]);
    const entries = ep(s, 13).entries;
    const toWeb = entries.filter((e) => e.identity === ep(s, 11).identity);
    expect(toWeb).toEqual([{ identity: ep(s, 11).identity, egress: false, protocol: 6, port: 5432, portPrefixLen: 16, ruleId: 2 }]);
    expect(entries).toHaveLength(3); // api, web-1 and web-2 (two identities: their named ports differ)
    expect(allowed(s, db, 'ingress', apiX, 'UDP', 1)).toBe(true);
    expect(allowed(s, db, 'ingress', web, 'TCP', 5432)).toBe(true);
    expect(allowed(s, db, 'ingress', web, 'TCP', 5433)).toBe(false);
  });

  it('policyTypes: defaulted by the parser, and what isolates a direction', () => {
    const egressRulesNoTypes = policy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] });
    const s = compile(base([egressRulesNoTypes]), locals, opts);
    expect(ep(s, 11)).toMatchObject({ ingressIsolated: true, egressIsolated: true });
    expect(allowed(s, web, 'egress', db, 'TCP', 1)).toBe(true);
    expect(allowed(s, web, 'egress', apiX, 'TCP', 1)).toBe(false);
    expect(allowed(s, web, 'ingress', db, 'TCP', 1)).toBe(false);
    // Egress only: ingress rules in the object do not count and do not isolate
    const egressOnly = policy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], ingress: [{}] });
    const e = compile(base([egressOnly]), locals, opts);
    expect(ep(e, 11)).toMatchObject({ ingressIsolated: false, egressIsolated: true, entries: [] });
    expect(allowed(e, web, 'egress', db, 'TCP', 1)).toBe(false);
    expect(allowed(e, web, 'ingress', db, 'TCP', 1)).toBe(true);
  });

  it('a label change moves the pod to another identity and out of a selection', () => {
    const p = [policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] })];
    const before = compile(base(p), locals, opts);
    const relabelled = pod('x', 'web-1', { app: 'web', canary: 'true' }, { ips: web.ips, ports: [['http', 8080]] });
    const after = compile(base(p, { pods: [relabelled, ...pods.slice(1)] }), locals, opts);
    expect(after.ipcache.get(web.ips[0]!)).not.toBe(before.ipcache.get(web.ips[0]!));
    expect(ep(after, 11).identity).toBe(after.ipcache.get(web.ips[0]!));
    expect(allowed(after, db, 'ingress', web, 'TCP', 1)).toBe(true); // still app=web
    const stricter = [policy('x', 'p', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] } }] }] })];
    expect(allowed(compile(base(stricter), locals, opts), db, 'ingress', web, 'TCP', 1)).toBe(true);
    expect(allowed(compile(base(stricter, { pods: [relabelled, ...pods.slice(1)] }), locals, opts), db, 'ingress', web, 'TCP', 1)).toBe(false);
    // a namespace label change moves every pod of the namespace
    const nsChanged = compile(base(p, { namespaces: [ns('x', { team: 'c' }), nsY] }), locals, opts);
    expect(nsChanged.ipcache.get(db.ips[0]!)).not.toBe(before.ipcache.get(db.ips[0]!));
  });

  it('deleting the policy lifts the isolation', () => {
    const p = policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(ep(compile(base([p]), locals, opts), 11)).toMatchObject({ ingressIsolated: true, egressIsolated: true });
    expect(ep(compile(base([]), locals, opts), 11)).toMatchObject({ ingressIsolated: false, egressIsolated: false, entries: [] });
  });
});

describe('policy compile: broad peers stay a few entries (issue #8 item 5)', () => {
  // 2,000 label sets in 20 namespaces, one local endpoint.
  const many = Array.from({ length: 2000 }, (_, i) => pod(`ns-${i % 20}`, `p-${i}`, { app: `a-${i}` }, { ips: [`10.250.${i >> 8}.${i & 255}`], nodeName: 'node-b' }));
  const spaces = Array.from({ length: 20 }, (_, i) => ns(`ns-${i}`, { half: i < 10 ? 'low' : 'high' }));
  const world = (p: NetworkPolicy) => cluster({ namespaces: [nsX, ...spaces], pods: [web, ...many], policies: [p], nodes: [node('node-a', [HOST])] });
  const webOnly = [endpoint(11, web)];
  const ports = [{ port: 80 }, { port: 443 }, { protocol: 'UDP', port: 53 }];

  it('namespaceSelector {} is one IDENTITY_CLUSTER entry per port, and admits every pod but nothing else', () => {
    const s = compile(world(policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }], ports }] })), webOnly, opts);
    expect(ep(s, 11).entries.map((e) => e.identity)).toEqual([IDENTITY_CLUSTER, IDENTITY_CLUSTER, IDENTITY_CLUSTER]);
    expect(allowed(s, web, 'ingress', many[1234]!, 'TCP', 443)).toBe(true);
    expect(allowed(s, web, 'ingress', many[7]!, 'UDP', 53)).toBe(true);
    expect(allowed(s, web, 'ingress', '8.8.8.8', 'TCP', 80)).toBe(false);
    expect(allowed(s, web, 'ingress', many[7]!, 'TCP', 81)).toBe(false);
  });

  it('a namespaceSelector is one entry per matching namespace and port; podSelector {} alone the policy namespace', () => {
    const s = compile(world(policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { half: 'low' } } }, { podSelector: {} }], ports }] })), webOnly, opts);
    const ids = new Set(ep(s, 11).entries.map((e) => e.identity));
    expect(ids.size).toBe(11); // ns-0..ns-9 and x
    for (const id of ids) expect(isNamespaceIdentity(id)).toBe(true);
    expect(ep(s, 11).entries).toHaveLength(33);
    expect(allowed(s, web, 'ingress', many[3]!, 'TCP', 80)).toBe(true); // ns-3
    expect(allowed(s, web, 'ingress', many[13]!, 'TCP', 80)).toBe(false); // ns-13
    expect(s.podNamespaces?.get(s.ipcache.get(many[3]!.ips[0]!)!)).toBe(s.namespaceIds?.get('ns-3'));
  });

  it('namespace identities are stable: by name, kept across states, unchanged by label changes', () => {
    const p = policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { half: 'low' } } }] }] });
    const a = compile(world(p), webOnly, opts);
    const b = compile(cluster({ ...world(p), namespaces: [nsX, ...spaces.map((n) => ns(n.name, { half: 'high' }))] }), webOnly, { ...opts, previous: a });
    expect(b.namespaceIds).toEqual(a.namespaceIds);
    expect(allowed(b, web, 'ingress', many[3]!, 'TCP', 80)).toBe(false);
  });
});

describe('policy compile: endpoints, addresses, numbering', () => {
  it('an endpoint without a Pod object is a pod without labels; without names, nothing selects it', () => {
    const deny = policy('x', 'deny', { podSelector: {} });
    const onlyApp = policy('x', 'web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] });
    const ghost = endpoint(20, ['x', 'not-yet-seen'], ['10.244.1.50']);
    const anon = endpoint(21, null, ['10.244.1.51']);
    const s = compile(base([deny, onlyApp]), [...locals, ghost, anon], opts);
    expect(ep(s, 20)).toMatchObject({ ingressIsolated: true, egressIsolated: false });
    expect(s.identities?.get(ep(s, 20).identity)).toMatchObject({ namespace: 'x', labels: {} });
    expect(s.ipcache.get('10.244.1.50')).toBe(ep(s, 20).identity);
    expect(ep(s, 21)).toEqual({ ifindex: 21, identity: IDENTITY_WORLD, ingressIsolated: false, egressIsolated: false, entries: [] });
    expect(s.ipcache.has('10.244.1.51')).toBe(false);
  });

  it('hostNetwork pods are neither selected nor peers by identity', () => {
    const hostPod = pod('x', 'agent', { app: 'web' }, { ips: [HOST], hostNetwork: true });
    const deny = policy('x', 'deny', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] });
    const s = compile(base([deny], { pods: [...pods, hostPod] }), [...locals, endpoint(30, hostPod, [])], opts);
    expect(ep(s, 30)).toMatchObject({ identity: IDENTITY_WORLD, ingressIsolated: false });
    expect(s.ipcache.get(HOST)).toBeUndefined();
    expect([...s.identities!.values()].filter((i) => i.labels.app === 'web')).toHaveLength(2); // web-1, web-2
  });

  it('this node: hostAddresses and its Node object are HOST prefixes', () => {
    const s = compile(base([], { nodes: [node('node-a', ['192.168.1.11', 'fd00::10']), node('node-b', ['192.168.1.12'])] }), locals, {
      nodeName: 'node-a',
      hostAddresses: [HOST, '192.168.1.10/24', 'junk'],
    });
    expect([...s.cidrs].filter(([, id]) => id === IDENTITY_HOST).map(([c]) => c).sort()).toEqual(['192.168.1.10/32', '192.168.1.11/32', 'fd00::10/128']);
  });

  it("other nodes' InternalIPs are IDENTITY_REMOTE_NODE in the ipcache (namespace 0), never this node's, never a peer", () => {
    const nodes = [
      node('node-a', [HOST, '203.0.113.1'], { internalIPs: [HOST, 'fd5a::a'] }),
      node('node-b', ['192.168.1.12', '203.0.113.2'], { internalIPs: ['192.168.1.12', 'fd5a::b'] }),
      // claims this node's address too: still this node's, HOST
      node('node-c', [HOST], { internalIPs: [HOST, '192.168.1.13'] }),
    ];
    const wide = policy('x', 'wide', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }, { ipBlock: { cidr: '192.168.0.0/16' } }] }], egress: [{}] });
    const s = compile(base([wide], { nodes }), locals, opts);
    const remote = [...s.ipcache].filter(([, id]) => id === IDENTITY_REMOTE_NODE).map(([ip]) => ip).sort();
    expect(remote).toEqual(['192.168.1.12', '192.168.1.13', 'fd5a::b']); // ExternalIPs are no node's to reach pods by
    expect(s.ipcache.get(HOST)).toBeUndefined();
    expect(s.ipcache.get('fd5a::a')).toBeUndefined();
    expect(s.podNamespaces?.get(IDENTITY_REMOTE_NODE)).toBeUndefined();
    for (const e of s.endpoints.values()) expect(e.entries.map((x) => x.identity)).not.toContain(IDENTITY_REMOTE_NODE);
    // A pod (stale data) claiming a node's address does not take it; a local endpoint's address stays its own.
    const squatter = pod('y', 'squat', { app: 'squat' }, { ips: ['192.168.1.12'], nodeName: 'node-b' });
    const moved = endpoint(11, web, ['10.244.1.10', 'fd5a::b']);
    const t = compile(base([], { nodes, pods: [...pods, squatter] }), [moved, ...locals.slice(1)], opts);
    expect(t.ipcache.get('192.168.1.12')).toBe(IDENTITY_REMOTE_NODE);
    expect(t.ipcache.get('fd5a::b')).toBe(ep(t, 11).identity);
  });

  it('local endpoint addresses win in the ipcache; pods of every node are there', () => {
    const moved = endpoint(11, web, ['10.244.1.10', 'fd00::10']);
    const s = compile(base([]), [moved], opts);
    expect(s.ipcache.get('fd00::10')).toBe(ep(s, 11).identity);
    expect(s.ipcache.get(client.ips[0]!)).toBeGreaterThanOrEqual(FIRST_POD_IDENTITY);
  });

  it('deterministic: the same state gives the same numbers, whatever the input order', () => {
    const ps = [
      policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }, { namespaceSelector: {} }] }] }),
      policy('y', 'q', { podSelector: {}, egress: [{}] }),
    ];
    const a = compile(base(ps), locals, opts);
    const b = compile(base([...ps].reverse(), { pods: [...pods].reverse(), namespaces: [nsY, nsX] }), [...locals].reverse(), opts);
    expect(b.ipcache).toEqual(a.ipcache);
    expect(b.cidrs).toEqual(a.cidrs);
    expect(b.endpoints).toEqual(a.endpoints);
    expect(b.rules).toEqual(a.rules);
  });

  it('with the previous state, identities keep their numbers', () => {
    const first = compile(base([]), locals, opts);
    const more = compile(base([], { pods: [...pods, pod('x', 'new', { app: 'new' }, { ips: ['10.244.1.99'] })] }), locals, { ...opts, previous: first });
    for (const [ip, id] of first.ipcache) expect(more.ipcache.get(ip)).toBe(id);
  });
});

describe('policy compile: against a literal reading of NetworkPolicy', () => {
  // A small random generator; every run is the same.
  let seed = 0x9e3779b9;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const APPS = ['web', 'db', 'api'];
  const TIERS = ['a', 'b'];
  const selector = (): Record<string, unknown> => {
    switch (rnd(5)) {
      case 0:
        return {};
      case 1:
        return { matchLabels: { app: pick(APPS) } };
      case 2:
        return { matchExpressions: [{ key: 'tier', operator: pick(['In', 'NotIn']), values: [pick(TIERS)] }] };
      case 3:
        return { matchExpressions: [{ key: 'tier', operator: pick(['Exists', 'DoesNotExist']) }] };
      default:
        return { matchLabels: { app: pick(APPS) }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['b'] }] };
    }
  };
  const nsSelector = (): Record<string, unknown> =>
    pick([{}, { matchLabels: { env: 'prod' } }, { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'test'] }] }]);
  const peer = (): Record<string, unknown> => {
    switch (rnd(4)) {
      case 0:
        return { podSelector: selector() };
      case 1:
        return { namespaceSelector: nsSelector() };
      case 2:
        return { podSelector: selector(), namespaceSelector: nsSelector() };
      default:
        return pick([
          { ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.1.0/28'] } },
          { ipBlock: { cidr: '10.244.1.0/24' } },
          { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } },
          { ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } },
        ]);
    }
  };
  const port = (): Record<string, unknown> =>
    pick([{ port: 80 }, { port: 80, endPort: 90 }, { protocol: 'UDP', port: 53 }, { port: 'http' }, { protocol: 'UDP' }, { port: 'dns', protocol: 'UDP' }]);
  const rule = (to: 'from' | 'to'): Record<string, unknown> => {
    const r: Record<string, unknown> = {};
    if (rnd(4) > 0) r[to] = Array.from({ length: 1 + rnd(2) }, peer);
    if (rnd(3) > 0) r.ports = Array.from({ length: 1 + rnd(2) }, port);
    return r;
  };

  function randomWorld() {
    const namespaces = [ns('p', { env: 'prod' }), ns('d', { env: 'dev' }), ns('t', { env: 'test' })];
    const all: Pod[] = [];
    for (let i = 0; i < 14; i++) {
      const app = pick(APPS);
      const tier: Record<string, string> = rnd(3) === 0 ? {} : { tier: pick(TIERS) };
      // named ports independent of the labels: pods of one label set may name ports differently
      const ports: [string, number, string?][] = pick([[['http', 80]], [['http', 85], ['dns', 53, 'UDP']], [], [['http', 90]]]);
      const subnet = i < 8 ? 1 : 2;
      all.push(pod(pick(['p', 'd', 't']), `pod-${i}`, { app, ...tier }, { ips: [`10.244.${subnet}.${i + 2}`], nodeName: subnet === 1 ? 'node-a' : 'node-b', hostNetwork: rnd(12) === 0, ports }));
    }
    const policies = Array.from({ length: 1 + rnd(5) }, (_, i) => {
      const types = pick([undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']]);
      return policy(pick(['p', 'd', 't']), `np-${i}`, {
        podSelector: selector(),
        ...(types === undefined ? {} : { policyTypes: types }),
        ingress: Array.from({ length: rnd(3) }, () => rule('from')),
        egress: Array.from({ length: rnd(3) }, () => rule('to')),
      });
    });
    const locals = all.filter((p) => p.nodeName === 'node-a').map((p, i) => endpoint(100 + i, p, p.hostNetwork ? [] : p.ips));
    return { state: cluster({ namespaces, pods: all, policies, nodes: [node('node-a', [HOST])] }), locals };
  }

  it('agrees with the reference on every probe of 150 random clusters', () => {
    const probes: [Protocol, number][] = [['TCP', 80], ['TCP', 85], ['TCP', 90], ['TCP', 91], ['UDP', 53], ['UDP', 54], ['SCTP', 80]];
    const externals = ['203.0.113.5', '203.0.113.200', '8.8.8.8', '10.9.0.1', '10.244.1.1', HOST];
    let checked = 0;
    for (let round = 0; round < 150; round++) {
      const { state, locals } = randomWorld();
      const compiled = compile(state, locals, opts);
      const peers = [...state.pods.filter((p) => !p.hostNetwork).flatMap((p) => p.ips), ...externals];
      for (const l of locals) {
        for (const direction of ['ingress', 'egress'] as const) {
          for (const ip of peers) {
            for (const [protocol, p] of probes) {
              const want = referenceVerdict(state, l, direction, ip, protocol, p, [HOST]);
              const got = datapathVerdict(compiled, l.ifindex, direction, ip, protocol, p);
              if (want !== got) {
                expect.fail(`round ${round}: ${l.podNamespace}/${l.podName} ${direction} ${ip} ${protocol}/${p}: reference ${want}, compiled ${got}\n${JSON.stringify(state.policies, null, 1)}`);
              }
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });
});

describe('policy compile: scale', () => {
  it('1,000 pods × 1,000 policies (time printed, not asserted)', () => {
    const N_NS = 10;
    const namespaces = Array.from({ length: N_NS }, (_, i) => ns(`ns-${i}`, { team: `t${i % 4}`, env: i % 2 ? 'prod' : 'dev' }));
    const all: Pod[] = [];
    for (let i = 0; i < 1000; i++) {
      all.push(
        pod(`ns-${i % N_NS}`, `pod-${i}`, { app: `app-${i % 50}`, tier: `tier-${i % 3}` }, {
          ips: [`10.${100 + (i >> 8)}.${i & 255}.${(i * 7) & 255 || 1}`],
          nodeName: i % 10 === 0 ? 'node-a' : `node-${i % 10}`,
          ports: [['http', 8000 + (i % 50)]],
        }),
      );
    }
    const policies: NetworkPolicy[] = [];
    for (let i = 0; i < 1000; i++) {
      policies.push(
        policy(`ns-${i % N_NS}`, `np-${i}`, {
          podSelector: { matchLabels: { app: `app-${i % 50}` } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            { from: [{ podSelector: { matchLabels: { app: `app-${(i + 1) % 50}` } } }], ports: [{ port: 80 }, { port: 'http' }] },
            { from: [{ namespaceSelector: { matchLabels: { team: `t${i % 4}` } }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['tier-1', 'tier-2'] }] } }], ports: [{ port: 9000, endPort: 9100 }] },
          ],
          egress: [
            { to: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }], ports: [{ port: 'http' }] },
            { to: [{ ipBlock: { cidr: `172.${16 + (i % 16)}.0.0/16`, except: [`172.${16 + (i % 16)}.${i % 256}.0/24`] } }] },
          ],
        }),
      );
    }
    const locals = all.filter((p) => p.nodeName === 'node-a').map((p, i) => endpoint(1000 + i, p));
    const state = cluster({ namespaces, pods: all, policies, nodes: [node('node-a', [HOST])] });
    compile(state, locals, opts); // warm up the JIT
    const t0 = performance.now();
    const s = compile(state, locals, opts);
    const ms = performance.now() - t0;
    const entries = [...s.endpoints.values()].reduce((n, e) => n + e.entries.length, 0);
    console.log(`compile: 1000 pods, 1000 policies, ${locals.length} local endpoints → ${entries} entries, ${s.cidrs.size} prefixes, ${s.ipcache.size} ipcache entries in ${ms.toFixed(0)} ms`);
    expect(s.endpoints.size).toBe(locals.length);
  });
});
