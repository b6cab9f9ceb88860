// SETUP and CHECK for the flow event tests (bpf/include/events.h): the agent's switch
// (strait_event_config_v1), the per-CPU counters and token buckets
// (strait_event_cpu_v1) and the ring (strait_events_v1) of a test datapath, read the
// way the agent reads them: the addon's ring reader, decodeFlowEvents and
// sumEventCpuStates from the maps.h mirror.
import * as bpf from '../../src/datapath/bpf.js';
import {
  decodeFlowEvents,
  encodeEventConfig,
  EVENT_CPU_STATE_SIZE,
  EVENT_MAP_KEY,
  FLOW_EVENT_SIZE,
  MapName,
  sumEventCpuStates,
  type EventConfig,
  type EventCpuTotals,
  type FlowEvent,
} from '../../src/datapath/maps/index.js';
import { LAYOUT } from '../../src/datapath/maps/layout.js';
import type { TestDatapath } from './bpf-datapath.js';

export interface FlowEvents {
  /** writes strait_event_config_v1 */
  configure(config: EventConfig): void;
  /** every record written since the last call, oldest first */
  drain(): FlowEvent[];
  /** sent, ring_full and rate_limited summed over CPUs */
  totals(): EventCpuTotals;
  /** every CPU's counters and bucket to zero (a bucket that never sent: full) */
  reset(): void;
  /** every CPU's bucket as of `ns` (CLOCK_MONOTONIC, as bpf_ktime_get_ns) holding `tokens` (1e9 a record); counters kept */
  setBuckets(ns: bigint, tokens: bigint): void;
  close(): void;
}

const S = LAYOUT.event_cpu_state.members;

export function openFlowEvents(dp: TestDatapath): FlowEvents {
  const ncpus = bpf.numPossibleCpus();
  const cpuFd = dp.mapFd(MapName.eventCpu);
  const reader = bpf.openRingReader(dp.mapFd(MapName.events), FLOW_EVENT_SIZE);
  const cpuStates = (): Uint8Array => {
    const buf = bpf.mapLookup(cpuFd, EVENT_MAP_KEY);
    if (buf === null) throw new Error('strait_event_cpu_v1[0] is missing');
    return buf;
  };
  return {
    configure: (config) => bpf.mapUpdate(dp.mapFd(MapName.eventConfig), EVENT_MAP_KEY, encodeEventConfig(config)),
    drain: () => {
      const out: FlowEvent[] = [];
      for (;;) {
        const { bytes, skipped } = reader.consume();
        if (skipped !== 0) throw new Error(`${skipped} ring records were not ${FLOW_EVENT_SIZE} bytes`);
        if (bytes.length === 0) return out;
        out.push(...decodeFlowEvents(bytes));
      }
    },
    totals: () => sumEventCpuStates(cpuStates(), ncpus),
    reset: () => bpf.mapUpdate(cpuFd, EVENT_MAP_KEY, new Uint8Array(ncpus * EVENT_CPU_STATE_SIZE)),
    setBuckets: (ns, tokens) => {
      const buf = cpuStates();
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let cpu = 0; cpu < ncpus; cpu++) {
        dv.setBigUint64(cpu * EVENT_CPU_STATE_SIZE + S.bucket_ns, ns, true);
        dv.setBigUint64(cpu * EVENT_CPU_STATE_SIZE + S.bucket_tokens, tokens, true);
      }
      bpf.mapUpdate(cpuFd, EVENT_MAP_KEY, buf);
    },
    close: () => reader.close(),
  };
}
