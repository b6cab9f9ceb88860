// TypeScript mirror of bpf/include/maps.h: strait_fib_v1, per-CPU traffic_counters
// (counters.ts) of the FIB lookups that sent a packet for another node's pod to the
// host stack, keyed by bpf_fib_lookup's return code (BPF_FIB_LKUP_RET_* of
// <linux/bpf.h>, slot = code), a negative return in FIB_SLOT_ERROR.

/** max_entries of strait_fib_v1. */
export const FIB_SLOTS = 16;
export const FIB_SLOT_ERROR = FIB_SLOTS - 1;

/** The kernel's return codes, by the kernel's names (uapi enum, values stable). */
const FIB_RETURNS: readonly (readonly [number, string, string])[] = [
  [0, 'BPF_FIB_LKUP_RET_SUCCESS', 'lookup successful (never a fallback)'],
  [1, 'BPF_FIB_LKUP_RET_BLACKHOLE', 'the destination is blackholed'],
  [2, 'BPF_FIB_LKUP_RET_UNREACHABLE', 'the destination is unreachable: no route'],
  [3, 'BPF_FIB_LKUP_RET_PROHIBIT', 'the destination is prohibited'],
  [4, 'BPF_FIB_LKUP_RET_NOT_FWDED', 'not forwarded: a local destination, or not a unicast route'],
  [5, 'BPF_FIB_LKUP_RET_FWD_DISABLED', 'forwarding disabled on the device (handled: never a fallback)'],
  [6, 'BPF_FIB_LKUP_RET_UNSUPP_LWT', 'the route needs encapsulation (lightweight tunnel)'],
  [7, 'BPF_FIB_LKUP_RET_NO_NEIGH', 'no neighbour entry for the nexthop (handled: never a fallback)'],
  [8, 'BPF_FIB_LKUP_RET_FRAG_NEEDED', 'the packet is bigger than the route’s MTU'],
  [9, 'BPF_FIB_LKUP_RET_NO_SRC_ADDR', 'no source address could be derived'],
  [FIB_SLOT_ERROR, 'FIB_ERROR', 'the helper refused the lookup (negative errno: the configured uplink is gone?)'],
];

export interface FibSlotInfo {
  slot: number;
  name: string;
  description: string;
}

/** Every slot of strait_fib_v1 with a meaning, in slot order. */
export const FIB_SLOT_INFOS: readonly FibSlotInfo[] = FIB_RETURNS.map(([slot, name, description]) => ({ slot, name, description }));

/** Name and meaning of a slot; a code a newer kernel added still reads as its number. */
export function describeFibSlot(slot: number): FibSlotInfo {
  return FIB_SLOT_INFOS.find((f) => f.slot === slot) ?? { slot, name: `BPF_FIB_LKUP_RET_#${slot}`, description: 'a return code this build does not know' };
}
