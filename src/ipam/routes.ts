// Parses `ipam.routes`: the routes the IPAM result hands the pod ({dst, gw?}).
// Pure; problems are config errors naming the entry.
import { errors } from '../errors.js';
import { type Family, formatCidr, formatIp, networkOf, parseCidr, parseIp } from './addr.js';

export interface Route {
  family: Family;
  /** canonical CIDR */
  dst: string;
  /** canonical address, same family as dst */
  gw?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseRoute(raw: unknown, where: string): Route {
  if (!isObject(raw)) throw errors.config(`${where} must be an object`);
  const { dst, gw } = raw;
  if (typeof dst !== 'string') throw errors.config(`${where}.dst is required and must be a CIDR string`);
  const cidr = parseCidr(dst);
  if (cidr === null) throw errors.config(`${where}.dst "${dst}" is not a CIDR (address/prefix-length)`);
  const network = networkOf(cidr.family, cidr.value, cidr.prefixLen);
  const canonical = formatCidr(cidr.family, network, cidr.prefixLen);
  // Rejected rather than masked, as for subnets: "10.1.2.3/8" is more likely a typo
  // than a wish to route all of 10/8.
  if (network !== cidr.value) {
    throw errors.config(`${where}.dst ${dst} has host bits set; the network for /${cidr.prefixLen} is ${canonical}`);
  }
  const route: Route = { family: cidr.family, dst: canonical };
  if (gw === undefined || gw === null) return route;
  if (typeof gw !== 'string') throw errors.config(`${where}.gw must be a string`);
  const gwIp = parseIp(gw);
  if (gwIp === null) throw errors.config(`${where}.gw "${gw}" is not an IP address`);
  if (gwIp.family !== cidr.family) {
    throw errors.config(`${where}.gw ${gw} is not of the same IP family as dst ${canonical}`);
  }
  return { ...route, gw: formatIp(gwIp.family, gwIp.value) };
}

/** Parses the optional routes list; other route keys (mtu, table, ...) are ignored. */
export function parseRoutes(raw: unknown, where = 'ipam.routes'): Route[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw errors.config(`${where} must be a list`);
  return raw.map((r, i) => parseRoute(r, `${where}[${i}]`));
}
