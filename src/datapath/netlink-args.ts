// Validation and conversion for the netlink wrapper: strings in, bytes out (and
// back). The addon never parses an address (DESIGN.md convention 2), so every
// check a caller could get wrong happens here, before anything crosses into C++,
// and fails with a TypeError whose code is ERR_INVALID_ARG.
import { ipBytes, prefixLen } from './addr-bytes.js';
import { fail } from './invalid-arg.js';
import type { NativeRouteSpec, NativeVxlanSpec } from './native.js';

export { InvalidArgError } from './invalid-arg.js';

// IFNAMSIZ is 16 bytes including the NUL; the kernel also refuses '/', ':' and
// whitespace, and "." / ".." (they would be path components under /sys/class/net).
const IFNAME_MAX_BYTES = 15;

export function ifName(value: unknown, what = 'interface name'): string {
  if (typeof value !== 'string') return fail(what, 'must be a string', value);
  const bytes = Buffer.byteLength(value);
  if (bytes < 1 || bytes > IFNAME_MAX_BYTES) return fail(what, `must be 1..${IFNAME_MAX_BYTES} bytes`, value);
  if (/[/:\s\0]/.test(value) || value === '.' || value === '..')
    return fail(what, "must not contain '/', ':' or whitespace", value);
  return value;
}

export function netnsPath(value: unknown, what = 'netns path'): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0'))
    return fail(what, 'must be a non-empty path', value);
  return value;
}

export function mtu(value: unknown, what = 'mtu'): number {
  // 68 is IPv4's minimum; above 65535 no Ethernet-like device goes.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 68 || value > 65535)
    return fail(what, 'must be an integer in 68..65535', value);
  return value;
}

const IFALIAS_MAX_BYTES = 255; // IFALIASZ 256 with the NUL

export function alias(value: unknown, what = 'alias'): string {
  if (typeof value !== 'string' || value.includes('\0') || Buffer.byteLength(value) > IFALIAS_MAX_BYTES)
    return fail(what, `must be a string of at most ${IFALIAS_MAX_BYTES} bytes`, value);
  return value;
}

// RT_SCOPE_* from <linux/rtnetlink.h>: kernel ABI, stable.
const SCOPES = { universe: 0, link: 253, host: 254 } as const;
export type ScopeName = keyof typeof SCOPES;

export function scopeName(n: number): ScopeName | number {
  for (const [name, value] of Object.entries(SCOPES)) if (value === n) return name as ScopeName;
  return n;
}

export interface RouteArgs {
  /** null = default route (prefixLen 0) */
  dst: string | null;
  prefixLen: number;
  gateway?: string;
  ifname: string;
  scope?: 'universe' | 'link';
  /** required for a default route without a gateway; else must agree with dst/gateway */
  family?: 4 | 6;
  /** RTNH_F_ONLINK: take the gateway as on-link even with no connected route to it */
  onlink?: boolean;
  /**
   * RTPROT_* (1..255): who owns the route, so an owner finds exactly its own again.
   * Absent: static (4) when adding; any protocol when deleting.
   */
  protocol?: number;
}

/** A route protocol: an integer 1..255 (0, RTPROT_UNSPEC, would mean "any" to a delete). */
export function routeProtocol(value: unknown, what = 'route.protocol'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 255)
    return fail(what, 'must be an integer in 1..255', value);
  return value;
}

