// CHECK: the attachment described by prevResult must still be there in full. Each
// missing piece is named, so an operator knows what drifted.
import { Netlink } from '../datapath/netlink.js';
import { ownerOf, type CommandContext } from './context.js';
import { errors } from '../errors.js';
import { ipamDriver } from './ipam-driver.js';
import { withoutPrefix } from '../ipam/addr.js';
import { openPodNetns } from './netns.js';
import { bitsOf, ipFamily } from '../ipam/addr.js';
import { hostVethName } from '../state/host-veth.js';
import { GATEWAY } from './wiring.js';
import * as bpf from '../datapath/bpf.js';
import { listEndpoints } from '../datapath/endpoints.js';
import { withDatapath } from './fastpath.js';

export async function cmdCheck(ctx: CommandContext): Promise<void> {
  const prev = ctx.conf.prevResult;
  if (prev === null) throw errors.config('CHECK needs prevResult in the config');
  const owner = ownerOf(ctx);
  const netnsPath = ctx.env.netns ?? '';
  const podIdx = (prev.interfaces ?? []).findIndex((i) => i.name === owner.ifname && i.sandbox !== undefined);
  if (podIdx === -1) throw errors.checkFailed(`prevResult has no interface ${owner.ifname} in a sandbox`);
  const ips = (prev.ips ?? []).filter((i) => i.interface === podIdx).map((i) => withoutPrefix(i.address));
  if (ips.length === 0) throw errors.checkFailed(`prevResult has no address on ${owner.ifname}`);

  const pod = openPodNetns(netnsPath);
  const host = Netlink.open();
  try {
    const podLink = pod.getLink(owner.ifname);
    if (podLink === null) throw errors.checkFailed(`interface ${owner.ifname} is missing in ${netnsPath}`);
    const expectedMac = prev.interfaces?.[podIdx]?.mac;
    if (expectedMac !== undefined && expectedMac.toLowerCase() !== podLink.mac) {
      throw errors.checkFailed(`interface ${owner.ifname} has MAC ${podLink.mac}, expected ${expectedMac}`);
    }
    const have = new Set(pod.listAddresses(owner.ifname).map((a) => a.address));
    for (const ip of ips) {
      if (!have.has(ip)) throw errors.checkFailed(`address ${ip} is missing on ${owner.ifname} in ${netnsPath}`);
    }
    for (const family of new Set(ips.map(ipFamily))) {
      const defaults = pod.listRoutes(family, owner.ifname).filter((r) => r.dst === null && r.gateway === GATEWAY[family]);
      if (defaults.length === 0) {
        throw errors.checkFailed(`default route via ${GATEWAY[family]} is missing on ${owner.ifname} in ${netnsPath}`);
      }
    }
    const hostName = hostVethName(owner);
    const hostLink = host.getLink(hostName);
    if (hostLink === null) throw errors.checkFailed(`host interface ${hostName} is missing`);
    for (const ip of ips) {
      const family = ipFamily(ip);
      const found = host
        .listRoutes(family, hostName)
        .some((r) => r.dst === ip && r.prefixLen === bitsOf(family));
      if (!found) throw errors.checkFailed(`host route to ${ip} via ${hostName} is missing`);
    }
    checkFastPath(ctx, hostName, hostLink.ifindex, ips);
  } finally {
    pod.close();
    host.close();
  }
  const ipam = await ipamDriver(ctx);
  ipam.check(owner, ips);
}

/** The current build's programs on both directions of the veth, and one ready map entry per address. */
function checkFastPath(ctx: CommandContext, hostName: string, ifindex: number, ips: string[]): void {
  withDatapath(ctx.conf, (dp) => {
    for (const [direction, fd] of [['ingress', dp.programs.fromPod], ['egress', dp.programs.toPod]] as const) {
      const attached = bpf.tcQuery(ifindex, direction);
      if (attached === null) throw errors.checkFailed(`no BPF program on tc ${direction} of ${hostName}`);
      const want = bpf.progInfo(fd).id;
      if (attached.progId !== want) {
        throw errors.checkFailed(`tc ${direction} of ${hostName} runs program ${attached.progId}, not the current ${want}`);
      }
    }
    const entries = listEndpoints(dp.maps.endpoints);
    for (const ip of ips) {
      const e = entries.find((x) => x.ip === ip);
      if (e === undefined) throw errors.checkFailed(`endpoint map has no entry for ${ip}`);
      if (e.ifindex !== ifindex) throw errors.checkFailed(`endpoint map sends ${ip} to ifindex ${e.ifindex}, not ${hostName} (${ifindex})`);
    }
  });
}
