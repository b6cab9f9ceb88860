// Fail closed: with an agent, a new endpoint's map entries are written without READY
// (the datapath drops its packets) and ADD asks the agent to write its policy and
// mark it ready. ADD returns only once that is done, within a bounded wait, else CNI
// code 11 so the runtime tries again later. Inside the agent the link is a call into
// its core (src/agent/cni-service.ts); a plugin process run directly with a config
// naming an agent asks it over its socket (here).
import type { AgentLink } from './context.js';
import type { NetConf } from './config.js';
import type { LocalEndpoint } from '../policy/types.js';
import { StraitError } from '../errors.js';
import type { NodePodCidrs } from '../cluster/nodes.js';

const DEFAULT_READY_WAIT_MS = 10_000;

/** How long ADD waits for the agent: the config's agentTimeoutMs, else STRAIT_AGENT_TIMEOUT_MS, else 10 s. */
export function readyWaitMs(conf: NetConf, env: NodeJS.ProcessEnv): number {
  if (conf.agentTimeoutMs !== null) return conf.agentTimeoutMs;
  const v = Number(env.STRAIT_AGENT_TIMEOUT_MS);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_READY_WAIT_MS;
}

export function notReady(ep: LocalEndpoint, ms: number, reason: string): StraitError {
  return new StraitError('E_AGENT_NOT_READY', `the strait agent did not make endpoint ${ep.id} ready within ${ms} ms`, { details: reason });
}

/** The agent behind a unix socket, through its API. */
export function httpAgentLink(socket: string, ms: number): AgentLink {
  return {
    where: socket,
    async ready(ep) {
      const reason = await refusal(socket, 'POST', '/v1/endpoints', ep, ms);
      if (reason !== null) throw notReady(ep, ms, reason);
    },
    async gone(id) {
      try {
        const { agentRequest } = await import('../agent/client.js');
        await agentRequest(socket, 'DELETE', `/v1/endpoints/${encodeURIComponent(id)}`, undefined, { timeoutMs: 2000 });
      } catch {
        // The agent reconciles from the endpoint records when it (re)starts.
      }
    },
    refusal: () => refusal(socket, 'GET', '/v1/status', undefined, 2000),
    async nodePodCidrs() {
      // Its failures (no answer, or an agent of another build) are all 11: ask again later.
      const { agentRequest, expectOk } = await import('../agent/client.js');
      const body = expectOk<unknown>(await agentRequest(socket, 'GET', '/v1/node', undefined, { timeoutMs: 2000 }));
      if (!isNodePodCidrs(body)) {
        throw new StraitError('E_AGENT_FAILED', `strait-agent on ${socket} answered GET /v1/node with something that is not {node, podCIDRs}`, { details: JSON.stringify(body).slice(0, 200) });
      }
      return body;
    },
  };
}

function isNodePodCidrs(v: unknown): v is NodePodCidrs {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const cidrs = o.podCIDRs;
  return typeof o.node === 'string' && (cidrs === null || (Array.isArray(cidrs) && cidrs.every((c) => typeof c === 'string')));
}

/** null when the agent answered 200, else why not (no answer, or what it answered). */
async function refusal(socket: string, method: string, path: string, body: unknown, ms: number): Promise<string | null> {
  try {
    const { agentRequest } = await import('../agent/client.js');
    const r = await agentRequest(socket, method, path, body, { timeoutMs: ms });
    return r.status === 200 ? null : `agent answered ${r.status}: ${JSON.stringify(r.json)}`;
  } catch (err) {
    return (err as Error).message;
  }
}
