// The one place that loads strait.node (the C++ addon in native/). Everything else
// reaches the addon through the typed binding below, so its shape is declared once
// and no `any` leaks into the rest of the code.
//
// Loading is lazy: commands that never touch the datapath (VERSION, a config error)
// do not pay for dlopen'ing libnl and libbpf, and do not fail when the addon is
// missing.
import { createRequire } from 'node:module';

import { StraitError } from '../errors.js';

/** A link as the addon reports it; `mac` is the raw link-layer address. */
export interface NativeLink {
  ifindex: number;
  name: string;
  mac: Uint8Array | null;
  mtu: number;
  up: boolean;
  kind: string | null;
  alias: string | null;
  /** IFF_NOARP */
  noarp: boolean;
  /** IN6_ADDR_GEN_MODE_* number; null when the link has no IPv6 state */
  addrGenMode: number | null;
  /** set for kind 'vxlan' */
  vxlan: NativeVxlanInfo | null;
}

export interface NativeVxlanInfo {
  /** IFLA_VXLAN_COLLECT_METADATA ("external"): the tunnel key comes with each packet */
  collectMetadata: boolean;
  learning: boolean;
  /** UDP destination port, host order */
  port: number;
}

/** A collect_md VXLAN device to create (native/netlink_vxlan.cc). */
export interface NativeVxlanSpec {
  name: string;
  port: number;
  mtu: number;
}

export interface NativeAddress {
  family: 4 | 6;
  address: Uint8Array;
  prefixLen: number;
  ifindex: number;
}

/** A route to add or delete. `dst` null is the default route; `scope` null lets libnl pick. */
export interface NativeRouteSpec {
  family: 4 | 6;
  dst: Uint8Array | null;
  prefixLen: number;
  gateway: Uint8Array | null;
  ifname: string;
  scope: number | null;
  onlink: boolean;
  /** RTPROT_*; null: static (4) on add, any on delete */
  protocol: number | null;
}

export interface NativeRoute {
  family: 4 | 6;
  dst: Uint8Array | null;
  prefixLen: number;
  gateway: Uint8Array | null;
  ifindex: number;
  /** RT_SCOPE_* number: 0 universe, 253 link, 254 host */
  scope: number;
  table: number;
  /** RTPROT_* number: 2 kernel, 3 boot, 4 static, ... */
  protocol: number;
}

export interface NativeNeighbor {
  family: 4 | 6;
  address: Uint8Array;
  mac: Uint8Array | null;
  ifindex: number;
  permanent: boolean;
}

/**
 * A NETLINK_ROUTE socket bound to one network namespace (native/netlink.h). Every
 * method is synchronous and throws an AddonError (src/errors.ts: `.code` errno name,
 * `.errno`, `.syscall`) on failure, which netlink.ts rethrows as a SyscallError.
 */
export interface NativeNetlinkHandle {
  close(): void;
  /** mtu 0 = kernel default; alias null = none. */
  createVeth(
    name: string,
    peerName: string,
    peerNetnsPath: string,
    mtu: number,
    alias: string | null,
    peerMac: Uint8Array | null,
  ): void;
  /** Created down, configured, then up; deleted again if a later step fails. */
  createVxlan(spec: NativeVxlanSpec): void;
  getLink(name: string): NativeLink | null;
  listLinks(): NativeLink[];
  setLinkUp(name: string): void;
  setLinkMtu(name: string, mtu: number): void;
  deleteLink(name: string): boolean;
  addAddress(ifname: string, address: Uint8Array, prefixLen: number, noDad: boolean): void;
  /** ifname null: every link's */
  listAddresses(ifname: string | null): NativeAddress[];
  /** replace: NLM_F_REPLACE instead of NLM_F_EXCL */
  addRoute(route: NativeRouteSpec, replace: boolean): void;
  deleteRoute(route: NativeRouteSpec): boolean;
  listRoutes(family: 4 | 6, ifname: string | null, protocol: number | null): NativeRoute[];
  addNeighbor(ifname: string, address: Uint8Array, mac: Uint8Array): void;
  listNeighbors(ifname: string): NativeNeighbor[];
}

/** A loaded bpf_object (native/bpf_object.cc): its fds stay valid until close(). */
export interface NativeBpfObject {
  programs: Record<string, number>;
  maps: Record<string, number>;
  /** bpf_object__close; idempotent. Never done implicitly on garbage collection. */
  close(): void;
}

export interface NativeMapInfo {
  id: number;
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  /**
   * Bytes one lookup or update moves: valueSize, or for per-CPU maps one slot per
   * possible CPU, each rounded up to 8 bytes. Computed by the addon alone (it sizes
   * its buffers by it), so no TypeScript repeats the rule.
   */
  valueLength: number;
  maxEntries: number;
  flags: number;
}

