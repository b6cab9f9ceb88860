// Typed netlink for the rest of strait: strings for names, addresses and MACs,
// validated here (netlink-args.ts, addr-bytes.ts) and handed to the addon as bytes.
//
// A Netlink is bound to one network namespace for its whole life: the addon
// creates its socket on a throwaway thread inside that namespace (native/netns.h),
// so calls from the JS thread act there without any setns on our threads. Calls
// are synchronous; errors from the kernel are SyscallErrors (src/errors.ts, code
// E_NETLINK, or E_SYSCALL for entering the namespace) with `.errnoName` ('EEXIST',
// 'ENODEV', ...), `.errno` and `.syscall`, and bad arguments throw InvalidArgError
// (code ERR_INVALID_ARG).
import { fromAddon, syscall } from '../errors.js';
import { native, type NativeLink, type NativeNetlinkHandle } from './native.js';
import { formatIpBytes, formatMac, ipBytes, macBytes, prefixLen } from './addr-bytes.js';
import { InvalidArgError } from './invalid-arg.js';
import {
  addrGenModeName,
  alias as checkAlias,
  ifName,
  mtu as checkMtu,
  netnsPath as checkNetnsPath,
  routeFilter,
  routeSpec,
  scopeName,
  vxlanSpec,
  type AddrGenMode,
  type RouteArgs,
  type RouteFilter,
  type ScopeName,
  type VxlanArgs,
} from './netlink-args.js';

export { InvalidArgError } from './invalid-arg.js';
export type { AddrGenMode, RouteArgs, RouteFilter, VxlanArgs } from './netlink-args.js';

/** RTPROT_STATIC: what addRoute tags a route with unless told otherwise. */
export const RTPROT_STATIC = 4;

export interface LinkInfo {
  ifindex: number;
  name: string;
  /** aa:bb:cc:dd:ee:ff, lower case; '' for a link without a link-layer address */
  mac: string;
  mtu: number;
  /** administratively up (IFF_UP) */
  up: boolean;
  /** 'veth', 'bridge', ...; null for a physical device or loopback */
  kind: string | null;
  alias: string | null;
  /** IFF_NOARP: the link resolves no neighbours */
  noarp: boolean;
  /** how the kernel makes its IPv6 link-local address ('none': it makes none); null without IPv6 */
  ipv6AddrGenMode: AddrGenMode | number | null;
  /** for kind 'vxlan': what decides whether strait can adopt the device */
  vxlan: VxlanInfo | null;
}

export interface VxlanInfo {
  /** "external": the tunnel key (remote, VNI) comes with each packet, set by BPF */
  collectMetadata: boolean;
  learning: boolean;
  /** UDP destination port */
  port: number;
}

export interface AddressInfo {
  family: 4 | 6;
  address: string;
  prefixLen: number;
  /** the link that holds it */
  ifindex: number;
}

export interface RouteInfo {
  family: 4 | 6;
  /** null = default route */
  dst: string | null;
  prefixLen: number;
  gateway: string | null;
  ifindex: number;
  scope: ScopeName | number;
  table: number;
  /** RTPROT_*: 2 kernel (connected), 3 boot, 4 static (RTPROT_STATIC), or an owner's own */
  protocol: number;
}

export interface NeighborInfo {
  family: 4 | 6;
  address: string;
  mac: string | null;
  ifindex: number;
  permanent: boolean;
}

export interface VethOptions {
  /** the end created in this handle's namespace */
  name: string;
  /** the end created directly inside peerNetnsPath */
  peerName: string;
  peerNetnsPath: string;
  /** both ends; kernel default (1500) when absent */
  mtu?: number;
  /** IFLA_IFALIAS on the local end, e.g. to mark links strait owns */
  alias?: string;
  /** the peer's MAC address; the kernel picks a random one when absent */
  peerMac?: string;
}

export interface AddressArgs {
  address: string;
  prefixLen: number;
  /** IFA_F_NODAD: skip IPv6 duplicate address detection so the address works at once */
  noDad?: boolean;
}

export interface NeighborArgs {
  ifname: string;
  address: string;
  mac: string;
}

