// straitctl doctor's rules on plain data: a healthy node of two pods is clean, and
// each way of breaking it is reported as exactly one problem of the right kind,
// with the repair that puts it back.
import { describe, expect, it } from 'vitest';
import { scan } from '../../src/doctor/scan.js';
import { planFixes } from '../../src/doctor/fix.js';
import type { Observed, Problem } from '../../src/doctor/types.js';
import { hostVethName, ownerAlias } from '../../src/state/host-veth.js';
import type { EndpointRecord } from '../../src/state/endpoint-record.js';

const NET = 'n1';
const pod = (n: number) => {
  const owner = { network: NET, containerId: `c${n}`, ifname: 'eth0' };
  const ip4 = `198.18.0.${n + 1}`;
  const ip6 = `fd5a::${n + 1}`;
  const ifindex = 10 + n;
  const hostMac = `02:00:00:00:01:0${n}`;
  const podMac = `02:00:00:00:02:0${n}`;
  const record: EndpointRecord = {
    ...owner,
    netns: `/run/netns/p${n}`,
    hostVeth: hostVethName(owner),
    ifindex,
    addresses: [ip4, ip6],
    podMac,
    k8s: {},
    createdAt: '2026-01-01T00:00:00.000Z',
  };
  return { owner, ip4, ip6, ifindex, hostMac, podMac, record };
};

const P1 = pod(1);
const P2 = pod(2);
const PROG = { from: 101, to: 102 };

function healthy(): Observed {
  const pods = [P1, P2];
  return {
    endpoints: pods.flatMap((p) =>
      [p.ip4, p.ip6].map((ip) => ({ family: ip.includes(':') ? (6 as const) : (4 as const), ip, ifindex: p.ifindex, flags: 1, podMac: p.podMac, hostMac: p.hostMac, identity: 7 })),
    ),
    policy: pods.map((p) => ({ ifindex: p.ifindex, gen: 0 as const, identity: 7, egress: false, protocol: 6, port: 80, portPrefixLen: 16 })),
    ct: [{ family: 4, saddr: P1.ip4, daddr: P2.ip4, sport: 40000, dport: 80, protocol: 6 }],
    linkMap: pods.map((p) => p.ifindex),
    leases: pods.flatMap((p) => [p.ip4, p.ip6].map((ip) => ({ ...p.owner, ip }))),
    records: pods.map((p) => p.record),
    links: pods.map((p) => ({
      ifindex: p.ifindex,
      name: p.record.hostVeth,
      alias: ownerAlias(p.owner),
      mac: p.hostMac,
      tc: { ingress: PROG.from, egress: PROG.to },
      routes: [
        { family: 4 as const, ip: p.ip4 },
        { family: 6 as const, ip: p.ip6 },
      ],
    })),
    programs: [{ buildId: 'b2', fromPod: PROG.from, toPod: PROG.to }],
    currentBuild: 'b2',
    pins: ['strait_endpoints_v1', 'strait_ct_v1', 'progs-b2'],
    deadTempFiles: [],
  };
}

const kinds = (ps: Problem[]) => ps.map((p) => p.kind).sort();
const ops = (ps: Problem[]) => planFixes(ps).map((a) => a.op);

