// The consistency rules of straitctl doctor, on observed state as plain data.
//
// The unit is an attachment (network, container, interface). Its parts are found by
// name, never by ifindex alone: leases by owner, the record by its file, the host
// veth by the owner alias strait stamps on it. An attachment with both a record and
// a veth is live and is checked part by part (leases, map entries, routes, tc
// programs); one missing either is torn down whole, as DEL would. What no live
// attachment accounts for — map entries, policy slots, conntrack entries, routes,
// old program pins — is an orphan. Kinds:
//
//   veth-missing            a record whose host veth is gone (deleted behind strait's back)
//   veth-orphan             a strait veth no record names (an ADD killed half-way)
//   lease-orphan            a lease of an owner with neither record nor veth
//   lease-missing           a live endpoint's address without its lease
//   lease-conflict          ... leased to another owner (not repaired: two pods, one address)
//   lease-extra             a live owner's lease of an address its record does not hold
//   record-mismatch         the record names another ifindex or veth than the live one
//   endpoint-entry-missing  a live endpoint's address not in the endpoint map
//   endpoint-entry-mismatch ... in it, but pointing at another veth
//   endpoint-entry-orphan   an endpoint-map entry no live endpoint holds
//   route-missing           no /32 (/128) route to a live endpoint's address via its veth
//   route-orphan            a host route via a strait veth to an address it does not hold
//   tc-missing              a live endpoint's veth without from_pod (ingress) or to_pod (egress)
//   tc-stale                ... with a program of another build than the pinned current one
//   policy-orphan           policy entries of a slot (ifindex) no strait veth has
//   conntrack-orphan        a connection neither of whose addresses a live endpoint holds
//   link-entry-orphan       a strait_links_v1 entry of an ifindex no strait veth has
//   pin-incomplete-programs a build's programs pinned in part (an install killed half-way)
//   pin-stale-programs      programs of an older build, pinned beside the current one
//   pin-stale-map           a map pinned under an older layout version of a current map
//   tmp-orphan              a lease's or record's temp file whose writer was killed
import type { EndpointEntry } from '../datapath/endpoints.js';
import type { EndpointRecord } from '../state/endpoint-record.js';
import { ipFamily } from '../ipam/addr.js';
import { hostVethName, parseOwnerAlias } from '../state/host-veth.js';
import { leftovers } from './scan-leftovers.js';
import type { Action, Observed, ObservedLease, ObservedLink, Owner, Problem } from './types.js';

const keyOf = (o: Owner): string => `${o.network}/${o.containerId}/${o.ifname}`;
const ownerOf = (o: Owner): Owner => ({ network: o.network, containerId: o.containerId, ifname: o.ifname });

interface Attachment {
  owner: Owner;
  record: EndpointRecord | null;
  link: ObservedLink | null;
  leases: ObservedLease[];
}

/** Everything doctor finds wrong, each with its repair (or null). Pure. */
export function scan(o: Observed): Problem[] {
  const s = new Scan(o);
  return s.run();
}

class Scan {
  private readonly problems: Problem[] = [];
  private readonly attachments = new Map<string, Attachment>();
  /** addresses of live endpoints (record and veth both there) */
  private readonly held = new Set<string>();
  private readonly linkIfindexes: Set<number>;
  private readonly claimedEntries = new Set<string>();
  private readonly claimedSlots = new Set<number>();
  private readonly claimedCt = new Set<number>();
  /** orphan leases of addresses a live endpoint uses, taken over by its repair */
  private readonly claimedLeases = new Set<string>();

  private readonly entries: Map<string, EndpointEntry>;

