// strait_event_config_v1 (key 0) from the agent's flags: whether the datapath emits
// flow events at all, and each CPU's rate limit. Written once the datapath's maps
// exist; the datapath reads it for every record it would write.
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { encodeEventConfig, EVENT_MAP_KEY, type EventConfig } from '../datapath/maps/events.js';
import { MapName } from '../datapath/maps/names.js';
import { StraitError } from '../errors.js';

export interface FlowEventFlags {
  /** --flow-events on|off */
  enabled: boolean;
  /** --flow-events-rate: records a second per CPU, 0: no limit; the burst is the same */
  rate: number;
}

export const eventConfigOf = (f: FlowEventFlags): EventConfig => ({ enabled: f.enabled, ratePerCpu: f.rate, burst: f.rate });

export function writeEventConfig(bpfDir: string, f: FlowEventFlags): void {
  const path = join(bpfDir, MapName.eventConfig);
  const fd = bpf.getPinned(path);
  if (fd === null) throw new StraitError('E_BPF_MAP', `pinned map ${MapName.eventConfig} is missing in ${bpfDir}: cannot configure flow events`);
  try {
    bpf.mapUpdate(fd, EVENT_MAP_KEY, encodeEventConfig(eventConfigOf(f)));
  } finally {
    bpf.closeFd(fd);
  }
}