describe('doctor scan', () => {
  it('finds nothing wrong on a consistent node, with or without the optional maps', () => {
    expect(scan(healthy())).toEqual([]);
    expect(scan({ ...healthy(), endpoints: null, policy: null, ct: null, linkMap: null })).toEqual([]);
    expect(scan({ ...healthy(), currentBuild: null })).toEqual([]);
  });

  it('a veth deleted behind strait\'s back: one veth-missing that tears the rest down as DEL would', () => {
    const o = healthy();
    o.links = o.links.filter((l) => l.ifindex !== P1.ifindex);
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['veth-missing']);
    expect(ps[0]!.object).toMatchObject({ ...P1.owner, hostVeth: P1.record.hostVeth, addresses: [P1.ip4, P1.ip6].sort() });
    // entries, their connection, the policy slot and the links entry, then record, leases last
    expect(ops(ps)).toEqual(['forget-endpoint', 'forget-endpoint', 'delete-ct', 'delete-policy', 'delete-link-entry', 'remove-record', 'release-lease', 'release-lease']);
  });

  it('a veth whose record never got written (ADD killed): veth-orphan, deleted with its leases and entries', () => {
    const o = healthy();
    o.records = o.records.filter((r) => r.containerId !== 'c2');
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['veth-orphan']);
    expect(ops(ps)).toEqual(['forget-endpoint', 'forget-endpoint', 'delete-ct', 'delete-policy', 'delete-link-entry', 'delete-link', 'release-lease', 'release-lease']);
  });

  it('leases of an owner with nothing else: one lease-orphan each', () => {
    const o = healthy();
    o.leases.push({ network: NET, ip: '198.18.0.9', containerId: 'gone', ifname: 'eth0' });
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['lease-orphan']);
    expect(planFixes(ps)).toEqual([{ op: 'release-lease', network: NET, ip: '198.18.0.9', containerId: 'gone', ifname: 'eth0' }]);
  });

  it('a deleted lease file of a live pod is re-reserved in its range set; one leased to another pod is a conflict', () => {
    const o = healthy();
    o.leases = o.leases.filter((l) => l.ip !== P1.ip6);
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['lease-missing']);
    expect(planFixes(ps)).toEqual([{ op: 'reserve-lease', ...P1.owner, ip: P1.ip6, setIndex: 1 }]);

    // held by an owner with nothing else (an orphan): taken over
    o.leases.push({ network: NET, ip: P1.ip6, containerId: 'other', ifname: 'eth0' });
    expect(planFixes(scan(o))).toEqual([{ op: 'reserve-lease', ...P1.owner, ip: P1.ip6, setIndex: 1, from: { containerId: 'other', ifname: 'eth0' } }]);
    // held by a live pod: two pods, one address
    o.records.push({ ...P2.record, containerId: 'other', ifindex: 40, addresses: [] });
    o.links.push({ ...o.links[1]!, alias: ownerAlias({ ...P2.owner, containerId: 'other' }), ifindex: 40, routes: [] });
    const again = scan(o).filter((p) => p.kind !== 'lease-extra');
    expect(kinds(again)).toEqual(['lease-conflict']);
    expect(again[0]!.fix).toBeNull();
  });

  it('a lease its record does not name is lease-extra', () => {
    const o = healthy();
    o.leases.push({ ...P1.owner, ip: '198.18.0.77' });
    expect(kinds(scan(o))).toEqual(['lease-extra']);
  });

  it('stray, missing and misdirected endpoint-map entries', () => {
    const o = healthy();
    o.endpoints!.push({ family: 4, ip: '198.18.0.200', ifindex: 999, flags: 1, podMac: P1.podMac, hostMac: P1.hostMac, identity: 0 });
    o.endpoints!.push({ family: 4, ip: '198.18.0.201', ifindex: P1.ifindex, flags: 1, podMac: P1.podMac, hostMac: P1.hostMac, identity: 0 });
    expect(kinds(scan(o))).toEqual(['endpoint-entry-orphan', 'endpoint-entry-orphan']);

    const m = healthy();
    m.endpoints = m.endpoints!.filter((e) => e.ip !== P1.ip6);
    const missing = scan(m);
    expect(kinds(missing)).toEqual(['endpoint-entry-missing']);
    // rebuilt from the pod's other entry (flags, identity) and its veth
    expect(planFixes(missing)).toEqual([
      { op: 'write-endpoint', entry: { family: 6, ip: P1.ip6, ifindex: P1.ifindex, podMac: P1.podMac, hostMac: P1.hostMac, flags: 1, identity: 7 } },
    ]);
    m.endpoints = m.endpoints.filter((e) => e.ip !== P1.ip4);
    expect(scan(m).map((p) => p.fix)).toEqual([null, null]);

    const w = healthy();
    w.endpoints = w.endpoints!.map((e) => (e.ip === P2.ip4 ? { ...e, ifindex: 3 } : e));
    const wrong = scan(w);
    expect(kinds(wrong)).toEqual(['endpoint-entry-mismatch']);
    expect(planFixes(wrong)[0]).toMatchObject({ op: 'write-endpoint', entry: { ip: P2.ip4, ifindex: P2.ifindex } });
  });

  it('a new pod holding an address a stale record still names keeps its entry', () => {
    const o = healthy();
    // P1 is gone (no veth) but its record survived; P2 now holds P1's IPv4 address.
    o.links = o.links.filter((l) => l.ifindex !== P1.ifindex);
    o.leases = o.leases.filter((l) => l.containerId !== 'c1');
    o.records = o.records.map((r) => (r.containerId === 'c2' ? { ...r, addresses: [P1.ip4, P2.ip6] } : r));
    o.leases = o.leases.map((l) => (l.ip === P2.ip4 ? { ...l, ip: P1.ip4 } : l));
    o.endpoints = o.endpoints!.filter((e) => e.ip !== P2.ip4 && e.ip !== P1.ip4);
    o.endpoints.push({ family: 4, ip: P1.ip4, ifindex: P2.ifindex, flags: 1, podMac: P2.podMac, hostMac: P2.hostMac, identity: 7 });
    o.links[0]!.routes = [{ family: 4, ip: P1.ip4 }, { family: 6, ip: P2.ip6 }];
    o.ct = [];
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['veth-missing']);
    const forgotten = planFixes(ps).filter((a) => a.op === 'forget-endpoint').map((a) => (a as { ip: string }).ip);
    expect(forgotten).toEqual([P1.ip6]);
  });

  it('a pre-reboot record naming an ifindex a new pod\'s veth now has never touches that pod', () => {
    const o = healthy();
    const old = { ...P1.owner, containerId: 'before-reboot' };
    o.records.push({ ...P1.record, ...old, hostVeth: hostVethName(old), ifindex: P2.ifindex, addresses: ['198.18.0.66'] });
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['veth-missing']);
    expect(planFixes(ps)).toEqual([{ op: 'remove-record', owner: old }]);
  });

  it('the record of a recreated veth names the old ifindex: record-mismatch, rewritten', () => {
    const o = healthy();
    o.records = o.records.map((r) => (r.containerId === 'c1' ? { ...r, ifindex: 4 } : r));
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['record-mismatch']);
    expect(planFixes(ps)).toEqual([{ op: 'rewrite-record', record: P1.record }]);
  });

  it('missing and stray host routes', () => {
    const o = healthy();
    o.links[0]!.routes = [{ family: 4, ip: P1.ip4 }, { family: 4, ip: '198.18.0.99' }];
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['route-missing', 'route-orphan']);
    expect(planFixes(ps)).toEqual([
      { op: 'add-route', link: P1.record.hostVeth, family: 6, ip: P1.ip6 },
      { op: 'delete-route', link: P1.record.hostVeth, family: 4, ip: '198.18.0.99' },
    ]);
  });

  it('a detached or outdated program is reattached, and the old build\'s pins then go', () => {
    const o = healthy();
    o.links[0]!.tc.egress = null;
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['tc-missing']);
    expect(planFixes(ps)).toEqual([{ op: 'attach', ifindex: P1.ifindex, direction: 'egress' }]);

    const s = healthy();
    s.programs.push({ buildId: 'b1', fromPod: 55, toPod: 56 });
    s.links[1]!.tc.ingress = 55;
    s.pins.push('progs-b1');
    const stale = scan(s);
    expect(kinds(stale)).toEqual(['pin-stale-programs', 'tc-stale']);
    expect(ops(stale)).toEqual(['attach', 'remove-pin']);
    // the old build is what runs until the current one is pinned: nothing to say
    expect(scan({ ...s, currentBuild: 'b3' }).map((p) => p.kind)).toEqual([]);
  });

  it('policy slots, connections and link entries no strait veth accounts for', () => {
    const o = healthy();
    o.policy!.push({ ifindex: 77, gen: 1, identity: 1, egress: true, protocol: 0, port: 0, portPrefixLen: 0 });
    o.policy!.push({ ifindex: 77, gen: 1, identity: 2, egress: true, protocol: 0, port: 0, portPrefixLen: 0 });
    o.ct!.push({ family: 4, saddr: '198.18.0.50', daddr: '10.0.0.1', sport: 1, dport: 2, protocol: 17 });
    o.ct!.push({ family: 4, saddr: '10.0.0.1', daddr: P2.ip4, sport: 1, dport: 2, protocol: 17 }); // a live pod's: fine
    o.linkMap!.push(78);
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['conntrack-orphan', 'link-entry-orphan', 'policy-orphan']);
    expect(ps.find((p) => p.kind === 'policy-orphan')!.object).toEqual({ ifindex: 77, entries: 2 });
  });

  it('a build pinned half-way (install killed between its programs) is pin-incomplete-programs, removed', () => {
    const o = healthy();
    o.programs[0]!.toPod = null;
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['pin-incomplete-programs']);
    expect(planFixes(ps)).toEqual([{ op: 'remove-pin', name: 'progs-b2' }]);
    o.programs.push({ buildId: 'b1', fromPod: null, toPod: 56 });
    expect(kinds(scan(o))).toEqual(['pin-incomplete-programs', 'pin-incomplete-programs']);
  });

  it('a build missing only one of its other programs (from_uplink) is pinned in part too', () => {
    const o = healthy();
    o.programs[0]!.missing = ['from_uplink'];
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['pin-incomplete-programs']);
    expect(ps[0]!.object).toEqual({ buildId: 'b2', missing: ['from_uplink'] });
    expect(planFixes(ps)).toEqual([{ op: 'remove-pin', name: 'progs-b2' }]);
  });

  it('a map pinned under an older layout version of a current map is stale; unknown maps are left alone', () => {
    const o = healthy();
    o.pins.push('strait_ct_v0', 'strait_links_v1', 'strait_frag_v1');
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['pin-stale-map']);
    expect(planFixes(ps)).toEqual([{ op: 'remove-pin', name: 'strait_ct_v0' }]);
  });

  it('a temp file whose writer was killed is tmp-orphan, removed', () => {
    const o = healthy();
    o.deadTempFiles.push('/var/lib/strait/ipam/n1/.tmp-4242-abcdef');
    const ps = scan(o);
    expect(kinds(ps)).toEqual(['tmp-orphan']);
    expect(planFixes(ps)).toEqual([{ op: 'remove-file', path: '/var/lib/strait/ipam/n1/.tmp-4242-abcdef' }]);
  });

  it('plans each repair once, removals in DEL\'s order with leases last', () => {
    const o = healthy();
    o.links = [];
    const plan = planFixes(scan(o));
    expect(new Set(plan.map((a) => JSON.stringify(a))).size).toBe(plan.length);
    const last = plan.findIndex((a) => a.op === 'release-lease');
    expect(plan.slice(last).every((a) => a.op === 'release-lease')).toBe(true);
    expect(plan.findIndex((a) => a.op === 'remove-record')).toBeLessThan(last);
  });
});
