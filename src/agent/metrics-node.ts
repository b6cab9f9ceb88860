// The metrics' readers of the node's pinned maps (metrics.ts MetricsInputs): the
// counter maps as straitctl drops sums them, and a map's max_entries from the kernel.
// Each opens the pin, reads and closes it, at scrape time only. A read that fails
// (a map replaced under it) leaves its series out of that scrape, not the whole scrape.
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { readCounters } from '../cli/drops.js';
import type { MetricsInputs } from './metrics.js';

export function pinnedMapReaders(bpfDir: string): Pick<MetricsInputs, 'counters' | 'maxEntries'> {
  return {
    counters: () => {
      try {
        return readCounters(bpfDir);
      } catch {
        return null;
      }
    },
    maxEntries(map) {
      // Names come from the agent's own status (maps.h names), never a request.
      const fd = bpf.getPinned(join(bpfDir, map));
      if (fd === null) return null;
      try {
        return bpf.mapInfo(fd).maxEntries;
      } catch {
        return null;
      } finally {
        bpf.closeFd(fd);
      }
    },
  };
}
