// What every command receives: the validated environment and config, a logger, and
// the raw process environment (passed on to delegated plugins unchanged).
import type { Logger } from '../util/log.js';
import type { CniEnv } from './env.js';
import type { NetConf } from './config.js';
import type { Owner } from '../state/endpoint-record.js';

export interface CommandContext {
  env: CniEnv;
  conf: NetConf;
  log: Logger;
  processEnv: NodeJS.ProcessEnv;
}

/** The (network, container, interface) triple that owns a lease, a veth pair and an endpoint record. */
export type { Owner } from '../state/endpoint-record.js';

export function ownerOf(ctx: CommandContext): Owner {
  return { network: ctx.conf.name, containerId: ctx.env.containerId ?? '', ifname: ctx.env.ifname ?? '' };
}
