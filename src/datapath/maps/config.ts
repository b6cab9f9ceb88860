// TypeScript mirror of bpf/include/maps.h: strait_config_v1, the node's one entry
// (key 0) of datapath settings: how a packet for another node's pod leaves, and
// through which interfaces.
import { bytesOf, fail, LE, object, u32, view } from './codec.js';
import { LAYOUT } from './layout.js';

export const CONFIG_VALUE_SIZE = LAYOUT.config_value.size;
export const CONFIG_KEY = new Uint8Array(4); // the one entry, key 0

/** config_value.routing, as maps.h numbers them. */
export const Routing = { stack: 0, native: 1, vxlan: 2 } as const;
export type RoutingMode = keyof typeof Routing;

export interface ConfigValue {
  routing: RoutingMode;
  /** the interface holding the node's InternalIP; 0 for none */
  uplinkIfindex: number;
  /** the collect_md VXLAN device in vxlan mode; 0 otherwise */
  tunnelIfindex: number;
}

const V = LAYOUT.config_value.members;

export function encodeConfigValue(value: ConfigValue): Uint8Array {
  object(value, 'config value');
  const routing = (Routing as Record<string, number | undefined>)[value.routing];
  if (routing === undefined) return fail('config routing', 'must be stack, native or vxlan', value.routing);
  const out = new Uint8Array(CONFIG_VALUE_SIZE);
  const v = view(out);
  v.setUint32(V.routing, routing, LE);
  v.setUint32(V.uplink_ifindex, u32(value.uplinkIfindex, 'config uplink ifindex'), LE);
  v.setUint32(V.tunnel_ifindex, u32(value.tunnelIfindex, 'config tunnel ifindex'), LE);
  v.setUint32(V.flags, 0, LE);
  return out;
}

export function decodeConfigValue(buf: Uint8Array): ConfigValue {
  const v = view(bytesOf(buf, CONFIG_VALUE_SIZE, 'config value'));
  const n = v.getUint32(V.routing, LE);
  const routing = (Object.keys(Routing) as RoutingMode[]).find((k) => Routing[k] === n);
  if (routing === undefined) return fail('config value routing', 'must be 0, 1 or 2', n);
  return { routing, uplinkIfindex: v.getUint32(V.uplink_ifindex, LE), tunnelIfindex: v.getUint32(V.tunnel_ifindex, LE) };
}
