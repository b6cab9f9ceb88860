// The real strait-agent on a directory of Services and EndpointSlices, its pinned
// Service maps read back with the codecs (no packets): entries as compiled, an
// EndpointSlice edit lands (a backend gone with its connections, one no longer
// ready), a restart on the same manifests writes nothing and keeps every id, and
// --max-entries sizes the maps (a Service past the size refused and reported).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as bpf from '../../src/datapath/bpf.js';
import { encodeCtKey } from '../../src/datapath/maps/ct.js';
import {
  decodeLbBackendValue,
  decodeLbId,
  decodeLbServiceKey,
  decodeLbServiceValue,
  decodeLbSlotKey,
  encodeLbFlowValue,
  LB_BE_F_READY,
} from '../../src/datapath/maps/lb.js';
import { MapName } from '../../src/datapath/maps/names.js';
import { serviceKeyText } from '../../src/lb/types.js';
import { Cluster } from '../helpers/cluster.js';
import { serviceManifest } from '../helpers/lb-builders.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('Service maps of the agent');

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));
const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

const services = list([
  serviceManifest('web', { clusterIPs: ['10.96.0.10', 'fd00:96::10'], ipFamilyPolicy: 'RequireDualStack', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
  serviceManifest('dns', { clusterIP: '10.96.0.53', selector: { app: 'dns' }, sessionAffinity: 'ClientIP', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
]);
interface Ep {
  ip: string;
  ready?: boolean;
  terminating?: boolean;
}
const slice = (name: string, svc: string, addressType: string, eps: Ep[], ports: object[]) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'x', labels: { 'kubernetes.io/service-name': svc } },
  addressType,
  endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true, terminating: e.terminating ?? false } })),
  ports,
});
const slices = (web4: Ep[]) =>
  list([
    slice('web-4', 'web', 'IPv4', web4, [{ name: 'http', port: 8080, protocol: 'TCP' }]),
    slice('web-6', 'web', 'IPv6', [{ ip: 'fd00:244::10' }], [{ name: 'http', port: 8080, protocol: 'TCP' }]),
    slice('dns-4', 'dns', 'IPv4', [{ ip: '10.244.1.53' }], [{ name: 'dns', port: 53, protocol: 'UDP' }]),
  ]);
const threeWeb = [{ ip: '10.244.1.10' }, { ip: '10.244.1.11' }, { ip: '10.244.1.12' }];

