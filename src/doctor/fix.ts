// straitctl doctor --fix: the repairs scan.ts proposed, in a safe order, applied
// with the same building blocks DEL and GC use (forgetEndpoints, the lease store,
// the record and wiring helpers), so a repair removes exactly what they would.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { StraitError } from '../errors.js';
import { writeEndpoint } from '../datapath/endpoints.js';
import { openDatapath, type Datapath } from '../datapath/loader.js';
import { CT_TABLES, MapName } from '../datapath/maps/names.js';
import { encodeCtKey } from '../datapath/maps/ct.js';
import { encodePolicyKey } from '../datapath/maps/policy.js';
import { flock } from '../datapath/flock.js';
import type { Netlink } from '../datapath/netlink.js';
import { removeEndpointRecord, writeEndpointRecord } from '../state/endpoint-record.js';
import { forgetEndpoints, forgetLinkEntries } from '../cni/fastpath.js';
import { ipamDataDir } from '../cni/ipam-driver.js';
import { bitsOf } from '../ipam/addr.js';
import { DiskStore, flockLocker } from '../ipam/disk-store.js';
import type { Action, Problem } from './types.js';

// Repairs of live endpoints first (the lease before anything, so IPAM cannot hand
// the address out meanwhile), then removals as DEL orders them: datapath entries,
// then the veth and record, leases last; old pins once nothing is moved off them.
const ORDER: Action['op'][] = [
  'reserve-lease',
  'rewrite-record',
  'add-route',
  'write-endpoint',
  'attach',
  'forget-endpoint',
  'delete-ct',
  'delete-policy',
  'delete-link-entry',
  'delete-route',
  'delete-link',
  'remove-record',
  'release-lease',
  'remove-pin',
  'remove-file',
];

/** Every repair of the fixable problems once, in ORDER. Pure. */
export function planFixes(problems: readonly Problem[]): Action[] {
  const seen = new Set<string>();
  const out: Action[] = [];
  for (const p of problems) {
    for (const a of p.fix ?? []) {
      const k = JSON.stringify(a);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(a);
    }
  }
  return out.sort((a, b) => ORDER.indexOf(a.op) - ORDER.indexOf(b.op));
}

export interface FixContext {
  stateDir: string;
  bpfDir: string;
  host: Netlink;
}

export interface FixOutcome {
  action: Action;
  /** null when it worked */
  error: string | null;
}

/** Applies a plan (planFixes' order); each action's outcome, failures included. */
export function applyFixes(actions: readonly Action[], ctx: FixContext): FixOutcome[] {
  const out: FixOutcome[] = [];
  const forget = actions.filter((a) => a.op === 'forget-endpoint');
  // Opened on the first attach; a holder, as the closures below assign it.
  const held: { dp: Datapath | null } = { dp: null };
  try {
    for (const action of actions) {
      if (action.op === 'forget-endpoint') {
        if (action !== forget[0]) continue;
        // All in one pass over the map, as GC does; their addresses' connections go too.
        const ips = new Set(forget.map((a) => `${a.family}/${a.ip}`));
        const error = attempt(() => void forgetEndpoints(ctx.bpfDir, (e) => ips.has(`${e.family}/${e.ip}`)));
        for (const a of forget) out.push({ action: a, error });
        continue;
      }
      const error = attempt(() => {
        // Loads and pins the current build when it is not yet, as ADD would.
        if (action.op === 'attach') held.dp ??= openDatapath({ bpfDir: ctx.bpfDir, stateDir: ctx.stateDir });
        applyOne(action, ctx, held.dp);
      });
      out.push({ action, error });
    }
  } finally {
    held.dp?.close();
  }
  return out;
}

function applyOne(a: Action, ctx: FixContext, dp: Datapath | null): void {
  switch (a.op) {
    case 'reserve-lease':
      withLeases(ctx, a.network, (s) => {
        const held = s.list().find((x) => x.ip === a.ip);
        if (a.from !== undefined && held?.containerId === a.from.containerId && held.ifname === a.from.ifname) s.releaseIp(a.ip);
        s.reserve({ ip: a.ip, setIndex: a.setIndex, containerId: a.containerId, ifname: a.ifname, createdAt: new Date().toISOString() });
      });
      return;
    case 'release-lease':
      withLeases(ctx, a.network, (s) => {
        // Under the lock: only while it is still that owner's (an ADD may have taken it since).
        const l = s.list().find((x) => x.ip === a.ip);
        if (l?.containerId === a.containerId && l.ifname === a.ifname) s.releaseIp(a.ip);
      });
      return;
    case 'rewrite-record':
      writeEndpointRecord(ctx.stateDir, a.record);
      return;
    case 'remove-record':
      removeEndpointRecord(ctx.stateDir, a.owner);
      return;
    case 'add-route':
      ctx.host.addRoute({ dst: a.ip, prefixLen: bitsOf(a.family), ifname: a.link, scope: 'link' });
      return;
    case 'delete-route':
      ctx.host.deleteRoute({ dst: a.ip, prefixLen: bitsOf(a.family), ifname: a.link, scope: 'link' });
      return;
    case 'delete-link':
      ctx.host.deleteLink(a.name);
      return;
    case 'attach': {
      if (dp === null) throw new StraitError('E_BPF_PIN', 'no programs to attach');
      bpf.tcAttach(a.ifindex, a.direction, a.direction === 'ingress' ? dp.programs.fromPod : dp.programs.toPod, { replace: true });
      return;
    }
    case 'write-endpoint':
      withMap(ctx, MapName.endpoints, (fd) => void writeEndpoint(fd, a.entry));
      return;
    case 'delete-policy':
      withMap(ctx, MapName.policy, (fd) => void bpf.mapDelete(fd, encodePolicyKey(a.key)));
      return;
    case 'delete-ct':
      for (const table of CT_TABLES) withMap(ctx, MapName[table], (fd) => void bpf.mapDelete(fd, encodeCtKey(a.key)));
      return;
    case 'delete-link-entry':
      forgetLinkEntries(ctx.bpfDir, [a.ifindex]);
      return;
    case 'remove-pin':
      rmSync(join(ctx.bpfDir, a.name), { recursive: true, force: true });
      return;
    case 'remove-file':
      rmSync(a.path, { force: true });
      return;
    case 'forget-endpoint':
      return;
  }
}

/** Under the lease directory's lock, as ADD, DEL and GC hold it. */
function withLeases(ctx: FixContext, network: string, fn: (s: DiskStore) => void): void {
  const s = new DiskStore(ipamDataDir(ctx.stateDir, network), flockLocker(flock));
  s.withLock(() => fn(s));
}

function withMap(ctx: FixContext, name: string, fn: (fd: number) => void): void {
  const fd = bpf.getPinned(join(ctx.bpfDir, name));
  if (fd === null) return; // the map went away: so did the entry
  try {
    fn(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

function attempt(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
