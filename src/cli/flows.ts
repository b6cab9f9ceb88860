// straitctl flows: the newest N records of the agent's flow buffer (GET /v1/flows?last=N),
// oldest first, as a table or as monitor's JSON lines; then, on stderr, what was lost
// since the agent started, if anything was.
import { agentRequest, expectOk } from '../agent/client.js';
import { filterToQuery } from '../flows/filter.js';
import type { LostCause } from '../flows/types.js';
import { StraitError, UsageError } from '../errors.js';
import { parseAgentCli, runAgentCommand } from './agent-common.js';
import { FILTER_FLAGS, filterFromFlags } from './flow-flags.js';
import { FLOW_HEADER, flowCells, isFlowsReply } from './flow-format.js';
import { printTable } from './options.js';

const DEFAULT_LAST = 20;

export function flows(argv: string[]): Promise<number> {
  return runAgentCommand('flows', async () => {
    const opts = parseAgentCli(argv, { ...FILTER_FLAGS, last: { type: 'string' } });
    if (opts.positionals.length > 0) throw new UsageError(`unexpected argument '${opts.positionals[0]}'`);
    const lastText = typeof opts.values.last === 'string' ? opts.values.last : String(DEFAULT_LAST);
    if (!/^[1-9]\d*$/.test(lastText)) throw new UsageError(`--last takes a number of records (a positive integer), not '${lastText}'`);
    const query = filterToQuery(filterFromFlags(opts.values), new URLSearchParams({ last: lastText }));

    const reply = expectOk<unknown>(await agentRequest(opts.socketPath, 'GET', `/v1/flows?${query.toString()}`));
    if (!isFlowsReply(reply)) {
      throw new StraitError('E_AGENT_PROTOCOL', `strait-agent on ${opts.socketPath} answered GET /v1/flows with something that is not a FlowsReply`, { details: JSON.stringify(reply).slice(0, 200) });
    }
    if (opts.output === 'json') {
      for (const r of reply.flows) process.stdout.write(`${JSON.stringify(r)}\n`);
    } else {
      printTable([FLOW_HEADER, ...reply.flows.map(flowCells)]);
    }
    const lost = Object.entries(reply.lost).filter(([, n]) => n > 0) as [LostCause, number][];
    if (lost.length > 0) {
      const counts = Object.fromEntries(lost);
      process.stderr.write(
        opts.output === 'json' ? `${JSON.stringify({ lost: counts })}\n` : `lost since the agent started: ${lost.map(([cause, n]) => `${n} ${cause}`).join(', ')}\n`,
      );
    }
    return 0;
  });
}
