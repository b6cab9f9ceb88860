// What an established connection does when a policy stops allowing it: it is cut.
// After a plan changes an endpoint's policy, every conntrack entry (answered or
// pending) that involves one of the changed endpoints is judged again as a new
// connection would be. The ones now denied are marked CT_F_REVOKED rather than
// deleted: the datapath drops their packets both ways, where a deleted entry would
// be recreated by the next mid-stream packet whenever policy allows the reverse
// direction (bpf/include/policy.h). An entry allowed again loses the mark.
// Replies and established flows that are still allowed keep their entries.
import * as bpf from '../datapath/bpf.js';
import { errnoOf } from '../errors.js';
import { CT_F_REVOKED, decodeCtKey, decodeCtValue, encodeCtValue } from '../datapath/maps/ct.js';
import type { DesiredState } from '../policy/types.js';
import type { DatapathWriter } from './datapath-writer.js';
import { judge } from './explain.js';

const PORTED = new Set([6, 17, 132]);

/** Returns how many connections it cut (newly revoked). */
export function revalidateConntrack(maps: DatapathWriter, current: DesiredState | null, addresses: ReadonlySet<string>): number {
  if (addresses.size === 0) return 0;
  let cut = 0;
  for (const fd of maps.ctFds) {
    for (const { key, value } of bpf.mapDump(fd)) {
      const k = decodeCtKey(key);
      if (!addresses.has(k.saddr) && !addresses.has(k.daddr)) continue;
      const flow = { src: k.saddr, dst: k.daddr, protocol: k.protocol, port: PORTED.has(k.protocol) ? k.dport : 0 };
      const v = decodeCtValue(value);
      const revoked = !judge(maps, current, flow).allowed;
      if (revoked === ((v.flags & CT_F_REVOKED) !== 0)) continue;
      const flags = revoked ? v.flags | CT_F_REVOKED : v.flags & ~CT_F_REVOKED;
      try {
        bpf.mapUpdate(fd, key, encodeCtValue({ ...v, flags }), 'exist');
      } catch (err) {
        // The LRU dropped it, or the connection expired meanwhile: nothing to cut.
        if (errnoOf(err) !== 'ENOENT') throw err;
        continue;
      }
      if (revoked) cut++;
    }
  }
  return cut;
}
