// The failure of every argument check in src/datapath before anything reaches the
// addon or the kernel: InvalidArgError (src/errors.ts), a TypeError whose code is
// ERR_INVALID_ARG. Its own module so that netlink-args.ts, addr-bytes.ts, flock.ts,
// bpf.ts and the map codecs share one helper without importing each other.
import { InvalidArgError } from '../errors.js';

export { InvalidArgError };

/** Throws "<what> <problem>: <value as JSON>" (bigints as 123n). */
export const fail = (what: string, problem: string, value: unknown): never => {
  throw new InvalidArgError(`${what} ${problem}: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
};
