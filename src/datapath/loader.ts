// Makes the pinned datapath exist and hands out fds to it. Idempotent and safe to
// run from any number of CNI processes and the agent at once: the first one to find
// no programs for this build loads them (under a file lock), pins them, and moves
// every attached endpoint over to them; everyone else just opens the pins.
//
// Pin layout under bpfDir:
//   strait_<map>_v<N>          maps, pinned by name by libbpf (reused across builds)
//   progs-<build id>/<prog>    programs of one build of the objects
// The build id is a hash of the object files, so installing a newer build is what
// triggers the atomic replacement; maps, and with them all state, are kept.
import { createHash } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoOf, StraitError } from '../errors.js';
import * as bpf from './bpf.js';
import { ensureBpffs } from './bpffs.js';
import { listEndpoints, listLinks, writeLink } from './endpoints.js';
import { CONFIG_KEY, decodeConfigValue, type ConfigValue } from './maps/config.js';
import { decodeEndpointValue } from './maps/endpoints.js';
import { MapName, ProgramName } from './maps/names.js';
import { flock } from './flock.js';

const PROGRAMS = ProgramName;
const MAPS = MapName;
export type ProgKey = keyof typeof PROGRAMS;
type MapKey = keyof typeof MAPS;

export interface DatapathOptions {
  bpfDir: string;
  stateDir: string;
  /** where <prog>.bpf.o are; default the build of this checkout (env STRAIT_BPF_OBJ_DIR) */
  objectDir?: string;
  /**
   * The agent's --max-entries for the Service maps. A pinned map of another size is
   * replaced (unpinned, and this build loaded again, so every program uses the new
   * one). Absent: a pinned map keeps its size, whatever the objects say.
   */
  mapSizes?: MapSizes;
}

/** The maps whose size is config (docs/services.md, Capacity), by --max-entries name. */
export const SIZED_MAPS = {
  service: [MAPS.lbServices],
  backend: [MAPS.lbBackends, MAPS.lbSlots],
  flow: [MAPS.lbFlows, MAPS.lbRev],
  affinity: [MAPS.lbAffinity],
} as const;
export type MapSizes = Partial<Record<keyof typeof SIZED_MAPS, number>>;

export interface Datapath {
  buildId: string;
  programs: Record<ProgKey, number>;
  maps: Record<MapKey, number>;
  close(): void;
}

export function defaultObjectDir(): string {
  return process.env.STRAIT_BPF_OBJ_DIR ?? fileURLToPath(new URL('../../build/bpf/', import.meta.url));
}

const objectPath = (dir: string, prog: string) => join(dir, `${prog}.bpf.o`);

// The agent opens the datapath for every CNI call it serves: the objects are hashed
// again only when one of them changed on disk (a new build installed under it).
const buildIds = new Map<string, { stamp: string; id: string }>();

export function buildIdOf(objectDir: string): string {
  const stamp = Object.values(PROGRAMS)
    .map((prog) => {
      try {
        const st = statSync(objectPath(objectDir, prog), { bigint: true });
        return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      } catch {
        return 'missing';
      }
    })
    .join(',');
  const known = buildIds.get(objectDir);
  if (known?.stamp === stamp) return known.id;
  const id = hashObjects(objectDir);
  buildIds.set(objectDir, { stamp, id });
  return id;
}

function hashObjects(objectDir: string): string {
  const h = createHash('sha256');
  for (const prog of Object.values(PROGRAMS)) {
    try {
      h.update(readFileSync(objectPath(objectDir, prog)));
    } catch (err) {
      throw new StraitError(
        'E_BPF_OBJECT',
        `BPF object ${objectPath(objectDir, prog)} is missing (run scripts/setup.sh to build it)`,
        { cause: err },
      );
    }
  }
  return h.digest('hex').slice(0, 12);
}

export function openDatapath(opts: DatapathOptions): Datapath {
  const objectDir = opts.objectDir ?? defaultObjectDir();
  const buildId = buildIdOf(objectDir);
  ensureBpffs(opts.bpfDir);
  const progDir = join(opts.bpfDir, `progs-${buildId}`);
  // Only a caller that asks for sizes pays for looking at them (the CNI path does not).
  let programs = opts.mapSizes !== undefined && mapSizing(opts.bpfDir, opts.mapSizes).stale.length > 0 ? null : openPinnedPrograms(progDir);
  programs ??= withLock(join(opts.stateDir, 'bpf.lock'), () => {
    const sizing = mapSizing(opts.bpfDir, opts.mapSizes ?? {});
    if (sizing.stale.length === 0) {
      const pinned = openPinnedPrograms(progDir);
      if (pinned !== null) return pinned;
    }
    // Its connections (flows, affinity) are lost; the agent writes Services and backends again.
    for (const name of sizing.stale) rmSync(join(opts.bpfDir, name), { force: true });
    return install(opts.bpfDir, objectDir, progDir, sizing.sizes);
  });
  const maps = {} as Record<MapKey, number>;
  for (const [key, name] of Object.entries(MAPS) as [MapKey, string][]) {
    const fd = bpf.getPinned(join(opts.bpfDir, name));
    if (fd === null) throw new StraitError('E_BPF_MAP', `pinned map ${name} is missing in ${opts.bpfDir}`);
    maps[key] = fd;
  }
  const progs = programs;
  return {
    buildId,
    programs: progs,
    maps,
    close() {
      for (const fd of [...Object.values(progs), ...Object.values(maps)]) bpf.closeFd(fd);
    },
  };
}