const linkInfo = (l: NativeLink): LinkInfo => ({
  ifindex: l.ifindex,
  name: l.name,
  mac: l.mac === null ? '' : formatMac(l.mac),
  mtu: l.mtu,
  up: l.up,
  kind: l.kind,
  alias: l.alias,
  noarp: l.noarp,
  ipv6AddrGenMode: addrGenModeName(l.addrGenMode),
  vxlan: l.vxlan === null ? null : { ...l.vxlan },
});

export class Netlink {
  private constructor(private readonly handle: NativeNetlinkHandle) {}

  /** A handle acting in the namespace at `netnsPath` (e.g. /var/run/netns/x); absent = this process's. */
  static open(netnsPath?: string): Netlink {
    const path = netnsPath === undefined ? undefined : checkNetnsPath(netnsPath);
    return new Netlink(syscall(() => native().openNetlink(path)));
  }

  /** open(netnsPath), entering the namespace off this thread (a thread start and a setns). */
  static async openAsync(netnsPath: string): Promise<Netlink> {
    const path = checkNetnsPath(netnsPath);
    try {
      return new Netlink(await native().openNetlinkAsync(path));
    } catch (e) {
      throw fromAddon(e);
    }
  }

  /** Closes the socket; later calls throw EBADF. Idempotent. */
  close(): void {
    syscall(() => this.handle.close());
  }

  /** A veth pair: `name` here, `peerName` inside peerNetnsPath. Both ends are left down. EEXIST if either name is taken. */
  createVeth(opts: VethOptions): void {
    const name = ifName(opts.name, 'name');
    const peerName = ifName(opts.peerName, 'peerName');
    const path = checkNetnsPath(opts.peerNetnsPath, 'peerNetnsPath');
    const m = opts.mtu === undefined ? 0 : checkMtu(opts.mtu);
    const a = opts.alias === undefined ? null : checkAlias(opts.alias);
    const mac = opts.peerMac === undefined ? null : macBytes(opts.peerMac, 'peerMac');
    syscall(() => this.handle.createVeth(name, peerName, path, m, a, mac));
  }

  /**
   * A collect_md ("external") VXLAN device listening on `port`: learning off, NOARP,
   * IPv6 address generation off (so it sends no RS, MLD or DAD of its own), then up.
   * EEXIST when the name is taken or another collect_md device has the port; a failure
   * after the device was made deletes it again. Adopting an existing one is the caller's.
   */
  createVxlan(v: VxlanArgs): void {
    const spec = vxlanSpec(v);
    syscall(() => this.handle.createVxlan(spec));
  }

  /** null when there is no such link; other errors throw. */
  getLink(name: string): LinkInfo | null {
    const l = syscall(() => this.handle.getLink(ifName(name)));
    return l === null ? null : linkInfo(l);
  }

  listLinks(): LinkInfo[] {
    return syscall(() => this.handle.listLinks()).map(linkInfo);
  }

  setLinkUp(name: string): void {
    syscall(() => this.handle.setLinkUp(ifName(name)));
  }

  setLinkMtu(name: string, mtu: number): void {
    const n = ifName(name);
    const m = checkMtu(mtu);
    syscall(() => this.handle.setLinkMtu(n, m));
  }

  /** true when deleted, false when it was already gone. */
  deleteLink(name: string): boolean {
    return syscall(() => this.handle.deleteLink(ifName(name)));
  }

  /**
   * deleteLink without holding this thread through the kernel's teardown: the
   * request runs on another thread, and this resolves once the link has left the
   * namespace (polled through this handle, which must act in the process's own
   * namespace). Every later link, address or route change takes the RTNL lock after
   * the delete's, so nothing can meet the old device. The kernel's answer, 20-30 ms
   * on, settles in the background; its failure, if any, is passed to `onLateError`.
   */
  async deleteLinkEarly(name: string, onLateError: (err: Error) => void): Promise<boolean> {
    const n = ifName(name);
    if (this.getLink(n) === null) return false;
    const state: { done: boolean; ok: boolean; err: Error | null; early: boolean } = { done: false, ok: false, err: null, early: false };
    void native()
      .deleteLinkAsync(n)
      .then(
        (ok) => (state.ok = ok),
        (e: unknown) => (state.err = fromAddon(e) as Error),
      )
      .finally(() => {
        state.done = true;
        if (state.early && state.err !== null) onLateError(state.err);
      });
    for (;;) {
      await new Promise((r) => setTimeout(r, 1));
      if (state.done) {
        if (state.err !== null) throw state.err;
        return state.ok;
      }
      if (this.getLink(n) === null) {
        state.early = true;
        return true;
      }
    }
  }

