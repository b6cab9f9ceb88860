// Kernel routing between pods needs forwarding on in the host namespace (as the
// reference ptp and bridge plugins do). Written only when not already set, so a
// host's explicit configuration is not rewritten on every ADD.
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Where the host's sysctls are: /proc/sys, or STRAIT_PROC_SYS for an agent in a
 * container, where the runtime mounts /proc/sys read-only unless it is privileged
 * (the DaemonSet mounts the host's /proc/sys/net at /host/proc/sys/net instead, as
 * Cilium's --procfs does). The files act on the writer's network namespace, the
 * host's under hostNetwork, whichever mount they are reached through.
 */
const procSys = (): string => process.env.STRAIT_PROC_SYS || '/proc/sys';

const FORWARDING: Record<4 | 6, string> = {
  4: 'net/ipv4/ip_forward',
  6: 'net/ipv6/conf/all/forwarding',
};

export function ensureForwarding(families: Iterable<4 | 6>): void {
  for (const f of new Set(families)) {
    const path = `${procSys()}/${FORWARDING[f]}`;
    if (readFileSync(path, 'utf8').trim() !== '1') writeFileSync(path, '1');
  }
}

/**
 * The host end of a pod's veth is a router's port facing one untrusted host, and
 * gets a router's settings:
 * - IPv6 accept_dad=0: it needs a usable link-local address at once, the source of
 *   the neighbour solicitations that resolve the pod; DAD would hold it back for a
 *   second or more after ADD returns.
 * - IPv6 accept_ra=0, autoconf=0, accept_redirects=0: a pod must never install a
 *   default route, an address or a redirected route on its node (CVE-2020-10749).
 *   The kernel ignores RAs and Redirects anyway while IPv6 forwarding is on, but
 *   an IPv4-only network leaves it off. from_pod drops both as well.
 * - IPv4 accept_redirects=0: the same for ICMP redirects. With forwarding on (ADD
 *   turns it on) the kernel takes this device's setting and conf/all's together,
 *   so 0 here is enough. send_redirects is ORed with conf/all instead: a per-device
 *   0 would change nothing on a default node, and redirects from the node to a pod
 *   harm nobody, so it is left alone.
 * The IPv6 files are absent on hosts without IPv6: nothing to do there.
 */
const HOST_VETH_SYSCTLS: readonly { family: 4 | 6; key: string; value: string }[] = [
  { family: 6, key: 'accept_dad', value: '0' },
  { family: 6, key: 'accept_ra', value: '0' },
  { family: 6, key: 'autoconf', value: '0' },
  { family: 6, key: 'accept_redirects', value: '0' },
  { family: 4, key: 'accept_redirects', value: '0' },
];

export function hardenHostVeth(ifname: string): void {
  for (const s of HOST_VETH_SYSCTLS) {
    try {
      writeFileSync(`${procSys()}/net/ipv${s.family}/conf/${ifname}/${s.key}`, s.value);
    } catch (err) {
      if (s.family === 4 || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
