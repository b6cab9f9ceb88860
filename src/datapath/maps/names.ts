// TypeScript mirror of bpf/include/maps.h, part 2: the names maps are pinned by
// (LIBBPF_PIN_BY_NAME, under the pin dir) and the programs in each object. The
// version suffix changes with a map's layout; see maps.h.

export const MapName = {
  endpoints: 'strait_endpoints_v1',
  drops: 'strait_drops_v1',
  stats: 'strait_stats_v1',
} as const;
export type MapNameValue = (typeof MapName)[keyof typeof MapName];

/** Entry programs: SEC("tc") function name = object file bpf/<name>.bpf.c. */
export const ProgramName = {
  fromPod: 'from_pod',
  toPod: 'to_pod',
} as const;
export type ProgramNameValue = (typeof ProgramName)[keyof typeof ProgramName];

/** max_entries as maps.h declares them. */
export const ENDPOINTS_MAX = 65536;
