// TypeScript mirror of bpf/include/maps.h, part 6: strait_links_v1, one entry per
// strait host veth (key: its ifindex as a host-order u32) naming one address of the
// pod behind it (struct link_value: an endpoint_key). It is how the datapath finds
// the pod of a veth where the packet carries no pod address (ARP, neighbour
// discovery and MLD from link-local or unspecified sources), and how to_pod tells a
// strait veth with no pod from one with a pod.
import { bytesOf, LE, u32, view } from './codec.js';
import { decodeEndpointKey, encodeEndpointKey, ENDPOINT_KEY_SIZE, type EndpointKey } from './endpoints.js';
import { LAYOUT } from './layout.js';

export const LINK_KEY_SIZE = 4;
export const LINK_VALUE_SIZE = LAYOUT.link_value.size;

const V = LAYOUT.link_value.members;

/** ifindex 0 names no device. */
export function encodeLinkKey(ifindex: number): Uint8Array {
  const out = new Uint8Array(LINK_KEY_SIZE);
  view(out).setUint32(0, u32(ifindex, 'link ifindex', 1), LE);
  return out;
}

export function decodeLinkKey(buf: Uint8Array): number {
  return view(bytesOf(buf, LINK_KEY_SIZE, 'link key')).getUint32(0, LE);
}

/** The value is the endpoint key of one of the pod's addresses. */
export function encodeLinkValue(endpoint: EndpointKey): Uint8Array {
  const out = new Uint8Array(LINK_VALUE_SIZE);
  out.set(encodeEndpointKey(endpoint), V.endpoint);
  return out;
}

export function decodeLinkValue(buf: Uint8Array): EndpointKey {
  const b = bytesOf(buf, LINK_VALUE_SIZE, 'link value');
  return decodeEndpointKey(b.slice(V.endpoint, V.endpoint + ENDPOINT_KEY_SIZE));
}
