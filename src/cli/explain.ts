// straitctl explain SRC DST PROTO/PORT: the verdict the datapath gives that packet,
// and why. Exit 0 for allow, 1 for deny, 2 when there is no verdict.
import { agentRequest, expectOk } from '../agent/client.js';
import type { ExplainResult } from '../agent/core.js';
import { UsageError } from '../errors.js';
import { parseAgentCli, runAgentCommand } from './agent-common.js';

export function explain(argv: string[]): Promise<number> {
  return runAgentCommand('explain', async () => {
    const opts = parseAgentCli(argv);
    const [src, dst, pp, ...rest] = opts.positionals;
    if (src === undefined || dst === undefined || pp === undefined || rest.length > 0) {
      throw new UsageError('usage: straitctl explain SRC DST PROTO/PORT (e.g. 198.18.1.2 198.18.1.3 tcp/80)');
    }
    const m = /^([A-Za-z]+)\/(\d+)$/.exec(pp);
    if (m === null) throw new UsageError(`'${pp}' is not PROTO/PORT (e.g. tcp/80, udp/53, sctp/9)`);
    const q = new URLSearchParams({ src, dst, proto: m[1]!.toLowerCase(), port: m[2]! });
    const result = expectOk<ExplainResult>(await agentRequest(opts.socketPath, 'GET', `/v1/explain?${q.toString()}`));
    if (opts.output === 'json') {
      console.log(JSON.stringify(result, null, 2));
    } else {
      console.log(`${result.verdict.toUpperCase()}  ${src} -> ${dst} ${m[1]!.toUpperCase()}/${m[2]}`);
      console.log(`reason: ${result.reason}`);
      result.steps.forEach((s, i) => console.log(`  ${i + 1}. ${s}`));
    }
    return result.verdict === 'allow' ? 0 : 1;
  });
}
