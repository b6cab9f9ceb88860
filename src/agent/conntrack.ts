// What an established connection does when a policy stops allowing it: it is cut.
// After a plan changes an endpoint's policy, every conntrack entry (answered or
// pending) that involves one of the changed endpoints is judged again as a new
// connection would be. The ones now denied are marked CT_F_REVOKED rather than
// deleted: the datapath drops their packets both ways, where a deleted entry would
// be recreated by the next mid-stream packet whenever policy allows the reverse
// direction (bpf/include/policy.h). An entry allowed again loses the mark.
// Replies and established flows that are still allowed keep their entries.
import { CT_F_REVOKED, decodeCtKey, decodeCtValue, encodeCtValue } from '../datapath/maps/ct.js';
import type { DesiredState } from '../policy/types.js';
import { judge, type MapLookups } from './explain.js';

/** A conntrack table as revalidation sees it: raw entries, as maps.h lays them out. */
export interface ConntrackTable {
  dump(): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  /** Rewrites an entry that is still there; false when it is gone (the LRU dropped it, or it expired). */
  updateExisting(key: Uint8Array, value: Uint8Array): boolean;
}

const PORTED = new Set([6, 17, 132]);

/** Returns how many connections it cut (newly revoked). */
export function revalidateConntrack(
  maps: MapLookups,
  tables: readonly ConntrackTable[],
  current: DesiredState | null,
  addresses: ReadonlySet<string>,
): number {
  if (addresses.size === 0) return 0;
  let cut = 0;
  for (const table of tables) {
    for (const { key, value } of table.dump()) {
      const k = decodeCtKey(key);
      if (!addresses.has(k.saddr) && !addresses.has(k.daddr)) continue;
      const flow = { src: k.saddr, dst: k.daddr, protocol: k.protocol, port: PORTED.has(k.protocol) ? k.dport : 0 };
      const v = decodeCtValue(value);
      const revoked = !judge(maps, current, flow).allowed;
      if (revoked === ((v.flags & CT_F_REVOKED) !== 0)) continue;
      const flags = revoked ? v.flags | CT_F_REVOKED : v.flags & ~CT_F_REVOKED;
      // Gone meanwhile (the LRU dropped it, or the connection expired): nothing to cut.
      if (table.updateExisting(key, encodeCtValue({ ...v, flags })) && revoked) cut++;
    }
  }
  return cut;
}
