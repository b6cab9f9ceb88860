// straitctl policy [NS/POD]: what the agent enforces on each local endpoint, rule by
// rule, with the NetworkPolicy each rule comes from.
import { agentRequest, expectOk } from '../agent/client.js';
import type { EndpointPolicyReport } from '../agent/core.js';
import { UsageError } from '../errors.js';
import { parseAgentCli, runAgentCommand } from './agent-common.js';
import { printTable } from './options.js';

export function isolationOf(r: EndpointPolicyReport): string {
  if (r.ingressIsolated && r.egressIsolated) return 'ingress+egress';
  if (r.ingressIsolated) return 'ingress';
  if (r.egressIsolated) return 'egress';
  return 'none';
}

const list = (xs: string[]): string => (xs.length === 0 ? 'any' : xs.join('; '));

export function policy(argv: string[]): Promise<number> {
  return runAgentCommand('policy', async () => {
    const opts = parseAgentCli(argv);
    if (opts.positionals.length > 1) throw new UsageError(`takes at most one pod (NS/POD), got ${opts.positionals.length} arguments`);
    const pod = opts.positionals[0] ?? null;
    if (pod !== null && !/^[^/]+\/[^/]+$/.test(pod)) throw new UsageError(`a pod is NAMESPACE/NAME, not '${pod}'`);
    const path = pod === null ? '/v1/policy' : `/v1/policy?pod=${encodeURIComponent(pod)}`;
    const reports = expectOk<EndpointPolicyReport[]>(await agentRequest(opts.socketPath, 'GET', path));
    if (opts.output === 'json') {
      console.log(JSON.stringify(reports, null, 2));
    } else if (reports.length > 0) {
      const rows: string[][] = [['ENDPOINT', 'POD', 'ISOLATION', 'POLICY', 'DIRECTION', 'PEERS', 'PORTS']];
      for (const r of reports) {
        const head = [r.endpoint, r.pod ?? '-', isolationOf(r)];
        if (r.rules.length === 0) rows.push([...head, '-', '-', '-', '-']);
        r.rules.forEach((rule, i) => {
          rows.push([...(i === 0 ? head : ['', '', '']), rule.policy, `${rule.direction}[${rule.index}]`, list(rule.peers), list(rule.ports)]);
        });
      }
      printTable(rows);
    }
    if (reports.length === 0) {
      if (pod !== null) {
        process.stderr.write(`straitctl policy: no endpoint of pod ${pod} on this node\n`);
        return 1;
      }
      if (opts.output === 'table') console.log('no endpoints on this node');
    }
    return 0;
  });
}
