// The error every argument check of src/datapath throws before anything reaches
// the addon or the kernel: a TypeError whose code is ERR_INVALID_ARG. Its own
// module so that netlink-args.ts, addr-bytes.ts, flock.ts, bpf.ts and the map
// codecs share it without importing each other.
export class InvalidArgError extends TypeError {
  override readonly name = 'InvalidArgError';
  readonly code = 'ERR_INVALID_ARG';
}

/** Throws "<what> <problem>: <value as JSON>" (bigints as 123n). */
export const fail = (what: string, problem: string, value: unknown): never => {
  throw new InvalidArgError(`${what} ${problem}: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
};
