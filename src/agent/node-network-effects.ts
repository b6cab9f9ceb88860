// The node network's effects on the real node (NodeNetworkEffects): netlink in the
// agent's namespace (routes tagged with protocol 200, the collect_md VXLAN device,
// the uplink), from_uplink on the uplink, the pinned strait_config_v1 /
// strait_remote_v1, and the nftables masquerade table. One small function per
// effect, so each can be replaced on its own; failures throw, and the node network
// reports them as a failed step and retries.
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { StraitError } from '../errors.js';
import { decodeCidrKey, encodeCidrKey } from '../datapath/maps/cidr.js';
import { CONFIG_KEY, type ConfigValue, decodeConfigValue, encodeConfigValue } from '../datapath/maps/config.js';
import { MapName } from '../datapath/maps/names.js';
import { decodeRemoteValue, encodeRemoteValue } from '../datapath/maps/remote.js';
import { openDatapath, type ProgKey } from '../datapath/loader.js';
import { Netlink, type LinkInfo } from '../datapath/netlink.js';
import type { RouteArgs } from '../datapath/netlink-args.js';
import { isStraitAlias } from '../state/host-veth.js';
import { VXLAN_DEVICE, type MasqueradeInput, type StraitRoute } from '../cluster/nodes.js';
import { applyMasquerade as applyMasqueradeTable } from './masquerade.js';
import { STRAIT_ROUTE_PROTOCOL, type NodeNetworkEffects, type TunnelSpec, type Uplink } from './node-network.js';