  /** The family follows the address. EEXIST when already present. */
  addAddress(ifname: string, a: AddressArgs): void {
    const ip = ipBytes(a.address);
    const len = prefixLen(a.prefixLen, ip.family);
    if (a.noDad !== undefined && typeof a.noDad !== 'boolean')
      throw new InvalidArgError(`noDad must be a boolean: ${JSON.stringify(a.noDad)}`);
    syscall(() => this.handle.addAddress(ifName(ifname), ip.bytes, len, a.noDad ?? false));
  }

  /**
   * All IPv4 and IPv6 addresses of `ifname`, or of every link when absent; IPv6
   * link-local ones included (callers filter).
   */
  listAddresses(ifname?: string): AddressInfo[] {
    const name = ifname === undefined ? null : ifName(ifname);
    return syscall(() => this.handle.listAddresses(name)).map((a) => ({
      family: a.family,
      address: formatIpBytes(a.address),
      prefixLen: a.prefixLen,
      ifindex: a.ifindex,
    }));
  }

  /** The link holding `address` (a node's uplink holds its InternalIP); null when none does. */
  linkWithAddress(address: string): LinkInfo | null {
    const want = formatIpBytes(ipBytes(address).bytes);
    const held = this.listAddresses().find((a) => a.address === want);
    if (held === undefined) return null;
    return this.listLinks().find((l) => l.ifindex === held.ifindex) ?? null;
  }

  /** Main table; protocol static unless `protocol` says otherwise. EEXIST when an equal route exists. */
  addRoute(r: RouteArgs): void {
    const spec = routeSpec(r);
    syscall(() => this.handle.addRoute(spec, false));
  }

  /**
   * Adds, or replaces the route of the same destination (and metric) in place, so
   * there is no moment without one: a node whose address changed. It replaces that
   * route whatever its protocol: a caller that must leave foreign routes alone checks
   * listRoutes first.
   */
  replaceRoute(r: RouteArgs): void {
    const spec = routeSpec(r);
    syscall(() => this.handle.addRoute(spec, true));
  }

  /** false when there was no such route (or no such interface). With `protocol`, only a route of it matches. */
  deleteRoute(r: RouteArgs): boolean {
    const spec = routeSpec(r);
    return syscall(() => this.handle.deleteRoute(spec));
  }

  /** Unicast routes of the main table; `filter`: only those out of one interface and/or of one protocol. */
  listRoutes(family: 4 | 6, filter?: string | RouteFilter): RouteInfo[] {
    if (family !== 4 && family !== 6) throw new InvalidArgError(`family must be 4 or 6: ${JSON.stringify(family)}`);
    const f = routeFilter(filter);
    return syscall(() => this.handle.listRoutes(family, f.ifname, f.protocol)).map((r) => ({
      family: r.family,
      dst: r.dst === null ? null : formatIpBytes(r.dst),
      prefixLen: r.prefixLen,
      gateway: r.gateway === null ? null : formatIpBytes(r.gateway),
      ifindex: r.ifindex,
      scope: scopeName(r.scope),
      table: r.table,
      protocol: r.protocol,
    }));
  }

  /** NUD_PERMANENT entry, replacing any existing one for that address. */
  addNeighbor(n: NeighborArgs): void {
    syscall(() => this.handle.addNeighbor(ifName(n.ifname), ipBytes(n.address).bytes, macBytes(n.mac)));
  }

  listNeighbors(ifname: string): NeighborInfo[] {
    return syscall(() => this.handle.listNeighbors(ifName(ifname))).map((n) => ({
      family: n.family,
      address: formatIpBytes(n.address),
      mac: n.mac === null ? null : formatMac(n.mac),
      ifindex: n.ifindex,
      permanent: n.permanent,
    }));
  }
}
