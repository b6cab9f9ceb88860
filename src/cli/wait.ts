// straitctl wait --synced: block until the agent has written everything its source
// holds (scripts run it between starting an agent and starting pods). Exit 0 when
// synced, 1 when the agent answered but was not synced in time, 2 when it could not
// be reached at all.
import { agentRequest, expectOk } from '../agent/client.js';
import type { AgentStatus } from '../agent/core.js';
import { UsageError } from '../errors.js';
import { parseAgentCli, runAgentCommand } from './agent-common.js';

const POLL_MS = 50;

export function wait(argv: string[]): Promise<number> {
  return runAgentCommand('wait', async () => {
    const opts = parseAgentCli(argv, { synced: { type: 'boolean' }, timeout: { type: 'string' } });
    if (opts.values.synced !== true) throw new UsageError('say what to wait for: --synced');
    if (opts.positionals.length > 0) throw new UsageError(`unexpected argument '${opts.positionals[0]}'`);
    const timeoutText = typeof opts.values.timeout === 'string' ? opts.values.timeout : '30';
    const timeoutS = /^\d+(\.\d+)?$/.test(timeoutText) ? Number(timeoutText) : NaN;
    if (!(timeoutS > 0)) throw new UsageError(`--timeout takes seconds (a positive number), not '${timeoutText}'`);

    const deadline = Date.now() + timeoutS * 1000;
    let lastStatus: AgentStatus | null = null;
    let lastFailure = 'no attempt made';
    for (;;) {
      const left = deadline - Date.now();
      try {
        const res = await agentRequest(opts.socketPath, 'GET', '/v1/status', undefined, { timeoutMs: Math.max(100, Math.min(left, 2000)) });
        const status = expectOk<AgentStatus>(res);
        if (status.synced) {
          if (opts.output === 'json') console.log(JSON.stringify(status, null, 2));
          else console.log(`synced: generation ${status.appliedGeneration}, ${status.endpoints} endpoints, ${status.policies} policies`);
          return 0;
        }
        lastStatus = status;
      } catch (e) {
        lastFailure = (e as Error).message;
      }
      const pause = Math.min(POLL_MS, deadline - Date.now());
      if (pause <= 0) break;
      await new Promise((r) => setTimeout(r, pause));
    }
    // An agent that answered at least once is reachable: not being synced is the news.
    if (lastStatus === null) {
      process.stderr.write(`straitctl wait: agent not reachable within ${timeoutText} s: ${lastFailure}\n`);
      return 2;
    }
    const s = lastStatus;
    process.stderr.write(
      `straitctl wait: not synced after ${timeoutText} s (source generation ${s.sourceGeneration}, applied ${s.appliedGeneration}` +
        `${s.lastError === null ? '' : `, last error: ${s.lastError}`})\n`,
    );
    return 1;
  });
}