/** netnsPath: the agent's own namespace when absent (tests pass one). */
function withNetlink<T>(fn: (nl: Netlink) => T, netnsPath?: string): T {
  const nl = Netlink.open(netnsPath);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

/** A pinned map, opened for one operation. */
function withMap<T>(bpfDir: string, name: string, fn: (fd: number) => T): T {
  const fd = bpf.getPinned(join(bpfDir, name));
  if (fd === null) throw new StraitError('E_BPF_MAP', `pinned map ${name} is missing in ${bpfDir}`);
  try {
    return fn(fd);
  } finally {
    bpf.closeFd(fd);
  }
}

export function findUplink(addresses: readonly string[], name: string | null, netnsPath?: string): Uplink | null {
  return withNetlink((nl) => {
    const pick = (l: { name: string; ifindex: number; mtu: number }): Uplink => ({ name: l.name, ifindex: l.ifindex, mtu: l.mtu });
    if (name !== null) {
      const l = nl.getLink(name);
      return l === null ? null : pick(l);
    }
    // One dump of every link's addresses, not one per link (a node has a veth per pod).
    const holders = new Set(nl.listAddresses().filter((a) => addresses.includes(a.address)).map((a) => a.ifindex));
    // A pod's veth never holds the node's address.
    const l = nl.listLinks().find((x) => holders.has(x.ifindex) && !isStraitAlias(x.alias));
    return l === undefined ? null : pick(l);
  }, netnsPath);
}

/** strait's routes (protocol 200) of both families, with the name of the device each leaves by. */
export function listRoutes(netnsPath?: string): StraitRoute[] {
  return withNetlink((nl) => {
    const names = new Map(nl.listLinks().map((l) => [l.ifindex, l.name]));
    return ([4, 6] as const).flatMap((family) =>
      nl
        .listRoutes(family, { protocol: STRAIT_ROUTE_PROTOCOL })
        .filter((r) => r.dst !== null && names.has(r.ifindex))
        .map((r) => ({ dst: `${r.dst!}/${r.prefixLen}`, gateway: r.gateway, dev: names.get(r.ifindex)! })),
    );
  }, netnsPath);
}

function routeArgs(r: StraitRoute): RouteArgs {
  const slash = r.dst.indexOf('/');
  return {
    dst: r.dst.slice(0, slash),
    prefixLen: Number(r.dst.slice(slash + 1)),
    ...(r.gateway === null ? {} : { gateway: r.gateway }),
    ifname: r.dev,
    protocol: STRAIT_ROUTE_PROTOCOL,
  };
}

export const addRoute = (r: StraitRoute, netnsPath?: string): void => withNetlink((nl) => nl.addRoute(routeArgs(r)), netnsPath);
export const deleteRoute = (r: StraitRoute, netnsPath?: string): void => void withNetlink((nl) => nl.deleteRoute(routeArgs(r)), netnsPath);

/** A device strait can keep: collect_md, no learning, its port, no ARP, no IPv6 link-local address. */
const tunnelFits = (l: LinkInfo, spec: TunnelSpec): boolean =>
  l.kind === 'vxlan' && l.vxlan !== null && l.vxlan.collectMetadata && !l.vxlan.learning && l.vxlan.port === spec.port && l.noarp && (l.ipv6AddrGenMode === 'none' || l.ipv6AddrGenMode === null);

/** The collect_md VXLAN device: adopted when it fits, its MTU corrected; else (re)made. Its ifindex. */
export function ensureTunnel(spec: TunnelSpec, netnsPath?: string): number {
  return withNetlink((nl) => {
    const have = nl.getLink(spec.name);
    if (have !== null && tunnelFits(have, spec)) {
      if (have.mtu !== spec.mtu) nl.setLinkMtu(spec.name, spec.mtu);
      if (!have.up) nl.setLinkUp(spec.name);
      return have.ifindex;
    }
    if (have !== null) nl.deleteLink(spec.name); // another port, learning, or not ours at all under our name
    nl.createVxlan({ name: spec.name, port: spec.port, mtu: spec.mtu });
    const made = nl.getLink(spec.name);
    if (made === null) throw new StraitError('E_NETLINK', `${spec.name} vanished right after it was created`);
    return made.ifindex;
  }, netnsPath);
}

export const removeTunnel = (): boolean => withNetlink((nl) => nl.deleteLink(VXLAN_DEVICE));

/**
 * This build's programs (a tc hook each) on ifindex, replacing what strait had there;
 * a hook that already runs the program is left alone, so every pass may ask.
 */
function attachPrograms(bpfDir: string, stateDir: string, ifindex: number, hooks: readonly ['ingress' | 'egress', ProgKey][]): void {
  const dp = openDatapath({ bpfDir, stateDir });
  try {
    for (const [direction, prog] of hooks) {
      const fd = dp.programs[prog];
      if (bpf.tcQuery(ifindex, direction)?.progId === bpf.progInfo(fd).id) continue;
      bpf.tcAttach(ifindex, direction, fd, { replace: true });
    }
  } finally {
    dp.close();
  }
}

/** from_uplink on the uplink's tc ingress. */
export const attachUplink = (bpfDir: string, stateDir: string, ifindex: number): void => attachPrograms(bpfDir, stateDir, ifindex, [['ingress', 'fromUplink']]);

/** The device, and on it from_tunnel (ingress: what arrives) and to_tunnel (egress: what the host sends). */
export function ensureTunnelWithPrograms(bpfDir: string, stateDir: string, spec: TunnelSpec): number {
  const ifindex = ensureTunnel(spec);
  attachPrograms(bpfDir, stateDir, ifindex, [
    ['ingress', 'fromTunnel'],
    ['egress', 'toTunnel'],
  ]);
  return ifindex;
}

/** `table inet strait` (nft, in the agent's namespace); null removes it. */
export async function applyMasquerade(m: MasqueradeInput | null): Promise<void> {
  await applyMasqueradeTable(m === null ? { podCidrs: [], clusterCidrs: [], enabled: false } : { podCidrs: m.podCIDRs, clusterCidrs: m.clusterCIDRs, enabled: true });
}

export function readConfig(bpfDir: string): ConfigValue | null {
  return withMap(bpfDir, MapName.config, (fd) => {
    const buf = bpf.mapLookup(fd, CONFIG_KEY);
    return buf === null ? null : decodeConfigValue(buf);
  });
}

export function writeConfig(bpfDir: string, c: ConfigValue): void {
  withMap(bpfDir, MapName.config, (fd) => bpf.mapUpdate(fd, CONFIG_KEY, encodeConfigValue(c)));
}

export function listRemote(bpfDir: string): Map<string, string> {
  return withMap(bpfDir, MapName.remote, (fd) => new Map(bpf.mapDump(fd).map(({ key, value }) => [decodeCidrKey(key), decodeRemoteValue(value).nodeIp])));
}

export function setRemote(bpfDir: string, cidr: string, nodeIp: string): void {
  withMap(bpfDir, MapName.remote, (fd) => bpf.mapUpdate(fd, encodeCidrKey(cidr), encodeRemoteValue({ nodeIp })));
}

export function deleteRemote(bpfDir: string, cidr: string): void {
  withMap(bpfDir, MapName.remote, (fd) => bpf.mapDelete(fd, encodeCidrKey(cidr)));
}

export function nodeNetworkEffects(bpfDir: string, stateDir: string): NodeNetworkEffects {
  return {
    findUplink: (addresses, name) => findUplink(addresses, name),
    listRoutes: () => listRoutes(),
    addRoute: (r) => addRoute(r),
    deleteRoute: (r) => deleteRoute(r),
    ensureTunnel: (spec) => ensureTunnelWithPrograms(bpfDir, stateDir, spec),
    removeTunnel,
    attachUplink: (ifindex) => attachUplink(bpfDir, stateDir, ifindex),
    readConfig: () => readConfig(bpfDir),
    writeConfig: (c) => writeConfig(bpfDir, c),
    listRemote: () => listRemote(bpfDir),
    setRemote: (cidr, ip) => setRemote(bpfDir, cidr, ip),
    deleteRemote: (cidr) => deleteRemote(bpfDir, cidr),
    applyMasquerade,
  };
}