export interface NativeProgInfo {
  id: number;
  name: string;
  /** 8 bytes */
  tag: Uint8Array;
  type: number;
}

export interface NativeTestRun {
  retval: number;
  data: Uint8Array;
  durationNs: number;
  ctx: Uint8Array | null;
}

/** Offsets into struct __sk_buff from the <linux/bpf.h> the addon was built with. */
export interface NativeSkbLayout {
  size: number;
  mark: number;
  priority: number;
  ingressIfindex: number;
  ifindex: number;
  cb: number;
  tstamp: number;
  wireLen: number;
}

/** A reader of a BPF ring buffer map (native/bpf_ring.cc): never blocks. */
export interface NativeRingReader {
  /** Every record written so far, up to maxBytes of them: those of the reader's record size back to back, and how many of another size were passed over. */
  consume(maxBytes: number): { bytes: Uint8Array; skipped: number };
  close(): void;
}

export interface NativeBinding {
  /** Absent path: the calling process's namespace. Throws code ENOENT / ENOTNETNS for bad paths. */
  openNetlink(netnsPath?: string): NativeNetlinkHandle;
  /** openNetlink(netnsPath) with the namespace entered off the JS thread; rejects as openNetlink throws. */
  openNetlinkAsync(netnsPath: string): Promise<NativeNetlinkHandle>;
  /** RTM_DELLINK in this process's namespace on libuv's pool: true deleted, false there was none. */
  deleteLinkAsync(name: string): Promise<boolean>;
  /** flock(2); false only when !wait and the lock is held elsewhere. */
  flock(fd: number, mode: 'exclusive' | 'shared' | 'unlock', wait: boolean): boolean;

  // libbpf (native/bpf_*.cc); src/datapath/bpf.ts is the typed, validating wrapper.
  bpfLoadObject(path: string, pinRoot: string, maxEntries?: Record<string, number>): NativeBpfObject;
  bpfPin(fd: number, path: string): void;
  bpfGetPinned(path: string): number | null;
  bpfCloseFd(fd: number): void;
  bpfDupFd(fd: number): number;
  /** BPF_MAP_TYPE_* numbers whose values hold one slot per possible CPU. */
  bpfMapInfo(fd: number): NativeMapInfo;
  bpfNumPossibleCpus(): number;
  bpfMapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: 'any' | 'noexist' | 'exist'): void;
  bpfMapLookup(fd: number, key: Uint8Array): Uint8Array | null;
  bpfMapDelete(fd: number, key: Uint8Array): boolean;
  bpfMapDeleteMany(fd: number, keys: Uint8Array): number;
  bpfMapKeys(fd: number): Uint8Array[];
  bpfMapDump(fd: number): { key: Uint8Array; value: Uint8Array }[];
  bpfTcAttach(
    ifindex: number,
    direction: 'ingress' | 'egress',
    progFd: number,
    handle: number,
    priority: number,
    replace: boolean,
  ): void;
  bpfTcDetach(ifindex: number, direction: 'ingress' | 'egress', handle: number, priority: number): boolean;
  bpfTcQuery(ifindex: number, direction: 'ingress' | 'egress', handle: number, priority: number): number | null;
  bpfXdpAttach(ifindex: number, progFd: number, mode: 'skb' | 'native' | 'auto', replace: boolean): void;
  bpfXdpDetach(ifindex: number): void;
  bpfXdpQuery(ifindex: number): { progId: number; mode: 'skb' | 'native' | 'hw' | 'multi' } | null;
  bpfSkbLayout: NativeSkbLayout;
  bpfProgInfo(fd: number): NativeProgInfo;
  bpfProgFdById(id: number): number;
  bpfProgTestRun(fd: number, data: Uint8Array, repeat: number, ctx: Uint8Array | null): NativeTestRun;
  BpfRingReader: new (mapFd: number, recordSize: number) => NativeRingReader;
}

// Relative to this file: src/datapath/ under vitest, dist/datapath/ once compiled;
// both sit two levels below the package root, next to build/.
const ADDON_PATH = '../../build/Release/strait.node';

let binding: NativeBinding | undefined;

/** The addon, loaded on first call. */
export function native(): NativeBinding {
  if (binding === undefined) {
    const require = createRequire(import.meta.url);
    try {
      binding = require(ADDON_PATH) as NativeBinding;
    } catch (cause) {
      throw new StraitError(
        'E_NATIVE_LOAD',
        'cannot load the native addon (run `npm run build:native`)',
        { details: new URL(ADDON_PATH, import.meta.url).pathname, cause },
      );
    }
  }
  return binding;
}
