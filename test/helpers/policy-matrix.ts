// The conformance matrix's runner: writes a scenario's policies, waits until every
// agent has applied them, sends every probe (each pod to every other, TCP and UDP 80
// and 81) and reports the probes whose verdict is not the scenario's. The caller
// asserts; the runner only measures, so one runner serves one node and several.
import { np, PODS, PORTS, ref, sel, writePolicies, type MatrixCluster, type MatrixPod, type MatrixProbe } from './policy-matrix-objects.js';
import type { Scenario } from './policy-scenarios.js';

export function allProbes<P extends MatrixPod>(c: MatrixCluster<P>): MatrixProbe<P>[] {
  const out: MatrixProbe<P>[] = [];
  for (const from of c.pods) {
    for (const to of c.pods) {
      if (from === to) continue;
      for (const [proto, port] of PORTS) out.push({ from, to, proto, port });
    }
  }
  return out;
}

/** Runs one scenario; returns one line per probe with the wrong verdict (empty: the scenario holds). */
export async function runScenario<P extends MatrixPod>(c: MatrixCluster<P>, s: Scenario): Promise<string[]> {
  s.before?.(c);
  writePolicies(c, s.policies(c));
  await c.waitSynced();
  try {
    const probes = allProbes(c);
    const got = await c.probe(probes);
    return probes
      .map((p, i) => ({ p, got: got[i]!, want: s.expect(ref(p.from), ref(p.to), p.proto, p.port) }))
      .filter((r) => r.got !== r.want)
      .map((r) => `${ref(r.p.from)} -> ${ref(r.p.to)} ${r.p.proto}/${r.p.port}: got ${r.got ? 'allowed' : 'blocked'}, want ${r.want ? 'allowed' : 'blocked'}`);
  } finally {
    s.after?.(c);
  }
}

export interface ChurnResult {
  /** probe rounds sent while the policies changed */
  rounds: number;
  /** the rounds in which an allowed probe was not answered */
  failures: string[];
}

/**
 * y/a probes y/b (TCP 80, UDP 81) in a loop while eight policy sets that do not
 * concern that traffic replace each other, each waited for: a recompile must never
 * interrupt allowed traffic.
 */
export async function churn<P extends MatrixPod>(c: MatrixCluster<P>): Promise<ChurnResult> {
  const [from, to] = [c.pod('y/a'), c.pod('y/b')];
  let stop = false;
  const failures: string[] = [];
  let rounds = 0;
  const loop = (async () => {
    while (!stop) {
      const res = await c.probe([
        { from, to, proto: 'tcp', port: 80 },
        { from, to, proto: 'udp', port: 81 },
      ]);
      rounds++;
      if (!res.every(Boolean)) failures.push(`round ${rounds}: ${JSON.stringify(res)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    for (let i = 0; i < 8; i++) {
      writePolicies(c, [
        np('x', `churn-${i}`, { podSelector: sel({ pod: PODS[i % 3]! }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'z' }) }], ports: [{ port: 80 + (i % 2) }] }] }),
        np('z', `churn-out-${i}`, { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `198.18.${i}.0/24` } }] }] }),
      ]);
      await c.waitSynced();
    }
  } finally {
    // a sync that fails must not leave the probe loop running
    stop = true;
    await loop;
  }
  return { rounds, failures };
}
