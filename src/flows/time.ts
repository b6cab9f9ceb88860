// Flow events are stamped with bpf_ktime_get_ns(), CLOCK_MONOTONIC; records carry
// wall time. process.hrtime.bigint() reads the same clock (libuv's uv_hrtime), so one
// offset taken at start turns one into the other, exact to the nanosecond the
// datapath gave. (A wall clock stepped later shifts nothing: the offset is fixed.)

/** Wall time (ns since the epoch) minus the monotonic clock, now. */
export function monotonicToWallOffsetNs(): bigint {
  // timeOrigin + now(): the wall clock to a fraction of a microsecond, read beside hrtime.
  const wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wallNs - process.hrtime.bigint();
}

/** The last second formatted: records come in bursts within one second, and Date is the cost. */
let cached = { second: -1n, prefix: '' };

/** RFC 3339, UTC, nine digits of fraction: "2026-12-01T19:30:00.123456789Z" (epochNs >= 0). */
export function rfc3339Ns(epochNs: bigint): string {
  const second = epochNs / 1_000_000_000n;
  // Whole seconds through Date (calendar and leap years), the fraction as digits.
  if (second !== cached.second) cached = { second, prefix: new Date(Number(second) * 1000).toISOString().slice(0, 19) };
  return `${cached.prefix}.${(epochNs % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}
