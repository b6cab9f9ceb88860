// strait's own IPAM behind the IpamDriver interface: ranges from the config (or, with
// none, the node's spec.podCIDRs from the agent: ipam-node.ts), leases
// in <stateDir>/ipam/<network> (or ipam.dataDir/<network>), serialised across the
// plugin processes of parallel ADDs with flock(2) from the native addon.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { flock } from '../datapath/flock.js';
import { parseIpamConfig, usesNodeRanges, type IpamConfig } from '../ipam/config.js';
import { describeSet } from '../ipam/ranges.js';
import type { Lease } from '../ipam/store.js';
import { nodeRanges, noAgentForNodeRanges } from './ipam-node.js';
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

/**
 * Only ADD and STATUS need ranges: in Kubernetes IPAM mode they ask the agent for the
 * node's pod CIDRs; DEL, CHECK and GC release and look up leases by owner, whatever
 * the Node says now. STATUS answers 50 when ADD could not get them.
 */
async function resolveConfig(ctx: CommandContext): Promise<{ cfg: IpamConfig; unavailable: StraitError | null }> {
  const raw = ctx.conf.ipam.raw;
  if (!usesNodeRanges(raw)) return { cfg: parseIpamConfig(raw), unavailable: null };
  if (ctx.agent === null) throw noAgentForNodeRanges(ctx.conf.name);
  const command = ctx.env.command;
  if (command !== 'ADD' && command !== 'STATUS') return { cfg: parseIpamConfig(raw), unavailable: null };
  const resolved = nodeRanges(ctx).then((node) => ({ cfg: parseIpamConfig(raw, node), unavailable: null }));
  if (command === 'ADD') return resolved;
  try {
    return await resolved;
  } catch (err) {
    const e = err instanceof StraitError ? err : errors.internal(String(err));
    const status = new StraitError('E_STATUS_NO_POD_CIDRS', `ADD cannot allocate now: ${e.message}`, { details: e.details, cause: err });
    return { cfg: parseIpamConfig(raw), unavailable: status };
  }
}

export async function straitIpam(ctx: CommandContext): Promise<IpamDriver> {
  const { cfg, unavailable } = await resolveConfig(ctx);
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
      if (cfg.fromNode) warnOutside(ctx, ipam.outsideRanges(), cfg);
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
      if (unavailable !== null) throw unavailable;
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

/**
 * The node's pod CIDRs changed under live leases (the Node was re-created with
 * another one): their pods keep their addresses, which no other node routes here
 * any more, until DEL or GC releases them. Said at every ADD until then.
 */
function warnOutside(ctx: CommandContext, outside: readonly Lease[], cfg: IpamConfig): void {
  if (outside.length === 0) return;
  ctx.log.warn(
    { leases: outside.length, addresses: outside.slice(0, 8).map((l) => `${l.ip} (${l.containerId}/${l.ifname})`), ranges: cfg.sets.map(describeSet) },
    `${outside.length} leases lie outside this node's current spec.podCIDRs: their pods keep them (other nodes no longer route them here) until DEL or GC releases them`,
  );
}
