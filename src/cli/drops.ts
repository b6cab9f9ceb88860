// straitctl drops: the datapath's per-CPU counters summed — drops by reason, where
// the packets that were not dropped went (BPF redirect, host stack, to pod, other
// nodes), and why a FIB lookup for another node's pod fell back to the host stack
// (strait_fib_v1, by the kernel's return code).
import * as bpf from '../datapath/bpf.js';
import { openPinnedMap } from '../datapath/loader.js';
import { counterKey, sumPerCpu } from '../datapath/maps/counters.js';
import { DROP_REASONS, STATS } from '../datapath/maps/drop.js';
import { FIB_SLOT_INFOS } from '../datapath/maps/fib.js';
import { parseCommon, printTable } from './options.js';

interface CounterRow {
  /** fib: a FIB lookup that fell back to the host stack, by return code */
  kind: 'drop' | 'forward' | 'fib';
  name: string;
  description: string;
  packets: string;
  bytes: string;
}

export function readCounters(bpfDir: string): CounterRow[] | null {
  const drops = openPinnedMap(bpfDir, 'drops');
  const stats = openPinnedMap(bpfDir, 'stats');
  // Absent where only an older build ran: no fallback was counted then.
  const fib = openPinnedMap(bpfDir, 'fib');
  try {
    if (drops === null || stats === null) return null;
    const ncpus = bpf.numPossibleCpus();
    const read = (fd: number | null, info: { value: number; name: string; description: string }, kind: CounterRow['kind']): CounterRow => {
      const buf = fd === null ? null : bpf.mapLookup(fd, counterKey(info.value));
      const c = buf === null ? { packets: 0n, bytes: 0n } : sumPerCpu(buf, ncpus);
      return { kind, name: info.name, description: info.description, packets: String(c.packets), bytes: String(c.bytes) };
    };
    return [
      ...STATS.map((s) => read(stats, s, 'forward')),
      ...DROP_REASONS.filter((d) => d.value !== 0).map((d) => read(drops, d, 'drop')),
      ...FIB_SLOT_INFOS.filter((f) => f.slot !== 0).map((f) => read(fib, { value: f.slot, name: f.name, description: f.description }, 'fib')),
    ];
  } finally {
    for (const fd of [drops, stats, fib]) if (fd !== null) bpf.closeFd(fd);
  }
}

export function drops(argv: string[]): number {
  const opts = parseCommon(argv, { all: { type: 'boolean', short: 'a' } });
  const rows = readCounters(opts.bpfDir);
  if (rows === null) {
    console.error(`no counters pinned in ${opts.bpfDir} (no pod added on this node yet?)`);
    return 1;
  }
  if (opts.output === 'json') {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  // Zero drop reasons and FIB fallbacks are noise in a table; -a shows them.
  const shown = rows.filter((r) => r.kind === 'forward' || r.packets !== '0' || opts.values.all === true);
  printTable([['KIND', 'COUNTER', 'PACKETS', 'BYTES', 'MEANING'], ...shown.map((r) => [r.kind, r.name, r.packets, r.bytes, r.description])]);
  return 0;
}