function withPinned<T>(bpfDir: string, name: string, fn: (fd: number) => T): T {
  const fd = bpf.getPinned(join(bpfDir, name));
  if (fd === null) throw new Error(`${name} is not pinned`);
  try {
    return fn(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

/** The three agent-written maps, decoded: service key -> {id, count, flags, slots as addr:port, backends}. */
function readMaps(bpfDir: string) {
  const backends = new Map(withPinned(bpfDir, MapName.lbBackends, (fd) => bpf.mapDump(fd)).map((e) => [decodeLbId(e.key), decodeLbBackendValue(e.value)]));
  const slots = withPinned(bpfDir, MapName.lbSlots, (fd) => bpf.mapDump(fd)).map((e) => ({ ...decodeLbSlotKey(e.key), backendId: decodeLbId(e.value) }));
  const out: Record<string, { id: number; count: number; flags: number; timeout: number; slots: string[]; backends: string[] }> = {};
  for (const e of withPinned(bpfDir, MapName.lbServices, (fd) => bpf.mapDump(fd))) {
    const key = decodeLbServiceKey(e.key);
    const v = decodeLbServiceValue(e.value);
    const name = (id: number) => {
      const b = backends.get(id)!;
      return `${b.addr}:${b.port}${b.flags & LB_BE_F_READY ? '' : ' not-ready'}`;
    };
    out[serviceKeyText(key)] = {
      id: v.serviceId,
      count: v.count,
      flags: v.flags,
      timeout: v.affinityTimeoutS,
      slots: slots.filter((s) => s.serviceId === v.serviceId).sort((a, b) => a.slot - b.slot).map((s) => name(s.backendId)),
      backends: [...backends].filter(([, b]) => b.serviceId === v.serviceId).map(([id]) => name(id)).sort(),
    };
  }
  return { services: out, backendIds: new Map([...backends].map(([id, b]) => [`${b.addr}:${b.port}`, id])) };
}

describe.skipIf(!isRoot)('strait-agent writes Services into the Service maps', () => {
  const c = isRoot ? new Cluster('198.18.92.0/24') : (null as unknown as Cluster);

  beforeAll(async () => {
    c.write('services.yaml', services);
    c.write('slices.yaml', slices(threeWeb));
    await c.startAgent();
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
    cleanupAll();
  });

  it('every ClusterIP and port, with its backends in slots', () => {
    const { services: s } = readMaps(c.bpfDir);
    expect(Object.keys(s).sort()).toEqual(['10.96.0.10:80/TCP', '10.96.0.53:53/UDP', '[fd00:96::10]:80/TCP']);
    expect(s['10.96.0.10:80/TCP']).toMatchObject({ count: 3, flags: 0, slots: ['10.244.1.10:8080', '10.244.1.11:8080', '10.244.1.12:8080'] });
    expect(s['[fd00:96::10]:80/TCP']).toMatchObject({ count: 1, slots: ['fd00:244::10:8080'] });
    expect(s['10.96.0.53:53/UDP']).toMatchObject({ count: 1, flags: 1, timeout: 10800, slots: ['10.244.1.53:53'] });
  });

  it('an EndpointSlice edit lands: a backend removed (its connections purged), one no longer ready', async () => {
    const before = readMaps(c.bpfDir);
    const sid = before.services['10.96.0.10:80/TCP']!.id;
    const gone = before.backendIds.get('10.244.1.10:8080')!;
    const kept = before.backendIds.get('10.244.1.11:8080')!;
    // Two live connections, as from_pod would have written them.
    withPinned(c.bpfDir, MapName.lbFlows, (fd) => {
      for (const [sport, backendId] of [[40000, gone], [40001, kept]] as const) {
        const key = encodeCtKey({ family: 4, saddr: '198.18.92.5', daddr: '10.96.0.10', sport, dport: 80, protocol: 6 });
        bpf.mapUpdate(fd, key, encodeLbFlowValue({ backendId, serviceId: sid, flags: 0 }));
      }
    });
    c.write('slices.yaml', slices([{ ip: '10.244.1.11', ready: false, terminating: true }, { ip: '10.244.1.12' }]));
    await c.waitSynced();
    const after = readMaps(c.bpfDir);
    expect(after.services['10.96.0.10:80/TCP']).toEqual({ id: sid, count: 1, flags: 0, timeout: 0, slots: ['10.244.1.12:8080'], backends: ['10.244.1.11:8080 not-ready', '10.244.1.12:8080'] });
    expect(after.backendIds.get('10.244.1.11:8080')).toBe(kept);
    const flows = withPinned(c.bpfDir, MapName.lbFlows, (fd) => bpf.mapDump(fd)).map((e) => e.value[0]);
    expect(flows).toEqual([kept]);
  });

  it('restarted on the same manifests: the same entries and ids, and no write', async () => {
    const before = readMaps(c.bpfDir);
    await c.stopAgent();
    const logFrom = c.agentLog.length;
    await c.startAgent();
    expect(readMaps(c.bpfDir)).toEqual(before);
    expect(c.agentLog.slice(logFrom)).not.toContain('service maps updated');
    const st = JSON.parse(spawnSync(STRAITCTL, ['status', '-o', 'json', '--socket', c.socket], { encoding: 'utf8' }).stdout) as { services: { services: number; servicePorts: number; backends: number; readyBackends: number } };
    expect(st.services).toMatchObject({ services: 2, servicePorts: 3, backends: 4, readyBackends: 3 });
  });
});

describe.skipIf(!isRoot)('strait-agent --max-entries sizes the Service maps', () => {
  // Made when this block starts: the block above removes every temp dir it ends with.
  let c: Cluster;
  beforeAll(() => {
    c = new Cluster('198.18.93.0/24');
  });
  const nine = list(Array.from({ length: 9 }, (_, i) => serviceManifest(`s${i + 1}`, { clusterIP: `10.96.1.${i + 1}`, ports: [{ port: 80 }] })));
  const size = (name: string) => withPinned(c.bpfDir, name, (fd) => bpf.mapInfo(fd).maxEntries);
  const status = () =>
    JSON.parse(spawnSync(STRAITCTL, ['status', '-o', 'json', '--socket', c.socket], { encoding: 'utf8' }).stdout) as {
      problems: { kind: string; subject: string }[];
      services: { services: number; refused: { service: string }[]; maps: { map: string; entries: number; capacity: number }[] };
    };

  afterAll(async () => {
    await c.stop();
    cleanupAll();
  });

  it('service=8: an 8-entry map, 8 Services written, the 9th refused and reported', async () => {
    c.write('services.yaml', nine);
    await c.startAgent(['--max-entries', 'service=8,backend=64,flow=128,affinity=16']);
    expect([size(MapName.lbServices), size(MapName.lbBackends), size(MapName.lbSlots), size(MapName.lbFlows), size(MapName.lbRev), size(MapName.lbAffinity)]).toEqual([8, 64, 64, 128, 128, 16]);
    expect(Object.keys(readMaps(c.bpfDir).services)).toHaveLength(8);
    const st = status();
    expect(st.services.services).toBe(8);
    expect(st.services.refused.map((r) => r.service)).toEqual(['x/s9']);
    expect(st.problems).toContainEqual(expect.objectContaining({ kind: 'service-refused', subject: 'x/s9' }));
    expect(st.services.maps).toContainEqual({ map: 'strait_lb_services_v1', entries: 8, capacity: 8 });
  });

  it('restarted without the flag the pinned size stays; with another size the map is replaced, the programs loaded again on it', async () => {
    const ids = readMaps(c.bpfDir).services;
    const fromPod = () => {
      const dir = readdirSync(c.bpfDir).find((d) => d.startsWith('progs-'))!;
      return withPinned(c.bpfDir, join(dir, 'from_pod'), (fd) => bpf.progInfo(fd).id);
    };
    const prog = fromPod();
    await c.stopAgent();
    await c.startAgent();
    expect(size(MapName.lbServices)).toBe(8);
    expect(readMaps(c.bpfDir).services).toEqual(ids);
    expect(fromPod()).toBe(prog);
    // A loader that knows no sizes (a new build's first CNI call, the standalone
    // plugin) loads on the pinned maps as they are, rather than failing on them.
    await c.stopAgent();
    rmSync(join(c.bpfDir, readdirSync(c.bpfDir).find((d) => d.startsWith('progs-'))!), { recursive: true });
    await c.startAgent();
    expect(size(MapName.lbServices)).toBe(8);
    expect(readMaps(c.bpfDir).services).toEqual(ids);
    const reloaded = fromPod();
    expect(reloaded).not.toBe(prog);
    await c.stopAgent();
    await c.startAgent(['--max-entries', 'service=16']);
    expect(size(MapName.lbServices)).toBe(16);
    expect(size(MapName.lbBackends)).toBe(64); // not named: kept
    expect(fromPod()).not.toBe(reloaded); // the old programs still held the old map
    const after = readMaps(c.bpfDir).services;
    expect(Object.keys(after)).toHaveLength(9);
    expect(status().services.refused).toEqual([]);
  });
});
