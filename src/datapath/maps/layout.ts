// TypeScript mirror of bpf/include/maps.h, part 1: the byte layout of every key and
// value struct as the codecs in this directory assume it. maps.h is the source of
// truth; test/bpf/maps-btf.test.ts compares this table with the BTF of the compiled
// objects, so a change on either side that the other does not follow fails CI.
// Integer members are in host byte order (the kernel copies map values as bytes);
// addresses stay in network order.

export interface StructLayout {
  /** sizeof(struct) */
  readonly size: number;
  /** byte offset of each member, by its C name */
  readonly members: Readonly<Record<string, number>>;
}

export const LAYOUT = {
  endpoint_key: {
    size: 20,
    members: { ip: 0, family: 16, pad: 17 },
  },
  endpoint_value: {
    size: 24,
    members: { ifindex: 0, flags: 4, pod_mac: 8, host_mac: 14, identity: 20 },
  },
  traffic_counter: {
    size: 16,
    members: { packets: 0, bytes: 8 },
  },
} as const satisfies Record<string, StructLayout>;

export type StructName = keyof typeof LAYOUT;

/**
 * Bytes per CPU in a per-CPU map's value buffer: the kernel rounds each CPU's slot
 * up to 8 bytes (bpf_map_lookup_elem on BPF_MAP_TYPE_PERCPU_*).
 */
export const perCpuSlotSize = (valueSize: number): number => Math.ceil(valueSize / 8) * 8;
