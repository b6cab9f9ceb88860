// strait's own IPAM behind the IpamDriver interface: ranges from the config, leases
// in <stateDir>/ipam/<network> (or ipam.dataDir/<network>), serialised across the
// plugin processes of parallel ADDs with flock(2) from the native addon.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { flock } from '../datapath/flock.js';
import { parseIpamConfig } from '../ipam/config.js';
import { DiskStore, flockLocker } from '../ipam/disk-store.js';
import { Ipam } from '../ipam/ipam.js';
import type { CommandContext } from './context.js';
import { StraitError, errors } from '../errors.js';
import { ipamDataDir, type IpamDriver } from './ipam-driver.js';
import { currentBootId } from '../util/boot-id.js';

/** Where strait's IPAM keeps a network's leases (GC sweeps that directory too). */
export function straitLeaseDir(ctx: CommandContext): string {
  const { dataDir } = parseIpamConfig(ctx.conf.ipam.raw);
  return dataDir === undefined ? ipamDataDir(ctx.conf.paths.stateDir, ctx.conf.name) : join(dataDir, ctx.conf.name);
}

export function straitIpam(ctx: CommandContext): IpamDriver {
  const cfg = parseIpamConfig(ctx.conf.ipam.raw);
  const dir = straitLeaseDir(ctx);
  const store = new DiskStore(dir, flockLocker(flock), {
    warn: (message) => ctx.log.warn({ dir }, message),
  });
  const ipam = new Ipam(cfg.sets, store);
  const owner = (o: { containerId: string; ifname: string }) => ({ containerId: o.containerId, ifname: o.ifname });

  return {
    add(o, requested, stamp, rollback) {
      const { all, fresh } = ipam.allocateMarked({ ...owner(o), ...stamp }, requested);
      rollback.add('release the leases this ADD made', () => ipam.releaseAddresses(owner(o), fresh));
      return {
        addresses: all.map((a) => ({ family: a.family, ip: a.ip })),
        routes: cfg.routes.map((r) => ({ dst: r.dst, ...(r.gw !== undefined ? { gw: r.gw } : {}) })),
        dns: undefined,
      };
    },
    del(o) {
      ipam.release(owner(o));
    },
    check(o, ips) {
      const held = new Set(ipam.leasesOf(owner(o)).map((l) => l.ip));
      for (const ip of ips) {
        if (!held.has(ip)) throw errors.checkFailed(`no lease for ${ip} held by ${o.containerId}/${o.ifname}`);
      }
    },
    gc(valid) {
      // Leases of earlier boots go even if the runtime still lists them: no pod of an
      // earlier boot is alive. Not returned: no veth of this boot is theirs to delete.
      ipam.reclaimOtherBoots(currentBootId(ctx.processEnv));
      return ipam.gc(valid).map((l) => ({ network: ctx.conf.name, containerId: l.containerId, ifname: l.ifname }));
    },
    status() {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        accessSync(dir, constants.W_OK);
      } catch (err) {
        throw new StraitError('E_STORE_UNUSABLE', `lease store ${dir} is unusable: ${(err as Error).message}`, { cause: err });
      }
      const s = ipam.status();
      if (!s.ok) throw new StraitError('E_STATUS_POOL_EXHAUSTED', s.reason);
    },
  };
}