function openPinnedPrograms(progDir: string): Record<ProgKey, number> | null {
  const out = {} as Record<ProgKey, number>;
  for (const [key, name] of Object.entries(PROGRAMS) as [ProgKey, string][]) {
    const fd = bpf.getPinned(join(progDir, name));
    if (fd === null) {
      for (const open of Object.values(out)) bpf.closeFd(open);
      return null;
    }
    out[key] = fd;
  }
  return out;
}

/**
 * Loads this build, pins it, moves every endpoint to it, and drops older builds.
 * Runs under the lock, after openPinnedPrograms found progDir incomplete: an install
 * killed between two pins left it so, and pinning over a pin that is there fails.
 * Unpinning never detaches: the veths keep running what they run until replaced.
 */
function install(bpfDir: string, objectDir: string, progDir: string, maxEntries: Record<string, number>): Record<ProgKey, number> {
  rmSync(progDir, { recursive: true, force: true });
  mkdirSync(progDir, { recursive: true, mode: 0o700 });
  for (const [key, name] of Object.entries(PROGRAMS) as [ProgKey, string][]) {
    const obj = bpf.loadObject(objectPath(objectDir, name), { pinRoot: bpfDir, maxEntries });
    try {
      const fd = obj.programs[name];
      if (fd === undefined) throw new StraitError('E_BPF_OBJECT', `program ${name} missing from its object (${key})`);
      bpf.pinFd(fd, join(progDir, name));
    } finally {
      obj.close();
    }
  }
  const programs = openPinnedPrograms(progDir);
  if (programs === null) throw new StraitError('E_BPF_PIN', `programs vanished from ${progDir}`);
  adoptLinks(bpfDir);
  const oldStats = carryStatsOver(bpfDir);
  replaceOnEndpoints(bpfDir, programs);
  const config = configOf(bpfDir);
  if (config !== null) {
    replaceOnUplink(config.uplinkIfindex, programs.fromUplink);
    // A device gone meanwhile: the agent makes it again, with the current build.
    if (config.tunnelIfindex !== 0) replaceWhereAttached(config.tunnelIfindex, programs.fromTunnel, programs.toTunnel);
  }
  if (oldStats) rmSync(join(bpfDir, STATS_V1), { force: true }); // no program counts there now
  for (const entry of readdirSync(bpfDir)) {
    const path = join(bpfDir, entry);
    if (entry.startsWith('progs-') && path !== progDir) rmSync(path, { recursive: true, force: true });
  }
  return programs;
}

/**
 * The size each sized map is loaded with: the one asked for, else the pinned one's
 * (so a loader that does not know the agent's config reuses the pin rather than
 * failing on it), else the compiled one (absent). Stale: pinned with another size
 * than asked for.
 */
function mapSizing(bpfDir: string, want: MapSizes): { sizes: Record<string, number>; stale: string[] } {
  const sizes: Record<string, number> = {};
  const stale: string[] = [];
  for (const [kind, names] of Object.entries(SIZED_MAPS) as [keyof MapSizes, readonly string[]][]) {
    for (const name of names) {
      const fd = bpf.getPinned(join(bpfDir, name));
      const pinned = fd === null ? null : pinnedSize(fd);
      const asked = want[kind];
      if (asked !== undefined && pinned !== null && pinned !== asked) stale.push(name);
      const size = asked ?? pinned;
      if (size !== null) sizes[name] = size;
    }
  }
  return { sizes, stale };
}

function pinnedSize(fd: number): number {
  try {
    return bpf.mapInfo(fd).maxEntries;
  } finally {
    bpf.closeFd(fd);
  }
}

/**
 * Endpoints added by a build before strait_links_v1 have no link entry, and this
 * build's to_pod lets nothing onto a veth without one: give each veth an entry
 * naming one of its endpoint's addresses before its programs are replaced.
 */
