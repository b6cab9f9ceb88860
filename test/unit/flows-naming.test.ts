// src/flows/naming.ts: every kind of record named as types.ts documents it: time to
// the nanosecond, verdict and reason, protocols and ports, pods from the cluster and
// from local endpoints, policies from rule ids, TCP flags and the flags.
import { describe, expect, it } from 'vitest';

import type { FlowNameSources } from '../../src/agent/core.js';
import { DropReason } from '../../src/datapath/maps/drop.js';
import { FlowEventFlag } from '../../src/datapath/maps/events.js';
import { FlowNamer, tcpFlagNames } from '../../src/flows/naming.js';
import { rfc3339Ns } from '../../src/flows/time.js';
import type { ClusterState, LocalEndpoint, Pod } from '../../src/policy/types.js';
import { event } from './flows-helpers.js';

const pod = (namespace: string, name: string, ips: string[], over: Partial<Pod> = {}): Pod => ({ namespace, name, labels: {}, ips, nodeName: 'n2', hostNetwork: false, ports: [], ...over });
const cluster = (pods: Pod[]): ClusterState => ({ namespaces: [], pods, policies: [], nodes: [], services: [], endpointSlices: [] });
const endpoint = (ips: string[], ns: string | null, name: string | null): LocalEndpoint => ({ id: `net/${ips[0]}/eth0`, ifindex: 9, ips, podNamespace: ns, podName: name });

// 2026-12-01T19:30:00.123456789Z, and an event stamped 1.000000123 s after boot
const WALL = BigInt(Date.UTC(2026, 11, 1, 19, 30, 0)) * 1_000_000n + 123_456_789n;
const TIME_NS = 1_000_000_123n;

function namer(sources: Partial<FlowNameSources> = {}): FlowNamer {
  const n = new FlowNamer({ nodeName: 'n1', clockOffsetNs: WALL - TIME_NS });
  n.refresh({ cluster: null, endpoints: [], rules: new Map(), ...sources });
  return n;
}