  constructor(private readonly o: Observed) {
    this.linkIfindexes = new Set(o.links.map((l) => l.ifindex));
    this.entries = new Map((o.endpoints ?? []).map((e) => [e.ip, e]));
    const at = (owner: Owner): Attachment => {
      const k = keyOf(owner);
      let a = this.attachments.get(k);
      if (a === undefined) {
        a = { owner: ownerOf(owner), record: null, link: null, leases: [] };
        this.attachments.set(k, a);
      }
      return a;
    };
    for (const r of o.records) at(r).record = r;
    for (const l of o.leases) at(l).leases.push(l);
    for (const link of o.links) {
      const owner = parseOwnerAlias(link.alias);
      if (owner !== null) at(owner).link = link;
    }
    for (const a of this.attachments.values()) {
      if (a.record !== null && a.link !== null) for (const ip of a.record.addresses) this.held.add(ip);
    }
  }

  run(): Problem[] {
    const live = [...this.attachments.values()].filter((a) => a.record !== null && a.link !== null);
    for (const a of live) this.checkLive(a, a.record!, a.link!);
    for (const a of this.attachments.values()) {
      if (a.record !== null && a.link !== null) continue;
      if (a.record !== null) this.tearDown(a, 'veth-missing', `host veth ${a.record.hostVeth} of ${keyOf(a.owner)} is gone`);
      else if (a.link !== null) this.tearDown(a, 'veth-orphan', `host veth ${a.link.name} belongs to ${keyOf(a.owner)}, which has no endpoint record`);
      else {
        for (const l of a.leases) {
          if (this.claimedLeases.has(l.ip)) continue;
          this.report('lease-orphan', { ...ownerOf(l), ip: l.ip }, `${l.ip} is leased to ${keyOf(l)}, which has no record and no veth`, [
            releaseLease(l),
          ]);
        }
      }
    }
    this.orphanEntries();
    this.orphanSlots();
    this.orphanConnections();
    this.orphanLinkEntries();
    return [...this.problems, ...leftovers(this.o)];
  }

  private report(kind: string, object: Record<string, unknown>, message: string, fix: Action[] | null): void {
    this.problems.push({ kind, object, message, fix });
  }

  private entryOf(ip: string): EndpointEntry | undefined {
    return this.entries.get(ip);
  }

  /** An attachment missing its record or its veth goes whole: entries, policy, veth, record, leases last. */
  private tearDown(a: Attachment, kind: string, message: string): void {
    const ifindexes = new Set<number>();
    if (a.link !== null) ifindexes.add(a.link.ifindex);
    if (a.record !== null && !this.linkIfindexes.has(a.record.ifindex)) ifindexes.add(a.record.ifindex);
    // Addresses another live endpoint holds now (handed out again) are not ours to touch.
    const ips = new Set([...(a.record?.addresses ?? []), ...a.leases.map((l) => l.ip)].filter((ip) => !this.held.has(ip)));
    const fix: Action[] = [];
    for (const e of this.o.endpoints ?? []) {
      if (this.held.has(e.ip)) continue;
      if (ifindexes.has(e.ifindex) || (ips.has(e.ip) && !this.linkIfindexes.has(e.ifindex))) {
        this.claimedEntries.add(e.ip);
        ips.add(e.ip);
        fix.push({ op: 'forget-endpoint', family: e.family, ip: e.ip });
      }
    }
    (this.o.ct ?? []).forEach((k, i) => {
      if ((ips.has(k.saddr) || ips.has(k.daddr)) && !this.claimedCt.has(i)) {
        this.claimedCt.add(i);
        fix.push({ op: 'delete-ct', key: k });
      }
    });
    for (const k of this.o.policy ?? []) if (ifindexes.has(k.ifindex)) fix.push({ op: 'delete-policy', key: k });
    for (const i of this.o.linkMap ?? []) if (ifindexes.has(i)) fix.push({ op: 'delete-link-entry', ifindex: i });
    for (const i of ifindexes) this.claimedSlots.add(i);
    if (a.link !== null) fix.push({ op: 'delete-link', name: a.link.name });
    if (a.record !== null) fix.push({ op: 'remove-record', owner: a.owner });
    for (const l of a.leases) fix.push(releaseLease(l));
    const object = {
      ...a.owner,
      hostVeth: a.link?.name ?? a.record?.hostVeth ?? hostVethName(a.owner),
      addresses: [...ips].sort(),
      leases: a.leases.map((l) => l.ip).sort(),
    };
    this.report(kind, object, message, fix);
  }