function adoptLinks(bpfDir: string): void {
  const endpoints = bpf.getPinned(join(bpfDir, MAPS.endpoints));
  const links = bpf.getPinned(join(bpfDir, MAPS.links));
  try {
    if (endpoints === null || links === null) return;
    const known = new Set(listLinks(links).map((l) => l.ifindex));
    for (const e of listEndpoints(endpoints)) {
      if (known.has(e.ifindex)) continue;
      writeLink(links, { ifindex: e.ifindex, family: e.family, ip: e.ip });
      known.add(e.ifindex);
    }
  } finally {
    if (endpoints !== null) bpf.closeFd(endpoints);
    if (links !== null) bpf.closeFd(links);
  }
}

/** The verdict counters before strait_stats_v2 (8 slots). */
const STATS_V1 = 'strait_stats_v1';

/**
 * An older build counted verdicts in strait_stats_v1: its counts move to the same
 * slots of strait_stats_v2 (per-CPU values as they are), so `straitctl drops` loses
 * nothing but what the old programs count between this copy and their replacement.
 * Returns whether there was a v1 to unpin once nothing runs against it.
 */
function carryStatsOver(bpfDir: string): boolean {
  const v1 = bpf.getPinned(join(bpfDir, STATS_V1));
  if (v1 === null) return false;
  const v2 = bpf.getPinned(join(bpfDir, MAPS.stats));
  try {
    if (v2 === null) return false;
    for (const { key, value } of bpf.mapDump(v1)) bpf.mapUpdate(v2, key, value);
    return true;
  } finally {
    bpf.closeFd(v1);
    if (v2 !== null) bpf.closeFd(v2);
  }
}

/** Every host veth that carries an endpoint gets the new programs in place (BPF_TC_F_REPLACE). */
function replaceOnEndpoints(bpfDir: string, programs: Record<ProgKey, number>): void {
  const endpoints = bpf.getPinned(join(bpfDir, MAPS.endpoints));
  if (endpoints === null) return;
  try {
    const ifindexes = new Set(bpf.mapDump(endpoints).map((e) => decodeEndpointValue(e.value).ifindex));
    // A veth gone meanwhile: its DEL or GC cleans the entry.
    for (const ifindex of ifindexes) replaceWhereAttached(ifindex, programs.fromPod, programs.toPod);
  } finally {
    bpf.closeFd(endpoints);
  }
}

/** What the agent wrote in strait_config_v1 (uplink, tunnel device); null before any agent ran. */
function configOf(bpfDir: string): ConfigValue | null {
  const config = bpf.getPinned(join(bpfDir, MAPS.config));
  if (config === null) return null;
  try {
    const value = bpf.mapLookup(config, CONFIG_KEY);
    return value === null ? null : decodeConfigValue(value);
  } finally {
    bpf.closeFd(config);
  }
}

/**
 * The uplink the agent configured gets this build's from_uplink in place, when an
 * older from_uplink runs there: the agent attaches it, and only strait's own program
 * is replaced, never another tool's filter at that slot.
 */
function replaceOnUplink(ifindex: number, fromUplink: number): void {
  if (ifindex === 0) return;
  try {
    const attached = bpf.tcQuery(ifindex, 'ingress');
    if (attached === null || attachedName(attached.progId) !== PROGRAMS.fromUplink) return;
    bpf.tcAttach(ifindex, 'ingress', fromUplink, { replace: true });
  } catch (err) {
    // The uplink went away meanwhile: the agent attaches again when it is back.
    if (errnoOf(err) !== 'ENODEV') throw err;
  }
}

/** The name of a loaded program by id; null when it is gone meanwhile. */
function attachedName(id: number): string | null {
  let fd: number;
  try {
    fd = bpf.progFdById(id);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    return bpf.progInfo(fd).name;
  } finally {
    bpf.closeFd(fd);
  }
}

/** Swaps the program on each tc hook of ifindex that has one; a device that is gone is skipped. */
function replaceWhereAttached(ifindex: number, ingress: number, egress: number): void {
  for (const [direction, fd] of [['ingress', ingress], ['egress', egress]] as const) {
    try {
      if (bpf.tcQuery(ifindex, direction) !== null) bpf.tcAttach(ifindex, direction, fd, { replace: true });
    } catch (err) {
      if (errnoOf(err) !== 'ENODEV') throw err;
    }
  }
}

function withLock<T>(path: string, fn: () => T): T {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    flock(fd, 'exclusive', true);
    return fn();
  } finally {
    closeSync(fd); // closing drops the flock
  }
}

/** A pinned map's fd without loading anything (DEL, GC, straitctl); null when absent. */
export function openPinnedMap(bpfDir: string, key: MapKey): number | null {
  return bpf.getPinned(join(bpfDir, MAPS[key]));
}
