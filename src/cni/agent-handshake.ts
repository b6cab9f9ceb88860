// Fail closed: with an agent configured, a new endpoint's map entries are written
// without READY (the datapath drops its packets) and ADD asks the agent to write its
// policy and mark it ready. ADD returns only once that is done, within a bounded
// wait, else CNI code 11 so the runtime tries again later.
import { agentRequest } from '../agent/client.js';
import type { LocalEndpoint } from '../policy/types.js';
import { StraitError } from '../errors.js';

const DEFAULT_TIMEOUT_MS = 10_000;

function timeoutMs(env: NodeJS.ProcessEnv): number {
  const v = Number(env.STRAIT_AGENT_TIMEOUT_MS);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_TIMEOUT_MS;
}

/** null when the agent answered 200, else why not (no answer, or what it answered). */
export async function agentRefusal(socket: string, method: string, path: string, body: unknown, ms: number): Promise<string | null> {
  try {
    const r = await agentRequest(socket, method, path, body, { timeoutMs: ms });
    return r.status === 200 ? null : `agent answered ${r.status}: ${JSON.stringify(r.json)}`;
  } catch (err) {
    return (err as Error).message;
  }
}

export async function awaitAgentReady(socket: string, ep: LocalEndpoint, env: NodeJS.ProcessEnv): Promise<void> {
  const ms = timeoutMs(env);
  const reason = await agentRefusal(socket, 'POST', '/v1/endpoints', ep, ms);
  if (reason === null) return;
  throw new StraitError(
    'E_AGENT_NOT_READY',
    `the strait agent did not make endpoint ${ep.id} ready within ${ms} ms`,
    { details: reason },
  );
}

/** DEL tells the agent, but never fails because of it: the agent may be down. */
export async function tellAgentGone(socket: string, id: string): Promise<void> {
  try {
    await agentRequest(socket, 'DELETE', `/v1/endpoints/${encodeURIComponent(id)}`, undefined, { timeoutMs: 2000 });
  } catch {
    // The agent reconciles from the endpoint records when it (re)starts.
  }
}
