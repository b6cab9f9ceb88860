// The pinned Service maps (LbMaps) through the addon: typed writes with the codecs
// of src/datapath/maps/lb.ts, and raw dumps of the connection tables for the purge.
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { StraitError } from '../errors.js';
import {
  decodeLbBackendValue,
  decodeLbId,
  decodeLbServiceKey,
  decodeLbServiceValue,
  decodeLbSlotKey,
  encodeLbBackendValue,
  encodeLbId,
  encodeLbServiceKey,
  encodeLbServiceValue,
  encodeLbSlotKey,
} from '../datapath/maps/lb.js';
import { MapName } from '../datapath/maps/names.js';
import type { LbConnTable, LbMaps } from './types.js';

const NAMES = {
  services: MapName.lbServices,
  slots: MapName.lbSlots,
  backends: MapName.lbBackends,
  flows: MapName.lbFlows,
  rev: MapName.lbRev,
  affinity: MapName.lbAffinity,
} as const;

function table(fd: number): LbConnTable {
  return { dump: () => bpf.mapDump(fd), deleteMany: (keys) => bpf.mapDeleteMany(fd, keys) };
}

export function openLbMaps(bpfDir: string): LbMaps {
  const fds = {} as Record<keyof typeof NAMES, number>;
  try {
    for (const [k, name] of Object.entries(NAMES) as [keyof typeof NAMES, string][]) {
      const fd = bpf.getPinned(join(bpfDir, name));
      if (fd === null) throw new StraitError('E_BPF_MAP', `pinned map ${name} is missing in ${bpfDir}`);
      fds[k] = fd;
    }
  } catch (e) {
    for (const fd of Object.values(fds)) bpf.closeFd(fd);
    throw e;
  }
  return {
    read: () => ({
      services: bpf.mapDump(fds.services).map((e) => ({ key: decodeLbServiceKey(e.key), value: decodeLbServiceValue(e.value) })),
      slots: bpf.mapDump(fds.slots).map((e) => ({ key: decodeLbSlotKey(e.key), backendId: decodeLbId(e.value) })),
      backends: bpf.mapDump(fds.backends).map((e) => ({ id: decodeLbId(e.key), value: decodeLbBackendValue(e.value) })),
    }),
    capacity: () => ({ services: bpf.mapInfo(fds.services).maxEntries, backends: Math.min(bpf.mapInfo(fds.backends).maxEntries, bpf.mapInfo(fds.slots).maxEntries) }),
    setService: (k, v) => bpf.mapUpdate(fds.services, encodeLbServiceKey(k), encodeLbServiceValue(v)),
    delService: (k) => void bpf.mapDelete(fds.services, encodeLbServiceKey(k)),
    setSlot: (k, id) => bpf.mapUpdate(fds.slots, encodeLbSlotKey(k), encodeLbId(id)),
    delSlot: (k) => void bpf.mapDelete(fds.slots, encodeLbSlotKey(k)),
    setBackend: (id, v) => bpf.mapUpdate(fds.backends, encodeLbId(id), encodeLbBackendValue(v)),
    delBackend: (id) => void bpf.mapDelete(fds.backends, encodeLbId(id)),
    flows: table(fds.flows),
    rev: table(fds.rev),
    affinity: table(fds.affinity),
    close() {
      for (const fd of Object.values(fds)) bpf.closeFd(fd);
    },
  };
}
