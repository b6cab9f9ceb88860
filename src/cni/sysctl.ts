// Kernel routing between pods needs forwarding on in the host namespace (as the
// reference ptp and bridge plugins do). Written only when not already set, so a
// host's explicit configuration is not rewritten on every ADD.
import { readFileSync, writeFileSync } from 'node:fs';

const FORWARDING: Record<4 | 6, string> = {
  4: '/proc/sys/net/ipv4/ip_forward',
  6: '/proc/sys/net/ipv6/conf/all/forwarding',
};

export function ensureForwarding(families: Iterable<4 | 6>): void {
  for (const f of new Set(families)) {
    const path = FORWARDING[f];
    if (readFileSync(path, 'utf8').trim() !== '1') writeFileSync(path, '1');
  }
}

/**
 * The host end needs a usable IPv6 link-local address at once: it is the source of
 * the neighbour solicitations that resolve the pod, and DAD would hold it back for
 * a second or more after ADD returns. Absent on hosts without IPv6: nothing to do.
 */
export function skipHostDad(ifname: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/accept_dad`, '0');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
