// What every command receives: the validated environment and config, a logger, the
// raw process environment (passed on to delegated plugins unchanged), and the agent
// that makes its endpoints ready, if any.
import type { Logger } from '../util/log.js';
import type { CniEnv } from './env.js';
import type { NetConf } from './config.js';
import type { Owner } from '../state/endpoint-record.js';
import type { LocalEndpoint } from '../policy/types.js';
import type { NodePodCidrs } from '../cluster/nodes.js';

export interface CommandContext {
  env: CniEnv;
  conf: NetConf;
  log: Logger;
  processEnv: NodeJS.ProcessEnv;
  /** null: no agent, so no policy applies and endpoints are ready at once */
  agent: AgentLink | null;
}

/** The agent as the commands see it, in-process (the agent serves the call) or over its socket. */
export interface AgentLink {
  /** where it is, for messages */
  readonly where: string;
  /** resolves once the endpoint's policy is written and it is READY; else throws E_AGENT_NOT_READY (11) */
  ready(ep: LocalEndpoint): Promise<void>;
  /** DEL and an undone ADD: never throws, the agent may be down */
  gone(id: string): Promise<void>;
  /** null when an ADD could succeed as far as the agent goes, else why not (STATUS) */
  refusal(): Promise<string | null>;
  /** this node's spec.podCIDRs as the agent's cluster state holds them (Kubernetes IPAM mode); throws 11 when the agent cannot say */
  nodePodCidrs(): Promise<NodePodCidrs>;
}

/** The (network, container, interface) triple that owns a lease, a veth pair and an endpoint record. */
export type { Owner } from '../state/endpoint-record.js';

export function ownerOf(ctx: CommandContext): Owner {
  return { network: ctx.conf.name, containerId: ctx.env.containerId ?? '', ifname: ctx.env.ifname ?? '' };
}
