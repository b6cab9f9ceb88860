// straitctl status: is the agent's datapath what its source says, and if not, what
// is not and why (a policy refused because it does not fit, a full ipcache, a map
// write that keeps failing, a Node missing or refused, no uplink, a Service refused),
// with how full each map is, every Node and whether this node routes to it, the
// Services written into the datapath, and the counters. Exit 0
// when nothing is wrong, 1 when the agent reports a problem or is not synced, 2
// when it cannot be reached.
import { agentRequest, expectOk } from '../agent/client.js';
import type { AgentStatus, MapFill } from '../agent/core.js';
import type { ServicesStatus } from '../lb/sync.js';
import { UsageError } from '../errors.js';
import { parseAgentCli, runAgentCommand } from './agent-common.js';
import { printTable } from './options.js';

const fillTable = (maps: readonly MapFill[]): void =>
  printTable([['MAP', 'ENTRIES', 'CAPACITY', 'USED'], ...maps.map((m) => [m.map, String(m.entries), String(m.capacity), `${Math.round((100 * m.entries) / m.capacity)}%`])]);

function printServices(svc: ServicesStatus): void {
  const ports = svc.skipped.length === 1 ? 'port' : 'ports';
  console.log(`\nservices: ${svc.services} written (${svc.servicePorts} service ports), ${svc.backends} backends (${svc.readyBackends} ready); ${svc.refused.length} refused, ${svc.skipped.length} ${ports} left to kube-proxy`);
  fillTable(svc.maps);
  for (const r of svc.refused) console.log(`refused: ${r.service}: ${r.reason}`);
  for (const k of svc.skipped) console.log(`left to kube-proxy: ${k.service}: ${k.reason}`);
  const c = svc.counters;
  console.log(`service counters: ${c.refusals} refusals, ${c.writeFailures} write failures, ${c.purged} connection entries purged`);
}

export function status(argv: string[]): Promise<number> {
  return runAgentCommand('status', async () => {
    const opts = parseAgentCli(argv);
    if (opts.positionals.length > 0) throw new UsageError(`unexpected argument '${opts.positionals[0]}'`);
    const s = expectOk<AgentStatus>(await agentRequest(opts.socketPath, 'GET', '/v1/status'));
    const healthy = s.synced && s.problems.length === 0;
    if (opts.output === 'json') {
      console.log(JSON.stringify(s, null, 2));
      return healthy ? 0 : 1;
    }
    console.log(`${s.synced ? 'synced' : 'not synced'}: source generation ${s.sourceGeneration}, applied ${s.appliedGeneration}; ${s.endpoints} endpoints, ${s.policies} policies`);
    if (s.lastError !== null) console.log(`last error: ${s.lastError}`);
    if (s.maps.length > 0) {
      console.log('');
      fillTable(s.maps);
    }
    // Absent from an older agent's answer; empty for a one-node cluster (no Node objects).
    const nodes = (s.nodes as AgentStatus['nodes'] | undefined) ?? [];
    if (nodes.length > 0) {
      console.log('');
      const list = (xs: string[]): string => (xs.length === 0 ? '-' : xs.join(','));
      printTable([
        ['NODE', 'POD CIDRS', 'INTERNAL IPS', 'STATE'],
        ...nodes.map((n) => [n.self ? `${n.name} (this node)` : n.name, list(n.podCIDRs), list(n.internalIPs), n.state === 'ok' ? 'ok' : `refused: ${n.reason ?? ''}`]),
      ]);
    }
    const sync = s.source;
    if (sync !== undefined) {
      console.log('');
      printTable([
        ['RESOURCE', 'SYNCED', 'VERSION', 'OBJECTS', 'INVALID', 'RECONNECTS', 'RELISTS', 'LAST ERROR'],
        ...sync.resources.map((r) => [r.resource, r.synced ? 'yes' : 'no', r.resourceVersion || '-', String(r.objects), String(r.invalid), String(r.reconnects), String(r.relists), r.lastError ?? '-']),
      ]);
      for (const p of sync.problems) console.log(`skipped: ${p}`);
    }
    const c = s.counters;
    console.log(`\ncounters: ${c.policyRefusals} policy refusals, ${c.writeFailures} write failures, ${c.ipcacheOverflows} ipcache overflows`);
    // Absent from an agent that keeps no Services (an older one).
    if (s.services !== undefined) printServices(s.services);
    if (s.problems.length > 0) {
      console.log('');
      printTable([['PROBLEM', 'SUBJECT', 'DETAIL'], ...s.problems.map((p) => [p.kind, p.subject, p.message])]);
    }
    return healthy ? 0 : 1;
  });
}