describe('naming flow events', () => {
  it('a denied IPv4 TCP drop: time exact to the ns, reason, ports, flags, pods from the cluster, the node', () => {
    const n = namer({ cluster: cluster([pod('x', 'a', ['10.1.0.2']), pod('y', 'b', ['10.1.0.3', 'fd00::3'])]) });
    expect(n.name(event({ timeNs: TIME_NS }))).toEqual({
      time: '2026-12-01T19:30:00.123456789Z',
      verdict: 'denied',
      reason: 'policy-ingress',
      event: 'drop',
      protocol: 'tcp',
      src: { ip: '10.1.0.2', port: 40000, pod: 'x/a', identity: 256 },
      dst: { ip: '10.1.0.3', port: 80, pod: 'y/b', identity: 257 },
      node: 'n1',
      direction: 'ingress',
      point: 'to-pod',
      tcpFlags: ['SYN'],
      bytes: 74,
    });
  });

  it('time: every nanosecond digit, leading zeros kept, across a second boundary', () => {
    expect(rfc3339Ns(0n)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(rfc3339Ns(WALL)).toBe('2026-12-01T19:30:00.123456789Z');
    expect(rfc3339Ns(WALL - 123_456_789n + 999_999_999n)).toBe('2026-12-01T19:30:00.999999999Z');
    expect(rfc3339Ns(WALL - 123_456_789n + 1_000_000_007n)).toBe('2026-12-01T19:30:01.000000007Z');
    expect(namer().name(event({ timeNs: TIME_NS + 1n })).time).toBe('2026-12-01T19:30:00.123456790Z');
  });

  it('denied: policy egress and ingress, a conntrack miss, a revoked connection; dropped: the rest, by kebab-case name', () => {
    const n = namer();
    const named = (reason: number) => {
      const r = n.name(event({ reason }));
      return [r.verdict, r.reason];
    };
    expect(named(DropReason.POLICY_EGRESS)).toEqual(['denied', 'policy-egress']);
    expect(named(DropReason.POLICY_INGRESS)).toEqual(['denied', 'policy-ingress']);
    expect(named(DropReason.CT_MISS)).toEqual(['denied', 'ct-miss']);
    expect(named(DropReason.CT_REVOKED)).toEqual(['denied', 'ct-revoked']);
    expect(named(DropReason.SPOOF_IP)).toEqual(['dropped', 'spoof-ip']);
    expect(named(DropReason.LB_NO_BACKEND)).toEqual(['dropped', 'lb-no-backend']);
    expect(named(DropReason.FRAG_NO_FIRST)).toEqual(['dropped', 'frag-no-first']);
    expect(named(31)).toEqual(['dropped', 'drop-31']); // a reason newer than this build
  });

  it('new: policy (with each rule id\'s NetworkPolicy, once), not-isolated, host', () => {
    const rules = new Map([
      [5, { ruleId: 5, policy: 'y/web-in', direction: 'ingress' as const, index: 0 }],
      [9, { ruleId: 9, policy: 'x/client-out', direction: 'egress' as const, index: 1 }],
      [10, { ruleId: 10, policy: 'y/web-in', direction: 'ingress' as const, index: 1 }],
    ]);
    const n = namer({ rules });
    const byRule = n.name(event({ type: 'new', reason: 0, flags: FlowEventFlag.byRule, ruleId: 5, egressRule: 9 }));
    expect([byRule.verdict, byRule.reason, byRule.policies]).toEqual(['allowed', 'policy', ['y/web-in', 'x/client-out']]);
    expect(n.name(event({ type: 'new', reason: 0, flags: FlowEventFlag.byRule, ruleId: 10, egressRule: 5 })).policies).toEqual(['y/web-in']);
    // a rule id the compiled state no longer holds names nothing
    expect(n.name(event({ type: 'new', reason: 0, flags: FlowEventFlag.byRule, ruleId: 77 })).policies).toBeUndefined();
    const open = n.name(event({ type: 'new', reason: 0 }));
    expect([open.verdict, open.reason, open.policies]).toEqual(['allowed', 'not-isolated', undefined]);
    expect(n.name(event({ type: 'new', reason: 0, srcIdentity: 1 })).reason).toBe('host');
    expect(n.name(event({ type: 'new', reason: 0, dstIdentity: 1 })).reason).toBe('host');
  });

  it('state: answered, fin, closed; reply and service from the flags', () => {
    const n = namer();
    const st = (flags: number) => n.name(event({ type: 'state', reason: 0, flags }));
    expect([st(FlowEventFlag.answered).verdict, st(FlowEventFlag.answered).reason]).toEqual(['allowed', 'answered']);
    expect(st(FlowEventFlag.fin | FlowEventFlag.reply).reason).toBe('fin');
    expect(st(FlowEventFlag.closed | FlowEventFlag.fin).reason).toBe('closed');
    const r = st(FlowEventFlag.answered | FlowEventFlag.reply | FlowEventFlag.service);
    expect([r.reply, r.service]).toEqual([true, true]);
    const plain = st(FlowEventFlag.answered);
    expect('reply' in plain || 'service' in plain).toBe(false);
  });

  it('IPv6 egress from a local pod not in the cluster yet, named by its endpoint; a cluster Pod wins over an endpoint', () => {
    const n = namer({
      cluster: cluster([pod('y', 'b', ['fd00::3'])]),
      endpoints: [endpoint(['10.1.0.9', 'fd00::9'], 'x', 'new-pod'), endpoint(['fd00::3'], 'stale', 'old'), endpoint(['fd00::4'], null, null)],
    });
    const r = n.name(event({ family: 6, saddr: 'fd00::9', daddr: 'fd00::3', direction: 1, point: 'from-pod', type: 'new', reason: 0 }));
    expect(r.src).toEqual({ ip: 'fd00::9', port: 40000, pod: 'x/new-pod', identity: 256 });
    expect(r.dst.pod).toBe('y/b');
    expect([r.direction, r.point]).toEqual(['egress', 'from-pod']);
    expect(n.name(event({ family: 6, saddr: 'fd00::4', daddr: 'fd00::5' })).src.pod).toBeUndefined();
  });

  it('ICMP, ICMPv6 and other protocols have no ports (the echo id is not one) and no TCP flags; UDP and SCTP have ports', () => {
    const n = namer();
    const icmp = n.name(event({ protocol: 1, sport: 7, dport: 0, tcpFlags: 0 }));
    expect([icmp.protocol, icmp.src.port, icmp.dst.port, icmp.tcpFlags]).toEqual(['icmp', null, null, undefined]);
    const icmp6 = n.name(event({ family: 6, saddr: 'fd00::1', daddr: 'fd00::2', protocol: 58, sport: 7, tcpFlags: 0 }));
    expect([icmp6.protocol, icmp6.src.port]).toEqual(['icmpv6', null]);
    expect(n.name(event({ protocol: 47, tcpFlags: 0 })).protocol).toBe('47');
    expect(n.name(event({ protocol: 47 })).src.port).toBeNull();
    expect(n.name(event({ protocol: 17, sport: 53, tcpFlags: 0 })).src).toMatchObject({ port: 53 });
    expect(n.name(event({ protocol: 132, dport: 3868, tcpFlags: 0 })).dst.port).toBe(3868);
    expect(n.name(event({ protocol: 17, tcpFlags: 0 })).tcpFlags).toBeUndefined();
  });

  it('a packet that was not IP: no addresses, protocol or ports', () => {
    const r = namer().name(event({ family: 0, saddr: null, daddr: null, sport: 0, dport: 0, protocol: 0, tcpFlags: 0, reason: DropReason.UNKNOWN_L3 }));
    expect([r.protocol, r.src, r.dst, r.reason, r.verdict]).toEqual([null, { ip: null, port: null, identity: 256 }, { ip: null, port: null, identity: 257 }, 'unknown-l3', 'dropped']);
  });

  it('TCP flags by name, lowest bit first', () => {
    expect(tcpFlagNames(0x12)).toEqual(['SYN', 'ACK']);
    expect(tcpFlagNames(0x11)).toEqual(['FIN', 'ACK']);
    expect(tcpFlagNames(0x04)).toEqual(['RST']);
    expect(tcpFlagNames(0xff)).toEqual(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR']);
    expect(namer().name(event({ tcpFlags: 0x18 })).tcpFlags).toEqual(['PSH', 'ACK']);
  });

  it('the pod index follows each new snapshot and the endpoints as they are now; hostNetwork pods name nothing', () => {
    const n = namer({ cluster: cluster([pod('x', 'a', ['10.1.0.2']), pod('kube-system', 'host', ['10.1.0.3'], { hostNetwork: true })]) });
    expect(n.name(event()).src.pod).toBe('x/a');
    expect(n.name(event()).dst.pod).toBeUndefined();
    n.refresh({ cluster: cluster([pod('x', 'a2', ['10.1.0.2'])]), endpoints: [endpoint(['10.1.0.3'], 'z', 'c')], rules: new Map() });
    expect([n.name(event()).src.pod, n.name(event()).dst.pod]).toEqual(['x/a2', 'z/c']);
    n.refresh({ cluster: cluster([]), endpoints: [], rules: new Map() });
    expect([n.name(event()).src.pod, n.name(event()).dst.pod]).toEqual([undefined, undefined]);
    n.refresh(null); // no core yet: the names stay as they were
    expect(n.name(event()).src.pod).toBeUndefined();
  });
});
