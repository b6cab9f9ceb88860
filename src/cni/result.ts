// The CNI Result, held internally in 1.1.0 form and converted at the edges: to the
// caller's version on output, from any supported version on input (prevResult, or a
// delegated IPAM plugin's stdout).

import { isIP } from 'node:net';
import { errors } from '../errors.js';
import { ipFamily } from '../ipam/addr.js';
import { asText, isInteger, isObject, isStringArray, typeName, type JsonObject } from './json.js';
import { assertSupported, compareVersions } from './version.js';

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface ResultInterface {
  name: string;
  mac?: string;
  /** 1.1.0 */
  mtu?: number;
  sandbox?: string;
  /** 1.1.0 */
  socketPath?: string;
  /** 1.1.0 */
  pciID?: string;
}

export interface ResultIp {
  /** CIDR: the address with its prefix length */
  address: string;
  gateway?: string;
  /** index into interfaces */
  interface?: number;
}

export interface ResultRoute {
  dst: string;
  gw?: string;
  /** 1.1.0 */
  mtu?: number;
  /** 1.1.0 */
  advmss?: number;
  /** 1.1.0 */
  priority?: number;
  /** 1.1.0 */
  table?: number;
  /** 1.1.0 */
  scope?: number;
}

export interface Result {
  cniVersion: string;
  interfaces?: ResultInterface[];
  ips?: ResultIp[];
  routes?: ResultRoute[];
  dns?: Dns;
}

/** An ips entry as written for a given version: 0.3.x/0.4.0 add `version`. */
export interface WireIp extends ResultIp {
  version?: '4' | '6';
}

/** A Result in the exact shape of one spec version, ready for JSON.stringify. */
export interface WireResult extends Omit<Result, 'ips'> {
  ips?: WireIp[];
}


const copyDns = (d: Dns): Dns => {
  const out: Dns = {};
  if (d.nameservers) out.nameservers = [...d.nameservers];
  if (d.domain !== undefined) out.domain = d.domain;
  if (d.search) out.search = [...d.search];
  if (d.options) out.options = [...d.options];
  return out;
};

/** `result` in the exact shape of `version` (code 1 if unsupported). Never aliases the input. */
export function toVersion(result: Result, version: string): WireResult {
  assertSupported(version);
  const legacy = compareVersions(version, '1.0.0') < 0;
  const full = compareVersions(version, '1.1.0') >= 0;
  const out: WireResult = { cniVersion: version };

  if (result.interfaces) {
    out.interfaces = result.interfaces.map((i) => {
      const o: ResultInterface = { name: i.name };
      if (i.mac !== undefined) o.mac = i.mac;
      if (full && i.mtu !== undefined) o.mtu = i.mtu;
      if (i.sandbox !== undefined) o.sandbox = i.sandbox;
      if (full && i.socketPath !== undefined) o.socketPath = i.socketPath;
      if (full && i.pciID !== undefined) o.pciID = i.pciID;
      return o;
    });
  }
  if (result.ips) {
    out.ips = result.ips.map((ip) => {
      const o: WireIp = legacy ? { version: ipFamily(ip.address) === 6 ? '6' : '4', address: ip.address } : { address: ip.address };
      if (ip.gateway !== undefined) o.gateway = ip.gateway;
      if (ip.interface !== undefined) o.interface = ip.interface;
      return o;
    });
  }
  if (result.routes) {
    out.routes = result.routes.map((r) => {
      const o: ResultRoute = { dst: r.dst };
      if (r.gw !== undefined) o.gw = r.gw;
      if (full) {
        if (r.mtu !== undefined) o.mtu = r.mtu;
        if (r.advmss !== undefined) o.advmss = r.advmss;
        if (r.priority !== undefined) o.priority = r.priority;
        if (r.table !== undefined) o.table = r.table;
        if (r.scope !== undefined) o.scope = r.scope;
      }
      return o;
    });
  }
  if (result.dns) out.dns = copyDns(result.dns);
  return out;
}

// ---- parsing ---------------------------------------------------------------------

/** Thrown messages name the place, e.g. "prevResult.ips[0].address". */
const bad = (where: string, expected: string, got: unknown) =>
  errors.config(`${where} must be ${expected}, got ${typeof got === 'string' ? `'${got}'` : typeName(got)}`);

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0 || slash !== s.lastIndexOf('/')) return false;
  const fam = isIP(s.slice(0, slash));
  const len = s.slice(slash + 1);
  if (fam === 0 || !/^\d{1,3}$/.test(len)) return false;
  return Number(len) <= (fam === 4 ? 32 : 128);
}

