// The endpoint map, and the link map that ties each host veth to its endpoint, as
// the control plane sees them: typed entries in, typed entries out, encoded by the
// mirror of maps.h.
import { errnoOf, errors } from '../errors.js';
import * as bpf from './bpf.js';
import { ENDPOINTS_MAX, MapName } from './maps/names.js';
import {
  decodeEndpointKey,
  decodeEndpointValue,
  encodeEndpointKey,
  encodeEndpointValue,
} from './maps/endpoints.js';
import { decodeLinkKey, decodeLinkValue, encodeLinkKey, encodeLinkValue } from './maps/links.js';

export interface EndpointEntry {
  family: 4 | 6;
  ip: string;
  ifindex: number;
  flags: number;
  podMac: string;
  hostMac: string;
  identity: number;
}

/**
 * `onlyIfPresent`: update an entry, never create one (false if it was deleted meanwhile).
 * A new entry in a full map (the kernel's E2BIG) is E_DATAPATH_FULL: ADD reports it as
 * CNI 108, a capacity limit like an exhausted pool, not a transient failure to retry.
 */
export function writeEndpoint(mapFd: number, e: EndpointEntry, opts: { onlyIfPresent?: boolean } = {}): boolean {
  try {
    bpf.mapUpdate(
      mapFd,
      encodeEndpointKey({ family: e.family, ip: e.ip }),
      encodeEndpointValue({ ifindex: e.ifindex, flags: e.flags, podMac: e.podMac, hostMac: e.hostMac, identity: e.identity }),
      opts.onlyIfPresent === true ? 'exist' : 'any',
    );
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (opts.onlyIfPresent === true && code === 'ENOENT') return false;
    if (code === 'E2BIG') {
      throw errors.datapathFull(`endpoint map ${MapName.endpoints} is full (${ENDPOINTS_MAX} entries): no room for ${e.ip}`, (err as Error).message);
    }
    throw err;
  }
}

export function deleteEndpoint(mapFd: number, family: 4 | 6, ip: string): boolean {
  return bpf.mapDelete(mapFd, encodeEndpointKey({ family, ip }));
}

export function listEndpoints(mapFd: number): EndpointEntry[] {
  return bpf.mapDump(mapFd).map(({ key, value }) => {
    const k = decodeEndpointKey(key);
    const v = decodeEndpointValue(value);
    return { family: k.family, ip: k.ip, ...v };
  });
}

/** strait_links_v1: host veth ifindex → one address of the pod behind it. */
export interface LinkEntry {
  ifindex: number;
  family: 4 | 6;
  ip: string;
}

export function writeLink(mapFd: number, l: LinkEntry): void {
  bpf.mapUpdate(mapFd, encodeLinkKey(l.ifindex), encodeLinkValue({ family: l.family, ip: l.ip }));
}

export function deleteLink(mapFd: number, ifindex: number): boolean {
  return bpf.mapDelete(mapFd, encodeLinkKey(ifindex));
}

export function listLinks(mapFd: number): LinkEntry[] {
  return bpf.mapDump(mapFd).map(({ key, value }) => ({ ifindex: decodeLinkKey(key), ...decodeLinkValue(value) }));
}