  private checkLive(a: Attachment, r: EndpointRecord, link: ObservedLink): void {
    const id = keyOf(a.owner);
    if (r.ifindex !== link.ifindex || r.hostVeth !== link.name) {
      this.report(
        'record-mismatch',
        { ...a.owner, record: { hostVeth: r.hostVeth, ifindex: r.ifindex }, live: { hostVeth: link.name, ifindex: link.ifindex } },
        `the record of ${id} names ${r.hostVeth} (ifindex ${r.ifindex}), the live veth is ${link.name} (ifindex ${link.ifindex})`,
        [{ op: 'rewrite-record', record: { ...r, hostVeth: link.name, ifindex: link.ifindex } }],
      );
    }
    const siblings = (this.o.endpoints ?? []).filter((e) => r.addresses.includes(e.ip) && e.ifindex === link.ifindex);
    r.addresses.forEach((ip, setIndex) => {
      const family = ipFamily(ip);
      this.checkLease(a, ip, setIndex);
      if (this.o.endpoints !== null) {
        this.claimedEntries.add(ip);
        const e = this.entryOf(ip);
        const want = { family, ip, ifindex: link.ifindex, podMac: r.podMac, hostMac: link.mac };
        if (e === undefined) {
          const model = siblings[0];
          const why = `${ip} of ${id} has no endpoint-map entry, so the datapath drops its packets`;
          this.report('endpoint-entry-missing', { ...a.owner, ip }, model === undefined ? `${why}; its policy state is unknown: DEL and ADD the pod again` : why,
            // Flags and identity come from the pod's other entry; with none, its policy state is unknown.
            model === undefined ? null : [{ op: 'write-endpoint', entry: { ...want, flags: model.flags, identity: model.identity } }]);
        } else if (e.ifindex !== link.ifindex) {
          this.report('endpoint-entry-mismatch', { ...a.owner, ip, ifindex: e.ifindex, want: link.ifindex },
            `the endpoint-map entry of ${ip} points at ifindex ${e.ifindex}, not ${id}'s veth ${link.name} (${link.ifindex})`,
            [{ op: 'write-endpoint', entry: { ...want, flags: e.flags, identity: e.identity } }]);
        }
      }
      if (!link.routes.some((rt) => rt.ip === ip)) {
        this.report('route-missing', { ...a.owner, ip, hostVeth: link.name }, `no host route to ${ip} via ${link.name}`, [
          { op: 'add-route', link: link.name, family, ip },
        ]);
      }
    });
    for (const l of a.leases) {
      if (!r.addresses.includes(l.ip)) {
        this.report('lease-extra', { ...a.owner, ip: l.ip }, `${id} holds a lease of ${l.ip}, which its record does not name`, [releaseLease(l)]);
      }
    }
    for (const rt of link.routes) {
      if (!r.addresses.includes(rt.ip)) {
        this.report('route-orphan', { hostVeth: link.name, ip: rt.ip }, `route to ${rt.ip} via ${link.name}, which does not hold it`, [
          { op: 'delete-route', link: link.name, family: rt.family, ip: rt.ip },
        ]);
      }
    }
    this.checkTc(a.owner, link);
  }

