// SETUP for the BPF program tests: every datapath object loaded from a fresh
// `make -C bpf` into a private bpffs (so they share the pinned maps and never touch
// /sys/fs/bpf/strait), host veth pairs whose ifindexes the kernel accepts as ctx,
// endpoint entries written with the maps.h mirror, and counter reads. Everything is
// undone by close(), even after a failed test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as bpf from '../../src/datapath/bpf.js';
import {
  counterKey,
  decodeCtValue,
  decodeFragValue,
  DROP_REASONS,
  STATS,
  encodeCidrKey,
  encodeCidrValue,
  CONFIG_KEY,
  encodeConfigValue,
  encodeRemoteValue,
  FIB_SLOT_INFOS,
  encodeCtKey,
  encodeCtValue,
  encodeEndpointKey,
  encodeEpCounterKey,
  encodeEndpointValue,
  encodeFragKey,
  encodeIpcacheValue,
  encodeLinkKey,
  encodeLinkValue,
  encodePolicyKey,
  encodePolicyValue,
  MapName,
  ProgramName,
  sumPerCpu,
  XDP_UPLINK_PROGRAM,
  type ConfigValue,
  type CtKey,
  type CtValue,
  type EndpointKey,
  type EndpointValue,
  type EpCounterKey,
  type FragKey,
  type FragValue,
  type MapNameValue,
  type PolicyKey,
  type ProgramNameValue,
  type TrafficCounter,
} from '../../src/datapath/maps/index.js';
import { rand, sh, trackLink } from './sys.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;

/** A host-side veth as CNI makes it; the peer stays in the host (no pod netns needed). */
export interface HostVeth {
  name: string;
  ifindex: number;
}

export function createHostVeth(): HostVeth {
  const name = `stb${rand(4)}`;
  trackLink(name);
  sh('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
  return { name, ifindex: Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim()) };
}

type BpfObject = ReturnType<typeof bpf.loadObject>;

export interface TestDatapath {
  /** the private bpffs every map is pinned in (what the agent's --bpf-dir names) */
  pinRoot: string;
  fromPod: number;
  toPod: number;
  fromUplink: number;
  /** XDP, in front of from_uplink (not loaded by the loader: XDP_UPLINK_PROGRAM) */
  xdpUplink: number;
  /** strait_config_v1's one entry: how packets for other nodes' pods leave */
  setConfig(value: ConfigValue): void;
  /** another node's pod CIDR → that node's address (strait_remote_v1) */
  setRemote(cidr: string, nodeIp: string): void;
  fromTunnel: number;
  toTunnel: number;
  /** also the veth's strait_links_v1 entry, naming this address, unless it has one */
  setEndpoint(family: 4 | 6, ip: string, value: EndpointValue): void;
  /** the host veth `ifindex` carries the pod with this address (strait_links_v1) */
  setLink(ifindex: number, endpoint: EndpointKey): void;
  deleteLink(ifindex: number): void;
  /** a pod address anywhere in the cluster → its pod identity and its namespace's */
  setIpcache(ip: string, identity: number, namespace?: number): void;
  setCidr(cidr: string, identity: number): void;
  setPolicy(key: PolicyKey, ruleId: number): void;
  /** the live (or expired) entry for exactly this tuple: answered (strait_ct_v1) */
  ct(key: CtKey): CtValue | null;
  setCt(key: CtKey, value: CtValue): void;
  /** the same in strait_ct_pending_v1 (not answered yet) */
  ctPending(key: CtKey): CtValue | null;
  setCtPending(key: CtKey, value: CtValue): void;
  frag(key: FragKey): FragValue | null;
  /** the fd of a map, for bulk writes */
  mapFd(map: MapNameValue): number;
  /** deletes every entry of a hash or LPM map */
  clear(map: MapNameValue): void;
  /** how many entries a hash or LPM map holds */
  count(map: MapNameValue): number;
  drops(reason: number): TrafficCounter;
  stats(id: number): TrafficCounter;
  /** strait_fib_v1[slot]: FIB fallbacks by return code */
  fib(slot: number): TrafficCounter;
  /** strait_ep_counters_v1 (per-CPU hash): zero where the entry does not exist */
  epCounter(key: EpCounterKey): TrafficCounter;
  /** strait_rule_counters_v1[ruleId] (per-CPU hash): zero where absent */
  ruleCounter(ruleId: number): TrafficCounter;
  close(): void;
}

