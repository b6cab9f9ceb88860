// The node network's effects on the real node (NodeNetworkEffects): netlink in the
// agent's namespace and the pinned strait_config_v1 / strait_remote_v1. One small
// function per effect, so each can be replaced on its own. Four need what this
// build's addon and objects do not have yet, and say so when called (the node
// network reports it as a failed step and retries): routes with a protocol
// (listRoutes/addRoute/deleteRoute), the collect_md VXLAN device (ensureTunnel),
// from_uplink (attachUplink) and the nftables table (applyMasquerade).
import { join } from 'node:path';
import * as bpf from '../datapath/bpf.js';
import { StraitError } from '../errors.js';
import { decodeCidrKey, encodeCidrKey } from '../datapath/maps/cidr.js';
import { CONFIG_KEY, type ConfigValue, decodeConfigValue, encodeConfigValue } from '../datapath/maps/config.js';
import { MapName } from '../datapath/maps/names.js';
import { decodeRemoteValue, encodeRemoteValue } from '../datapath/maps/remote.js';
import { Netlink } from '../datapath/netlink.js';
import { isStraitAlias } from '../state/host-veth.js';
import { VXLAN_DEVICE, type MasqueradeInput, type StraitRoute } from '../cluster/nodes.js';
import type { NodeNetworkEffects, TunnelSpec, Uplink } from './node-network.js';

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

/** The node network reports it as "<step> failed: <this>". */
const notInThisBuild = (needs: string): never => {
  throw new StraitError('E_NETLINK', `needs ${needs}, which this build does not have yet`);
};

export function findUplink(addresses: readonly string[], name: string | null, netnsPath?: string): Uplink | null {
  return withNetlink((nl) => {
    const pick = (l: { name: string; ifindex: number; mtu: number }): Uplink => ({ name: l.name, ifindex: l.ifindex, mtu: l.mtu });
    if (name !== null) {
      const l = nl.getLink(name);
      return l === null ? null : pick(l);
    }
    for (const l of nl.listLinks()) {
      if (isStraitAlias(l.alias)) continue; // a pod's veth never holds the node's address
      if (nl.listAddresses(l.name).some((a) => addresses.includes(a.address))) return pick(l);
    }
    return null;
  }, netnsPath);
}

export const listRoutes = (): StraitRoute[] => notInThisBuild('the addon reporting a route protocol');
export const addRoute = (_r: StraitRoute): void => notInThisBuild('the addon setting a route protocol');
export const deleteRoute = (_r: StraitRoute): void => notInThisBuild('the addon setting a route protocol');
export const ensureTunnel = (_spec: TunnelSpec): number => notInThisBuild("the addon's collect_md VXLAN device");
export const removeTunnel = (): boolean => withNetlink((nl) => nl.deleteLink(VXLAN_DEVICE));
export const attachUplink = (_ifindex: number): void => notInThisBuild('the from_uplink object');
export const applyMasquerade = (m: MasqueradeInput | null): void => {
  if (m === null) return; // no table was ever made by this build
  notInThisBuild('the nftables module');
};

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

export function nodeNetworkEffects(bpfDir: string): NodeNetworkEffects {
  return {
    findUplink: (addresses, name) => findUplink(addresses, name),
    listRoutes,
    addRoute,
    deleteRoute,
    ensureTunnel,
    removeTunnel,
    attachUplink,
    readConfig: () => readConfig(bpfDir),
    writeConfig: (c) => writeConfig(bpfDir, c),
    listRemote: () => listRemote(bpfDir),
    setRemote: (cidr, ip) => setRemote(bpfDir, cidr, ip),
    deleteRemote: (cidr) => deleteRemote(bpfDir, cidr),
    applyMasquerade,
  };
}
