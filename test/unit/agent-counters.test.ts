// The agent and the datapath's always-on counters, on fakes: `policyOf` reports the
// connections strait_rule_counters_v1 holds for each rule (by the rule id the
// compiler gave it), and a gone endpoint's strait_ep_counters_v1 entries are
// deleted — at DEL, and at start for veths that went while no agent ran.
import { afterEach, describe, expect, it } from 'vitest';
import { adoptDatapath } from '../../src/agent/adopt.js';
import type { AgentCore, AgentStatus } from '../../src/agent/core.js';
import { policyTotals } from '../../src/cli/policy.js';
import type { Capacity } from '../../src/policy/capacity.js';
import type { ClusterState } from '../../src/policy/types.js';
import { capturingLogger, until } from '../helpers/agent-wait.js';
import { FakeNode } from '../helpers/fake-node.js';
import { cluster, node, ns, pod, policy } from '../helpers/policy-builders.js';

const BIG: Capacity = { policy: 1 << 19, ipcache: 1 << 18, cidr: 1 << 16 };
const web = pod('x', 'web', { app: 'web' }, { ips: ['10.244.1.10'] });
const db = pod('x', 'db', { app: 'db' }, { ips: ['10.244.1.11'] });
// Rule ids by "namespace/name", from 1: x/db-in ingress[0] = 1, x/web-out egress[0] = 2.
const STATE: ClusterState = cluster({
  namespaces: [ns('x')],
  pods: [web, db],
  nodes: [node('node-a', ['192.168.1.10'])],
  policies: [
    policy('x', 'db-in', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 80 }] }] }),
    policy('x', 'web-out', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] }),
  ],
});

let cores: AgentCore[] = [];
afterEach(async () => {
  for (const c of cores) await c.close();
  cores = [];
});

async function started(n: FakeNode): Promise<AgentCore> {
  const core = adoptDatapath({ nodeName: 'node-a', log: capturingLogger().log, limit: BIG, retryMs: 5 }, n);
  cores.push(core);
  core.setCluster(STATE, 1);
  await until(core, (s: AgentStatus) => s.synced && s.appliedGeneration === 1);
  return core;
}

function newNode(): FakeNode {
  const n = new FakeNode(BIG);
  n.addPod(11, web);
  n.addPod(12, db);
  return n;
}

describe('agent: counters', () => {
  it("policyOf gives each rule the connections its id counted, and straitctl's totals add a policy's rules", async () => {
    const n = newNode();
    n.maps.ruleCounters.set(1, 5n);
    n.maps.ruleCounters.set(2, 3n);
    n.maps.ruleCounters.set(99, 40n); // no rule has this id now: reported nowhere
    const core = await started(n);
    const reports = core.policyOf(null);
    const rules = reports.flatMap((r) => r.rules.map((rule) => [r.pod, rule.policy, `${rule.direction}[${rule.index}]`, rule.connections]));
    expect(rules.sort()).toEqual([
      ['x/db', 'x/db-in', 'ingress[0]', 5],
      ['x/web', 'x/web-out', 'egress[0]', 3],
    ]);
    expect(policyTotals(reports).map((t) => [t.policy, t.connections])).toEqual([
      ['x/db-in', 5],
      ['x/web-out', 3],
    ]);
    // Read live: a connection counted since is in the next report.
    n.maps.ruleCounters.set(1, 6n);
    expect(core.policyOf('x/db')[0]?.rules[0]?.connections).toBe(6);
  });

  it('a policy that renumbers the others: each rule keeps what it counted, and a reused id starts from zero', async () => {
    const n = newNode();
    const core = await started(n);
    n.maps.ruleCounters.set(1, 5n); // x/db-in
    n.maps.ruleCounters.set(2, 3n); // x/web-out
    // "x/a-first" sorts first: it takes id 1, x/db-in 2, x/web-out 3.
    const first = policy('x', 'a-first', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 81 }] }] });
    core.setCluster({ ...STATE, policies: [...STATE.policies, first] }, 2);
    await until(core, (s: AgentStatus) => s.synced && s.appliedGeneration === 2);
    expect([...n.maps.ruleCounters]).toEqual([]);
    n.maps.ruleCounters.set(2, 1n); // a connection x/db-in allowed under its new id
    expect(policyTotals(core.policyOf(null)).map((t) => [t.policy, t.connections])).toEqual([
      ['x/a-first', 0],
      ['x/db-in', 6],
      ['x/web-out', 3],
    ]);
  });

  it("a DEL deletes that endpoint's counters and no other's", async () => {
    const n = newNode();
    n.maps.epCounters.push(11, 11, 12, 12);
    const core = await started(n);
    const dbId = core.policyOf('x/db')[0]!.endpoint;
    await core.removeEndpoint(dbId);
    expect(n.maps.epCounters).toEqual([11, 11]);
  });

  it('a starting agent deletes the counters of veths that went while none ran', async () => {
    const n = newNode();
    n.maps.epCounters.push(11, 77, 12, 77);
    await started(n);
    expect(n.maps.epCounters).toEqual([11, 12]);
  });
});
