// straitctl policy [NS/POD]: what the agent enforces on each local endpoint, rule by
// rule, with the NetworkPolicy each rule comes from and the new connections each
// rule allowed on this node; then each NetworkPolicy's total (the sum of its rules).
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

export interface PolicyTotal {
  /** "namespace/name" */
  policy: string;
  /** the sum of its rules' counts */
  connections: number;
  /** "ingress[0]" → connections, in the order the rules first appear */
  rules: Map<string, number>;
}

/**
 * New connections each NetworkPolicy allowed: every rule once (a rule counts for all
 * the endpoints it applies to, so one that several endpoints list is not summed twice).
 */
export function policyTotals(reports: readonly EndpointPolicyReport[]): PolicyTotal[] {
  const byPolicy = new Map<string, PolicyTotal>();
  for (const rule of reports.flatMap((r) => r.rules)) {
    let total = byPolicy.get(rule.policy);
    if (total === undefined) byPolicy.set(rule.policy, (total = { policy: rule.policy, connections: 0, rules: new Map() }));
    const name = `${rule.direction}[${rule.index}]`;
    if (total.rules.has(name)) continue;
    total.rules.set(name, rule.connections);
    total.connections += rule.connections;
  }
  return [...byPolicy.values()].sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0));
}

function printTotals(reports: readonly EndpointPolicyReport[]): void {
  const totals = policyTotals(reports);
  if (totals.length === 0) return;
  console.log('');
  const rows: string[][] = [['POLICY', 'CONNECTIONS', 'BY RULE']];
  for (const t of totals) rows.push([t.policy, String(t.connections), [...t.rules].map(([name, n]) => `${name}=${n}`).join(' ')]);
  printTable(rows);
}

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
      const rows: string[][] = [['ENDPOINT', 'POD', 'ISOLATION', 'POLICY', 'DIRECTION', 'PEERS', 'PORTS', 'CONNECTIONS']];
      for (const r of reports) {
        const head = [r.endpoint, r.pod ?? '-', isolationOf(r)];
        if (r.rules.length === 0) rows.push([...head, '-', '-', '-', '-', '-']);
        r.rules.forEach((rule, i) => {
          rows.push([...(i === 0 ? head : ['', '', '']), rule.policy, `${rule.direction}[${rule.index}]`, list(rule.peers), list(rule.ports), String(rule.connections)]);
        });
      }
      printTable(rows);
      printTotals(reports);
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