export function openTestDatapath(): TestDatapath {
  execFileSync('make', ['-s', '-C', join(repo, 'bpf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const pinRoot = mkdtempSync(join(tmpdir(), 'strait-bpftest-'));
  sh('mount', ['-t', 'bpf', 'bpf', pinRoot]);
  const objects = new Map<ProgramNameValue, BpfObject>();
  // Not a ProgramName: nothing attaches it (README), but its tests run it on these maps.
  let xdp: BpfObject | undefined;
  const close = (): void => {
    for (const o of objects.values()) o.close();
    xdp?.close();
    sh('umount', [pinRoot], { allowFail: true });
    rmdirSync(pinRoot);
  };
  try {
    for (const name of Object.values(ProgramName))
      objects.set(name, bpf.loadObject(join(repo, 'build', 'bpf', `${name}.bpf.o`), { pinRoot }));
    xdp = bpf.loadObject(join(repo, 'build', 'bpf', `${XDP_UPLINK_PROGRAM}.bpf.o`), { pinRoot });
  } catch (e) {
    close();
    throw e;
  }
  const fd = (o: BpfObject | undefined, kind: 'programs' | 'maps', name: string): number => {
    const v = o?.[kind][name];
    if (v === undefined) throw new Error(`object has no ${kind.slice(0, -1)} ${name}`);
    return v;
  };
  // The maps are pinned and shared: any object's fd for one will do.
  const from = objects.get(ProgramName.fromPod);
  const prog = (name: ProgramNameValue): number => fd(objects.get(name), 'programs', name);
  const ncpus = bpf.numPossibleCpus();
  const counter = (map: string, index: number): TrafficCounter => {
    const buf = bpf.mapLookup(fd(from, 'maps', map), counterKey(index));
    if (buf === null) throw new Error(`${map}[${index}] is missing`);
    return sumPerCpu(buf, ncpus);
  };
  const map = (name: MapNameValue): number => fd(from, 'maps', name);
  const hashCounter = (name: MapNameValue, key: Uint8Array): TrafficCounter => {
    const buf = bpf.mapLookup(map(name), key);
    return buf === null ? { packets: 0n, bytes: 0n } : sumPerCpu(buf, ncpus);
  };
  const familyOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);
  const setLink = (ifindex: number, endpoint: EndpointKey): void =>
    bpf.mapUpdate(map(MapName.links), encodeLinkKey(ifindex), encodeLinkValue(endpoint));
  return {
    pinRoot,
    fromPod: prog(ProgramName.fromPod),
    toPod: prog(ProgramName.toPod),
    fromTunnel: prog(ProgramName.fromTunnel),
    toTunnel: prog(ProgramName.toTunnel),
    fromUplink: prog(ProgramName.fromUplink),
    xdpUplink: fd(xdp, 'programs', XDP_UPLINK_PROGRAM),
    setConfig: (value) => bpf.mapUpdate(map(MapName.config), CONFIG_KEY, encodeConfigValue(value)),
    setRemote: (cidr, nodeIp) => bpf.mapUpdate(map(MapName.remote), encodeCidrKey(cidr), encodeRemoteValue({ nodeIp })),
    setEndpoint: (family, ip, value) => {
      bpf.mapUpdate(map(MapName.endpoints), encodeEndpointKey({ family, ip }), encodeEndpointValue(value));
      // As attachEndpoint does: the veth's link entry names its first address.
      if (bpf.mapLookup(map(MapName.links), encodeLinkKey(value.ifindex)) === null) setLink(value.ifindex, { family, ip });
    },
    setLink,
    deleteLink: (ifindex) => void bpf.mapDelete(map(MapName.links), encodeLinkKey(ifindex)),
    setIpcache: (ip, identity, namespace = 0) =>
      bpf.mapUpdate(map(MapName.ipcache), encodeEndpointKey({ family: familyOf(ip), ip }), encodeIpcacheValue({ identity, namespace })),
    setCidr: (cidr, identity) => bpf.mapUpdate(map(MapName.cidr), encodeCidrKey(cidr), encodeCidrValue({ identity })),
    setPolicy: (key, ruleId) => bpf.mapUpdate(map(MapName.policy), encodePolicyKey(key), encodePolicyValue({ ruleId })),
    ct: (key) => {
      const v = bpf.mapLookup(map(MapName.ct), encodeCtKey(key));
      return v === null ? null : decodeCtValue(v);
    },
    setCt: (key, value) => bpf.mapUpdate(map(MapName.ct), encodeCtKey(key), encodeCtValue(value)),
    ctPending: (key) => {
      const v = bpf.mapLookup(map(MapName.ctPending), encodeCtKey(key));
      return v === null ? null : decodeCtValue(v);
    },
    setCtPending: (key, value) => bpf.mapUpdate(map(MapName.ctPending), encodeCtKey(key), encodeCtValue(value)),
    frag: (key) => {
      const v = bpf.mapLookup(map(MapName.frag), encodeFragKey(key));
      return v === null ? null : decodeFragValue(v);
    },
    mapFd: map,
    clear: (name) => {
      for (const key of bpf.mapKeys(map(name))) bpf.mapDelete(map(name), key);
    },
    count: (name) => bpf.mapKeys(map(name)).length,
    drops: (reason) => counter(MapName.drops, reason),
    stats: (id) => counter(MapName.stats, id),
    fib: (slot) => counter(MapName.fib, slot),
    epCounter: (key) => hashCounter(MapName.epCounters, encodeEpCounterKey(key)),
    ruleCounter: (ruleId) => hashCounter(MapName.ruleCounters, counterKey(ruleId)),
    close,
  };
}

/** What counting needs: any object that includes maps.h has these maps (test fixtures too). */
export type CounterSource = Pick<TestDatapath, 'drops' | 'stats' | 'fib'>;

/** Every counter by its C name (DROP_*, STAT_*, and BPF_FIB_LKUP_RET_* of strait_fib_v1), as {packets, bytes}. */
function snapshot(dp: CounterSource): Map<string, TrafficCounter> {
  const all = new Map<string, TrafficCounter>();
  for (const d of DROP_REASONS) all.set(d.name, dp.drops(d.value));
  for (const s of STATS) all.set(s.name, dp.stats(s.value));
  for (const f of FIB_SLOT_INFOS) all.set(f.name, dp.fib(f.slot));
  return all;
}

/**
 * CHECK helper: runs `fn` and returns the counters it moved, by C name, as
 * {packets, bytes} deltas; a test asserts that exactly the expected one moved.
 */
export function countersMovedBy(dp: CounterSource, fn: () => void): Record<string, { packets: number; bytes: number }> {
  const before = snapshot(dp);
  fn();
  const moved: Record<string, { packets: number; bytes: number }> = {};
  for (const [name, after] of snapshot(dp)) {
    const b = before.get(name);
    if (!b) continue;
    if (after.packets !== b.packets || after.bytes !== b.bytes)
      moved[name] = { packets: Number(after.packets - b.packets), bytes: Number(after.bytes - b.bytes) };
  }
  return moved;
}

export interface RunResult {
  retval: number;
  /** the frame as the program left it */
  data: Uint8Array;
  /** counters the run moved, by C name */
  moved: Record<string, { packets: number; bytes: number }>;
}

/** Runs prog once on `frame` as if it arrived on (or left by) `ifindex`; null: an XDP program (no skb ctx). */
export function runCounted(dp: CounterSource, prog: number, ifindex: number | null, frame: Uint8Array): RunResult {
  let retval = -1;
  let data: Uint8Array = new Uint8Array();
  const moved = countersMovedBy(dp, () => {
    const r = bpf.progTestRun(prog, frame, ifindex === null ? {} : { ctx: bpf.skbContext({ ifindex }) });
    retval = r.retval;
    data = new Uint8Array(r.data);
  });
  return { retval, data, moved };
}
