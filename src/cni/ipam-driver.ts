// One interface over the two kinds of IPAM a config can name: strait's own (leases
// on disk, in this process) or any other plugin found in CNI_PATH (delegated as the
// spec says, e.g. the reference host-local).
import { join } from 'node:path';
import type { Rollback } from '../util/rollback.js';
import type { CommandContext, Owner } from './context.js';
import { delegate } from './delegate.js';
import { errors } from '../errors.js';
import { ipFamily } from '../ipam/addr.js';
import { CniCode, cniCodeOf } from './errors.js';
import { fromAnyVersion, type Result } from './result.js';
import { withoutPrefix } from '../ipam/addr.js';

export interface IpamAddress {
  family: 4 | 6;
  ip: string;
}

export interface IpamOutcome {
  addresses: IpamAddress[];
  routes: { dst: string; gw?: string }[];
  dns: Result['dns'] | undefined;
}

/** What strait's own IPAM stores with a new lease (a delegated plugin keeps its own). */
export interface LeaseStamp {
  meta: Record<string, string>;
  bootId: string;
  hostVeth: string;
}

export interface IpamDriver {
  /** Registers the undo of only what this call allocated: a retried ADD keeps what an earlier one holds. */
  add(owner: Owner, requested: string[], stamp: LeaseStamp, rollback: Rollback): IpamOutcome;
  /** idempotent: nothing to release is not an error */
  del(owner: Owner): void;
  /** throws when the lease behind `ips` is gone */
  check(owner: Owner, ips: string[]): void;
  /** releases what is not in `valid`; returns the owners released */
  gc(valid: { containerId: string; ifname: string }[]): Owner[];
  /** throws a code-50 error when ADD could not succeed now */
  status(): void;
}

let straitModule: Promise<typeof import('./ipam-strait.js')> | undefined;

export async function ipamDriver(ctx: CommandContext): Promise<IpamDriver> {
  if (ctx.conf.ipam.type === 'strait') {
    const { straitIpam } = await (straitModule ??= import('./ipam-strait.js'));
    return await straitIpam(ctx);
  }
  return delegatedIpam(ctx);
}

function delegatedIpam(ctx: CommandContext): IpamDriver {
  const { type } = ctx.conf.ipam;
  const run = (command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', config = ctx.conf.raw) =>
    delegate(command, type, ctx.env.path, config, ctx.processEnv);
  return {
    add(_owner, _requested, _meta, rollback) {
      // The delegate reads requested addresses from the same config and CNI_ARGS.
      const out = run('ADD');
      rollback.add(`${type} DEL`, () => run('DEL'));
      if (out === null) throw errors.decode(`IPAM plugin ${type} returned no result`);
      const result = fromAnyVersion(out);
      const addresses = (result.ips ?? []).map((i) => {
        const ip = withoutPrefix(i.address);
        return { family: ipFamily(ip), ip };
      });
      if (addresses.length === 0) throw errors.config(`IPAM plugin ${type} returned no addresses`);
      return { addresses, routes: result.routes ?? [], dns: result.dns };
    },
    del() {
      run('DEL');
    },
    check() {
      // The config carries prevResult already; the delegate checks its own leases.
      run('CHECK');
    },
    gc() {
      try {
        run('GC');
      } catch (err) {
        // Plugins older than CNI 1.1 (Debian's host-local) do not know GC: nothing to do.
        if (!isOldDelegate(err)) throw err;
      }
      return [];
    },
    status() {
      try {
        run('STATUS');
      } catch (err) {
        if (!isOldDelegate(err)) throw err;
      }
    },
  };
}

/** A delegate older than CNI 1.1 answers GC and STATUS with 1 (incompatible version). */
const isOldDelegate = (err: unknown): boolean => cniCodeOf(err) === CniCode.IncompatibleVersion;

export const ipamDataDir = (stateDir: string, network: string): string => join(stateDir, 'ipam', network);