  private checkLease(a: Attachment, ip: string, setIndex: number): void {
    if (a.leases.some((l) => l.ip === ip)) return;
    const other = this.o.leases.find((l) => l.ip === ip && l.network === a.owner.network);
    const holder = other === undefined ? undefined : this.attachments.get(keyOf(other));
    if (other !== undefined && holder !== undefined && (holder.record !== null || holder.link !== null)) {
      this.report('lease-conflict', { ...a.owner, ip, leasedTo: ownerOf(other) },
        `${ip} of ${keyOf(a.owner)} is leased to ${keyOf(other)}: two endpoints hold one address; DEL one of them`, null);
      return;
    }
    // A lease-only owner's lease of it is an orphan: the live pod takes it over.
    if (other !== undefined) this.claimedLeases.add(ip);
    const from = other === undefined ? {} : { from: { containerId: other.containerId, ifname: other.ifname } };
    // Record addresses are in range-set order (one per set), so the position is the set.
    this.report('lease-missing', { ...a.owner, ip }, `${keyOf(a.owner)} uses ${ip} without a lease: IPAM could hand it out again`, [
      { op: 'reserve-lease', ...a.owner, ip, setIndex, ...from },
    ]);
  }

  private checkTc(owner: Owner, link: ObservedLink): void {
    const current = this.o.programs.find((p) => p.buildId === this.o.currentBuild);
    for (const [direction, prog, want] of [
      ['ingress', 'from_pod', current?.fromPod],
      ['egress', 'to_pod', current?.toPod],
    ] as const) {
      const id = link.tc[direction];
      const object = { ...owner, hostVeth: link.name, direction, program: prog };
      const fix: Action[] = [{ op: 'attach', ifindex: link.ifindex, direction }];
      if (id === null) this.report('tc-missing', object, `${link.name} runs no ${prog} on tc ${direction}`, fix);
      else if (want != null && id !== want) {
        this.report('tc-stale', { ...object, progId: id, want }, `${link.name} runs program ${id} on tc ${direction}, not ${prog} of build ${this.o.currentBuild}`, fix);
      }
    }
  }

  private orphanEntries(): void {
    for (const e of this.o.endpoints ?? []) {
      if (this.claimedEntries.has(e.ip)) continue;
      this.report('endpoint-entry-orphan', { family: e.family, ip: e.ip, ifindex: e.ifindex }, `endpoint-map entry ${e.ip} (ifindex ${e.ifindex}) belongs to no live endpoint`, [
        { op: 'forget-endpoint', family: e.family, ip: e.ip },
      ]);
    }
  }

  private orphanSlots(): void {
    const bySlot = new Map<number, Action[]>();
    for (const k of this.o.policy ?? []) {
      if (this.linkIfindexes.has(k.ifindex) || this.claimedSlots.has(k.ifindex)) continue;
      bySlot.set(k.ifindex, [...(bySlot.get(k.ifindex) ?? []), { op: 'delete-policy', key: k }]);
    }
    for (const [ifindex, fix] of bySlot) {
      this.report('policy-orphan', { ifindex, entries: fix.length }, `${fix.length} policy entries of ifindex ${ifindex}, which no strait veth has`, fix);
    }
  }

  private orphanConnections(): void {
    (this.o.ct ?? []).forEach((k, i) => {
      if (this.claimedCt.has(i) || this.held.has(k.saddr) || this.held.has(k.daddr)) return;
      this.report('conntrack-orphan', { ...k }, `connection ${k.saddr}:${k.sport} -> ${k.daddr}:${k.dport} proto ${k.protocol} has no live endpoint`, [
        { op: 'delete-ct', key: k },
      ]);
    });
  }

  private orphanLinkEntries(): void {
    for (const ifindex of this.o.linkMap ?? []) {
      if (this.linkIfindexes.has(ifindex) || this.claimedSlots.has(ifindex)) continue;
      this.report('link-entry-orphan', { ifindex }, `strait_links_v1 has ifindex ${ifindex}, which no strait veth has`, [
        { op: 'delete-link-entry', ifindex },
      ]);
    }
  }
}

function releaseLease(l: ObservedLease): Action {
  return { op: 'release-lease', network: l.network, ip: l.ip, containerId: l.containerId, ifname: l.ifname };
}