function str(o: JsonObject, key: string, where: string, required: true): string;
function str(o: JsonObject, key: string, where: string, required?: false): string | undefined;
function str(o: JsonObject, key: string, where: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || (v === null && !required)) {
    if (required) throw errors.config(`${where}.${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`${where}.${key}`, 'a string', v);
  return v;
}

function int(o: JsonObject, key: string, where: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isInteger(v) || v < min || v > max) throw bad(`${where}.${key}`, `an integer in ${min}..${max}`, v);
  return v;
}

function list(o: JsonObject, key: string, where: string): JsonObject[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(`${where}.${key}`, 'an array', v);
  return v.map((e, i) => {
    if (!isObject(e)) throw bad(`${where}.${key}[${i}]`, 'an object', e);
    return e;
  });
}

/** Validates a `dns` object (result or network config). */
export function parseDns(v: unknown, where: string): Dns {
  if (!isObject(v)) throw bad(where, 'an object', v);
  const out: Dns = {};
  for (const key of ['nameservers', 'search', 'options'] as const) {
    const x = v[key];
    if (x === undefined || x === null) continue;
    if (!isStringArray(x)) throw bad(`${where}.${key}`, 'an array of strings', x);
    out[key] = [...x];
  }
  const domain = str(v, 'domain', where);
  if (domain !== undefined) out.domain = domain;
  return out;
}

const U32 = 0xffffffff;

function parseInterface(o: JsonObject, where: string): ResultInterface {
  const name = str(o, 'name', where, true);
  if (name === '') throw errors.config(`${where}.name must not be empty`);
  const out: ResultInterface = { name };
  const mac = str(o, 'mac', where);
  if (mac !== undefined) out.mac = mac;
  const mtu = int(o, 'mtu', where, 0, U32);
  if (mtu !== undefined) out.mtu = mtu;
  const sandbox = str(o, 'sandbox', where);
  if (sandbox !== undefined) out.sandbox = sandbox;
  const socketPath = str(o, 'socketPath', where);
  if (socketPath !== undefined) out.socketPath = socketPath;
  const pciID = str(o, 'pciID', where);
  if (pciID !== undefined) out.pciID = pciID;
  return out;
}

function parseIp(o: JsonObject, where: string, legacy: boolean, interfaces: number | undefined): ResultIp {
  const address = str(o, 'address', where, true);
  if (!isCidr(address)) throw bad(`${where}.address`, 'an address in CIDR form', address);
  if (legacy && o.version !== undefined) {
    // Optional on input (lenient), but when present it must agree with the address.
    const v = o.version;
    if (v !== '4' && v !== '6') throw bad(`${where}.version`, "'4' or '6'", v);
    if (v !== String(ipFamily(address))) {
      throw errors.config(`${where}.version '${v}' does not match address '${address}'`);
    }
  }
  const out: ResultIp = { address };
  const gateway = str(o, 'gateway', where);
  if (gateway !== undefined) {
    if (isIP(gateway) === 0) throw bad(`${where}.gateway`, 'an IP address', gateway);
    out.gateway = gateway;
  }
  const index = int(o, 'interface', where, 0, interfaces === undefined ? U32 : interfaces - 1);
  if (index !== undefined) out.interface = index;
  return out;
}

function parseRoute(o: JsonObject, where: string): ResultRoute {
  const dst = str(o, 'dst', where, true);
  if (!isCidr(dst)) throw bad(`${where}.dst`, 'a destination in CIDR form', dst);
  const out: ResultRoute = { dst };
  const gw = str(o, 'gw', where);
  if (gw !== undefined) {
    if (isIP(gw) === 0) throw bad(`${where}.gw`, 'an IP address', gw);
    out.gw = gw;
  }
  for (const [key, max] of [
    ['mtu', U32],
    ['advmss', U32],
    ['priority', U32],
    ['table', U32],
    ['scope', 255],
  ] as const) {
    const v = int(o, key, where, 0, max);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export interface ParseResultOptions {
  /** Version to assume when the object carries no cniVersion (a prevResult inside a config). */
  fallbackVersion?: string;
  /** Prefix for error messages; defaults to 'result'. */
  what?: string;
}

/**
 * A result of any supported version in internal (1.1.0) form. Not an object → code 6;
 * unsupported version → code 1; a field of the wrong type or form → code 7.
 * Fields a version does not define are dropped later by toVersion, not here.
 */
export function fromAnyVersion(obj: unknown, opts: ParseResultOptions = {}): Result {
  const where = opts.what ?? 'result';
  if (!isObject(obj)) throw errors.decode(`${where} must be a JSON object, got ${typeName(obj)}`);
  const declared = obj.cniVersion;
  if (declared !== undefined && typeof declared !== 'string') throw bad(`${where}.cniVersion`, 'a string', declared);
  const version = declared ?? opts.fallbackVersion;
  if (version === undefined) throw errors.config(`${where}.cniVersion is required`);
  assertSupported(version, `${where}.cniVersion`);
  const legacy = compareVersions(version, '1.0.0') < 0;

  const out: Result = { cniVersion: version };
  const ifaces = list(obj, 'interfaces', where);
  if (ifaces) out.interfaces = ifaces.map((o, i) => parseInterface(o, `${where}.interfaces[${i}]`));
  const ips = list(obj, 'ips', where);
  if (ips) out.ips = ips.map((o, i) => parseIp(o, `${where}.ips[${i}]`, legacy, out.interfaces?.length));
  const routes = list(obj, 'routes', where);
  if (routes) out.routes = routes.map((o, i) => parseRoute(o, `${where}.routes[${i}]`));
  if (obj.dns !== undefined && obj.dns !== null) out.dns = parseDns(obj.dns, `${where}.dns`);
  return out;
}

/** A delegated plugin's stdout: JSON (code 6 if not) holding a result of any supported version. */
export function parseResult(stdout: string | Buffer, opts: ParseResultOptions = {}): Result {
  let obj: unknown;
  try {
    obj = JSON.parse(asText(stdout));
  } catch (e) {
    throw errors.decode(`${opts.what ?? 'result'} is not valid JSON: ${(e as Error).message}`);
  }
  return fromAnyVersion(obj, opts);
}