/** Checks a route and converts it to what the addon takes. */
export function routeSpec(r: RouteArgs): NativeRouteSpec {
  if (typeof r !== 'object' || r === null) return fail('route', 'must be an object', r);
  const ifname = ifName(r.ifname, 'route.ifname');
  const dst = r.dst === null ? null : ipBytes(r.dst, 'route.dst');
  const gateway = r.gateway === undefined ? null : ipBytes(r.gateway, 'route.gateway');
  if (r.family !== undefined && r.family !== 4 && r.family !== 6) return fail('route.family', 'must be 4 or 6', r.family);
  const family = dst?.family ?? gateway?.family ?? r.family;
  if (family === undefined) return fail('route', 'needs a family when dst is null and there is no gateway', r);
  for (const [name, f] of [['dst', dst?.family], ['gateway', gateway?.family], ['family', r.family]] as const)
    if (f !== undefined && f !== family) return fail(`route.${name}`, `is not IPv${family}`, r[name]);
  const len = prefixLen(r.prefixLen, family, 'route.prefixLen');
  if (dst === null && len !== 0) return fail('route.prefixLen', 'must be 0 for a default route', r.prefixLen);
  if (dst !== null && hasHostBits(dst.bytes, len)) return fail('route.dst', `has bits set past /${len}`, r.dst);
  if (r.scope !== undefined && r.scope !== 'universe' && r.scope !== 'link')
    return fail('route.scope', "must be 'universe' or 'link'", r.scope);
  if (r.onlink !== undefined && typeof r.onlink !== 'boolean') return fail('route.onlink', 'must be a boolean', r.onlink);
  const protocol = r.protocol === undefined ? null : routeProtocol(r.protocol);
  return {
    family,
    dst: dst?.bytes ?? null,
    prefixLen: len,
    gateway: gateway?.bytes ?? null,
    ifname,
    scope: r.scope === undefined ? null : SCOPES[r.scope],
    onlink: r.onlink ?? false,
    protocol,
  };
}

/** Which routes listRoutes returns: out of one interface, of one protocol, or both. */
export interface RouteFilter {
  ifname?: string;
  protocol?: number;
}

const ROUTE_FILTER_KEYS = new Set(['ifname', 'protocol']);

/** An interface name alone (the older form) or a RouteFilter; absent = every route. */
export function routeFilter(f: string | RouteFilter | undefined): { ifname: string | null; protocol: number | null } {
  if (f === undefined) return { ifname: null, protocol: null };
  if (typeof f === 'string') return { ifname: ifName(f), protocol: null };
  if (typeof f !== 'object' || f === null) return fail('route filter', 'must be an interface name or an object', f);
  // A misspelt key would silently widen the filter to every route.
  for (const k of Object.keys(f)) if (!ROUTE_FILTER_KEYS.has(k)) return fail('route filter', `has an unknown key ${k}`, f);
  return {
    ifname: f.ifname === undefined ? null : ifName(f.ifname, 'route filter ifname'),
    protocol: f.protocol === undefined ? null : routeProtocol(f.protocol, 'route filter protocol'),
  };
}

export interface VxlanArgs {
  name: string;
  /** the UDP destination port, on which the device also listens */
  port: number;
  mtu: number;
}

export function vxlanSpec(v: VxlanArgs): NativeVxlanSpec {
  if (typeof v !== 'object' || (v as unknown) === null) return fail('vxlan', 'must be an object', v);
  const port = v.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    return fail('vxlan.port', 'must be an integer in 1..65535', port);
  return { name: ifName(v.name, 'vxlan.name'), port, mtu: mtu(v.mtu, 'vxlan.mtu') };
}

// IN6_ADDR_GEN_MODE_* from <linux/if_link.h>: kernel ABI, stable.
const ADDR_GEN_MODES = ['eui64', 'none', 'stable-privacy', 'random'] as const;
export type AddrGenMode = (typeof ADDR_GEN_MODES)[number];

/** How the kernel makes the link's IPv6 link-local address; null when it has no IPv6 state. */
export function addrGenModeName(n: number | null): AddrGenMode | number | null {
  return n === null ? null : (ADDR_GEN_MODES[n] ?? n);
}

// The kernel refuses 10.0.0.1/24 as a route destination ("Invalid prefix for given
// prefix length"); saying so here names the field.
function hasHostBits(bytes: Uint8Array, len: number): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if (((bytes[i] ?? 0) & ~mask & 0xff) !== 0) return true;
  }
  return false;
}
