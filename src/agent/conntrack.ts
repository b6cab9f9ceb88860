// What an established connection does when a policy stops allowing it: it is cut.
// After a plan changes an endpoint's policy, every conntrack entry that involves one
// of the changed endpoints is judged again as a new connection would be, and the
// ones now denied are deleted, so their next packet faces policy (and is dropped).
// Replies and established flows that are still allowed keep their entries.
import * as bpf from '../datapath/bpf.js';
import { decodeCtKey } from '../datapath/maps/ct.js';
import type { DesiredState } from '../policy/types.js';
import type { DatapathWriter } from './datapath-writer.js';
import { judge } from './explain.js';

const PORTED = new Set([6, 17, 132]);

export function revalidateConntrack(maps: DatapathWriter, current: DesiredState | null, addresses: ReadonlySet<string>): number {
  if (addresses.size === 0) return 0;
  let cut = 0;
  for (const { key } of bpf.mapDump(maps.ctFd)) {
    const k = decodeCtKey(key);
    if (!addresses.has(k.saddr) && !addresses.has(k.daddr)) continue;
    const flow = { src: k.saddr, dst: k.daddr, protocol: k.protocol, port: PORTED.has(k.protocol) ? k.dport : 0 };
    if (!judge(maps, current, flow).allowed && bpf.mapDelete(maps.ctFd, key)) cut++;
  }
  return cut;
}
