// Holds the TypeScript mirror (src/datapath/maps/) to bpf/include/maps.h through
// the BTF clang writes into the compiled objects: every struct's size and member
// offsets, the map names with their key/value types and sizes, and enum
// drop_reason. Needs clang and bpftool but not root. A missing tool FAILS this
// file rather than skipping it: a silent skip would let the layouts drift.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { beforeAll, describe, expect, it } from 'vitest';

import {
  CIDR_MAX,
  CT_MAX,
  CT_PENDING_MAX,
  DROP_MAX,
  DROP_REASONS,
  ENDPOINTS_MAX,
  EP_COUNTERS_MAX,
  FIB_SLOTS,
  FRAG_MAX,
  IPCACHE_MAX,
  LAYOUT,
  LB_AFFINITY_MAX,
  LB_BACKENDS_MAX,
  LB_FLOWS_MAX,
  LB_SERVICES_MAX,
  LINKS_MAX,
  MapName,
  POLICY_MAX,
  REMOTE_MAX,
  RULE_COUNTERS_MAX,
  ProgramName,
  STAT_MAX,
  VNI_MAX,
} from '../../src/datapath/maps/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BPF_MAP_TYPE_HASH = 1;
const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_PERCPU_HASH = 5;
const BPF_MAP_TYPE_LRU_HASH = 9;
const BPF_MAP_TYPE_LPM_TRIE = 11;
const OBJECTS = Object.values(ProgramName);

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
  values?: { name: string; val: number }[];
  vars?: { type_id: number; name?: string }[];
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is not installed: the BTF layout test needs it (apt-get install ${cmd === 'bpftool' ? 'bpftool' : 'clang llvm'})`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

class Btf {
  private readonly byId = new Map<number, BtfType>();
  constructor(readonly types: BtfType[]) {
    for (const t of types) this.byId.set(t.id, t);
  }
  static load(object: string): Btf {
    const out = run('bpftool', ['-j', 'btf', 'dump', 'file', object, 'format', 'raw']);
    const parsed = JSON.parse(out) as { types?: BtfType[]; error?: string };
    if (!parsed.types) throw new Error(`bpftool: ${parsed.error ?? 'no types in BTF dump'}`);
    return new Btf(parsed.types);
  }
  named(kind: string, name: string): BtfType {
    const t = this.types.find((x) => x.kind === kind && x.name === name);
    if (!t) throw new Error(`no ${kind} '${name}' in BTF`);
    return t;
  }
  get(id: number): BtfType {
    const t = this.byId.get(id);
    if (!t) throw new Error(`no BTF type ${id}`);
    return t;
  }
  /** Skips typedefs and qualifiers, as C does when asking what a type is. */
  resolve(id: number): BtfType {
    let t = this.get(id);
    while (['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind)) t = this.get(t.type_id ?? 0);
    return t;
  }
  /** A map definition in .maps: __type(key, T) is a member `T *key`, __uint(x, N) is `int (*x)[N]`. */
  mapDef(name: string): { type: number; key: BtfType; value: BtfType; maxEntries: number } {
    const v = this.named('VAR', name);
    const def = this.resolve(v.type_id ?? 0);
    const member = (m: string): BtfMember => {
      const found = def.members?.find((x) => x.name === m);
      if (!found) throw new Error(`map ${name} has no ${m}`);
      return found;
    };
    const pointee = (m: string): BtfType => this.resolve(this.get(member(m).type_id).type_id ?? 0);
    return {
      type: pointee('type').nr_elems ?? -1,
      key: pointee('key'),
      value: pointee('value'),
      maxEntries: pointee('max_entries').nr_elems ?? -1,
    };
  }
}

beforeAll(() => {
  run('make', ['-s', '-C', 'bpf']);
});

describe.each(OBJECTS)('BTF of build/bpf/%s.bpf.o against src/datapath/maps', (obj) => {
  let btf: Btf;
  beforeAll(() => {
    btf = Btf.load(join(repo, 'build', 'bpf', `${obj}.bpf.o`));
  });

  it.each(Object.keys(LAYOUT) as (keyof typeof LAYOUT)[])('struct %s: size and every member offset', (name) => {
    const s = btf.named('STRUCT', name);
    const fromBtf = Object.fromEntries(
      (s.members ?? []).map((m) => {
        expect(m.bits_offset % 8, `${name}.${m.name} is a bitfield`).toBe(0);
        return [m.name, m.bits_offset / 8];
      }),
    );
    expect({ size: s.size, members: fromBtf }).toEqual(LAYOUT[name]);
  });

  it('maps: names, key and value structs, max_entries', () => {
    const endpoints = btf.mapDef(MapName.endpoints);
    expect([endpoints.key.name, endpoints.value.name, endpoints.maxEntries]).toEqual([
      'endpoint_key',
      'endpoint_value',
      ENDPOINTS_MAX,
    ]);
    const links = btf.mapDef(MapName.links);
    expect([links.type, links.key.kind, links.key.size, links.value.name, links.maxEntries]).toEqual([
      BPF_MAP_TYPE_HASH,
      'INT',
      4,
      'link_value',
      LINKS_MAX,
    ]);
    for (const [name, max] of [
      [MapName.drops, DROP_MAX],
      [MapName.stats, STAT_MAX],
      [MapName.fib, FIB_SLOTS],
    ] as const) {
      const m = btf.mapDef(name);
      expect([m.key.kind, m.key.size, m.value.name, m.maxEntries], name).toEqual(['INT', 4, 'traffic_counter', max]);
    }
    // Per-CPU hashes: entries appear on first use, the agent deletes a gone endpoint's.
    const ep = btf.mapDef(MapName.epCounters);
    expect([ep.type, ep.key.name, ep.value.name, ep.maxEntries]).toEqual([BPF_MAP_TYPE_PERCPU_HASH, 'ep_counter_key', 'traffic_counter', EP_COUNTERS_MAX]);
    const rules = btf.mapDef(MapName.ruleCounters);
    expect([rules.type, rules.key.kind, rules.key.size, rules.value.name, rules.maxEntries]).toEqual([
      BPF_MAP_TYPE_PERCPU_HASH,
      'INT',
      4,
      'traffic_counter',
      RULE_COUNTERS_MAX,
    ]);
  });

  // enum bpf_map_type: the codecs assume a hash (whole-key match), an LPM trie
  // (prefixlen first) or an LRU hash (entries may vanish) for each of these.
  it.each([
    [MapName.ipcache, BPF_MAP_TYPE_HASH, 'endpoint_key', 'ipcache_value', IPCACHE_MAX],
    [MapName.cidr, BPF_MAP_TYPE_LPM_TRIE, 'cidr_key', 'cidr_value', CIDR_MAX],
    [MapName.policy, BPF_MAP_TYPE_LPM_TRIE, 'policy_key', 'policy_value', POLICY_MAX],
    [MapName.ct, BPF_MAP_TYPE_LRU_HASH, 'ct_key', 'ct_value', CT_MAX],
    [MapName.ctPending, BPF_MAP_TYPE_LRU_HASH, 'ct_key', 'ct_value', CT_PENDING_MAX],
    [MapName.frag, BPF_MAP_TYPE_LRU_HASH, 'frag_key', 'frag_value', FRAG_MAX],
    [MapName.remote, BPF_MAP_TYPE_LPM_TRIE, 'cidr_key', 'remote_value', REMOTE_MAX],
    [MapName.lbServices, BPF_MAP_TYPE_HASH, 'lb_service_key', 'lb_service_value', LB_SERVICES_MAX],
    [MapName.lbSlots, BPF_MAP_TYPE_HASH, 'lb_slot_key', null, LB_BACKENDS_MAX],
    [MapName.lbFlows, BPF_MAP_TYPE_LRU_HASH, 'ct_key', 'lb_flow_value', LB_FLOWS_MAX],
    [MapName.lbRev, BPF_MAP_TYPE_LRU_HASH, 'ct_key', 'lb_rev_value', LB_FLOWS_MAX],
    [MapName.lbAffinity, BPF_MAP_TYPE_LRU_HASH, 'lb_affinity_key', 'lb_affinity_value', LB_AFFINITY_MAX],
  ] as const)('map %s: type %i, key %s, value %s, max_entries %i', (name, type, key, value, max) => {
    const m = btf.mapDef(name);
    // A null value is a plain u32 (a slot's backend id).
    const v = value === null ? `INT/${m.value.size}` : m.value.name;
    expect([m.type, m.key.name, v, m.maxEntries]).toEqual([type, key, value ?? 'INT/4', max]);
  });

  // Keyed by a u32 (config: the one slot 0; the VXLAN hint maps: an identity, a VNI).
  it.each([
    [MapName.config, BPF_MAP_TYPE_ARRAY, 'config_value', 1],
    [MapName.identityVni, BPF_MAP_TYPE_HASH, null, VNI_MAX],
    [MapName.vni, BPF_MAP_TYPE_HASH, 'ipcache_value', VNI_MAX],
    [MapName.lbBackends, BPF_MAP_TYPE_HASH, 'lb_backend_value', LB_BACKENDS_MAX],
  ] as const)('map %s: type %i, a u32 key, value %s, max_entries %i', (name, type, value, max) => {
    const m = btf.mapDef(name);
    expect([m.type, m.key.kind, m.key.size, m.maxEntries]).toEqual([type, 'INT', 4, max]);
    if (value === null) expect([m.value.kind, m.value.size]).toEqual(['INT', 4]);
    else expect(m.value.name).toBe(value);
  });

  it('enum drop_reason matches drop.ts, value for value', () => {
    const e = btf.named('ENUM', 'drop_reason');
    const fromBtf = (e.values ?? []).filter((v) => v.name !== 'DROP_MAX').map((v) => ({ name: v.name, value: v.val }));
    expect(fromBtf).toEqual(DROP_REASONS.map(({ name, value }) => ({ name, value })));
    expect(e.values?.find((v) => v.name === 'DROP_MAX')?.val).toBe(DROP_MAX);
  });
});
