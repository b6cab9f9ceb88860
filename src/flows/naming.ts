// A decoded flow event (FlowEvent, what the datapath wrote) to the record readers
// see (FlowRecord, src/flows/types.ts: the stable interface): wall time, verdict and
// reason, protocol and port names, pods by address, the policies behind rule ids.
import { DropReason } from '../datapath/maps/drop.js';
import { FlowEventFlag, type FlowEvent } from '../datapath/maps/events.js';
import { IDENTITY_HOST } from '../policy/types.js';
import type { FlowNameSources } from '../agent/core.js';
import { PodIndex } from './pod-index.js';
import { rfc3339Ns } from './time.js';
import type { FlowPeer, FlowRecord, FlowVerdict } from './types.js';

const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };
/** Protocols whose header starts with two ports. ICMP's echo identifier is no port. */
const WITH_PORTS = new Set([6, 17, 132]);
const IPPROTO_TCP = 6;
/** TCP header flag bits, lowest first: the order tcpdump and Hubble print them in. */
const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;

/** Drops policy decided: denied; any other drop is dropped. */
const DENIED = new Set<number>([DropReason.POLICY_EGRESS, DropReason.POLICY_INGRESS, DropReason.CT_MISS, DropReason.CT_REVOKED]);
/** enum drop_reason value -> "policy-ingress" (drop.ts names, kebab case). */
const DROP_NAMES = new Map<number, string>(Object.entries(DropReason).map(([name, v]) => [v, name.toLowerCase().replaceAll('_', '-')]));

export function tcpFlagNames(bits: number): string[] {
  return TCP_FLAG_NAMES.filter((_, i) => (bits & (1 << i)) !== 0);
}

function verdictAndReason(e: FlowEvent): { verdict: FlowVerdict; reason: string } {
  if (e.type === 'drop') {
    // A reason this build does not know (a newer datapath) is still shown, by number.
    return { verdict: DENIED.has(e.reason) ? 'denied' : 'dropped', reason: DROP_NAMES.get(e.reason) ?? `drop-${e.reason}` };
  }
  if (e.type === 'state') {
    const reason = e.flags & FlowEventFlag.closed ? 'closed' : e.flags & FlowEventFlag.fin ? 'fin' : 'answered';
    return { verdict: 'allowed', reason };
  }
  if (e.flags & FlowEventFlag.byRule) return { verdict: 'allowed', reason: 'policy' };
  if (e.srcIdentity === IDENTITY_HOST || e.dstIdentity === IDENTITY_HOST) return { verdict: 'allowed', reason: 'host' };
  return { verdict: 'allowed', reason: 'not-isolated' };
}

export interface FlowNamerOptions {
  /** this agent's node (FlowRecord.node) */
  nodeName: string;
  /** wall time minus CLOCK_MONOTONIC, ns (monotonicToWallOffsetNs, taken once at start) */
  clockOffsetNs: bigint;
}

export class FlowNamer {
  private readonly pods = new PodIndex();
  private rules: FlowNameSources['rules'] = new Map();

  constructor(private readonly opts: FlowNamerOptions) {}

  /** Takes the core's names as they are now; call once a batch, not once a record. */
  refresh(sources: FlowNameSources | null): void {
    if (sources === null) return;
    this.pods.update(sources.cluster, sources.endpoints);
    this.rules = sources.rules;
  }

  name(e: FlowEvent): FlowRecord {
    const { verdict, reason } = verdictAndReason(e);
    const ip = e.family !== 0;
    const ports = ip && WITH_PORTS.has(e.protocol);
    const peer = (addr: string | null, port: number, identity: number): FlowPeer => {
      const p: FlowPeer = { ip: addr, port: ports ? port : null, identity };
      const pod = addr === null ? undefined : this.pods.podOf(addr);
      if (pod !== undefined) p.pod = pod;
      return p;
    };
    const r: FlowRecord = {
      time: rfc3339Ns(e.timeNs + this.opts.clockOffsetNs),
      verdict,
      reason,
      event: e.type,
      protocol: ip ? (PROTOCOL_NAMES[e.protocol] ?? String(e.protocol)) : null,
      src: peer(e.saddr, e.sport, e.srcIdentity),
      dst: peer(e.daddr, e.dport, e.dstIdentity),
      node: this.opts.nodeName,
      direction: e.direction === 1 ? 'egress' : 'ingress',
      point: e.point,
      bytes: e.len,
    };
    if (e.type === 'new' && e.flags & FlowEventFlag.byRule) {
      // A rule id the compiled state no longer holds (renumbered since) names nothing.
      const policies = [...new Set([e.ruleId, e.egressRule].flatMap((id) => this.rules.get(id)?.policy ?? []))];
      if (policies.length > 0) r.policies = policies;
    }
    if (ip && e.protocol === IPPROTO_TCP && e.tcpFlags !== 0) r.tcpFlags = tcpFlagNames(e.tcpFlags);
    if (e.flags & FlowEventFlag.service) r.service = true;
    if (e.flags & FlowEventFlag.reply) r.reply = true;
    return r;
  }
}
