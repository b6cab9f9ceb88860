// The real bin/straitctl (compiled dist/, so run `npx tsc -p tsconfig.json` first)
// against the real API server over a fake core.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../src/agent/api.js';
import { FakeCore, SAMPLE_REPORTS } from '../helpers/fake-core.js';
import { policyTotals } from '../../src/cli/policy.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/straitctl');
const log = pino({ level: 'silent' });

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

// Asynchronous on purpose: the server answering it lives in this process.
function straitctl(args: string[], socket: string | null, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      BIN,
      args,
      { env: { PATH: process.env.PATH, ...(socket === null ? {} : { STRAIT_AGENT_SOCKET: socket }), ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr, ms: Date.now() - t0 });
      },
    );
  });
}

let dir: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/wait.js'))) {
    throw new Error('dist/ has no straitctl wait: run `npx tsc -p tsconfig.json` (or bash scripts/setup.sh) first');
  }
  dir = mkdtempSync(join(tmpdir(), 'straitctl-agent-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let core: FakeCore;
let server: ApiServer | null;
let sock: string;
let n = 0;
beforeEach(async () => {
  core = new FakeCore();
  core.reports = SAMPLE_REPORTS;
  sock = join(dir, `s${n++}.sock`);
  server = await startApiServer({ socketPath: sock, core, log });
});
afterEach(async () => {
  await server?.close();
});

describe('straitctl status', () => {
  it('healthy: prints the summary, map fill and counters, exits 0', async () => {
    const r = await straitctl(['status'], sock);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^synced: source generation 3, applied 3; 1 endpoints, 2 policies\n/);
    expect(r.stdout).toMatch(/strait_policy_v1\s+12\s+524288\s+0%/);
    expect(r.stdout).toMatch(/counters: 0 policy refusals, 0 write failures, 0 ipcache overflows/);
    expect(r.stdout).not.toMatch(/PROBLEM/);
  });

  it('a refused policy: printed with its reason and counted, exit 1; -o json carries the same', async () => {
    core.statusValue = {
      ...core.statusValue,
      problems: [{ kind: 'policy-refused', subject: 'x/broad', message: 'NetworkPolicy x/broad refused: does not fit' }],
      counters: { policyRefusals: 1, writeFailures: 0, ipcacheOverflows: 0 },
    };
    const r = await straitctl(['status'], sock);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/counters: 1 policy refusals/);
    expect(r.stdout).toMatch(/policy-refused\s+x\/broad\s+NetworkPolicy x\/broad refused: does not fit/);
    const j = await straitctl(['status', '-o', 'json'], sock);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual(core.statusValue);
  });

  it('a watching source: each kind with its sync state, resourceVersion, counts and last error; skipped objects listed', async () => {
    const kind = (resource: string, synced: boolean, lastError: string | null) => ({ resource, synced, resourceVersion: '41', objects: 3, invalid: 0, lastError, reconnects: 2, relists: 1, errors: 3 });
    core.statusValue = {
      ...core.statusValue,
      synced: false,
      source: {
        kind: 'kube',
        current: false,
        generation: 3,
        resources: [kind('pods', true, null), { ...kind('networkpolicies', false, 'watch: HTTP 500: boom'), invalid: 1 }],
        problems: ['NetworkPolicy x/bad: spec.ingress: must be a list'],
      },
    };
    const r = await straitctl(['status'], sock);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/RESOURCE\s+SYNCED\s+VERSION\s+OBJECTS\s+INVALID\s+RECONNECTS\s+RELISTS\s+LAST ERROR\n/);
    expect(r.stdout).toMatch(/pods\s+yes\s+41\s+3\s+0\s+2\s+1\s+-\n/);
    expect(r.stdout).toMatch(/networkpolicies\s+no\s+41\s+3\s+1\s+2\s+1\s+watch: HTTP 500: boom\n/);
    expect(r.stdout).toMatch(/skipped: NetworkPolicy x\/bad: spec\.ingress: must be a list\n/);
    // the directory source reports none of it
    core.statusValue = { ...core.statusValue, synced: true, source: undefined };
    expect((await straitctl(['status'], sock)).stdout).not.toMatch(/RESOURCE/);
  });

  it('Services: what is written, what is refused and why, what is left to kube-proxy, and the Service maps\' fill', async () => {
    core.statusValue = {
      ...core.statusValue,
      problems: [{ kind: 'service-refused', subject: 'x/s9', message: 'Service x/s9 refused: does not fit' }],
      services: {
        services: 8,
        servicePorts: 10,
        backends: 24,
        readyBackends: 20,
        refused: [{ service: 'x/s9', reason: 'does not fit: it needs 1 service entries and 3 backends, 0 and 40 are left (of 8 and 64)' }],
        skipped: [{ service: 'x/sctp', reason: 'SCTP port 2905 has another targetPort (2906): left to kube-proxy' }],
        maps: [
          { map: 'strait_lb_services_v1', entries: 8, capacity: 8 },
          { map: 'strait_lb_backends_v1', entries: 24, capacity: 64 },
        ],
        counters: { refusals: 1, writeFailures: 0, purged: 5 },
      },
    };
    const r = await straitctl(['status'], sock);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/services: 8 written \(10 service ports\), 24 backends \(20 ready\); 1 refused, 1 port left to kube-proxy\n/);
    expect(r.stdout).toMatch(/strait_lb_services_v1\s+8\s+8\s+100%\n/);
    expect(r.stdout).toMatch(/strait_lb_backends_v1\s+24\s+64\s+38%\n/);
    expect(r.stdout).toMatch(/refused: x\/s9: does not fit: it needs 1 service entries/);
    expect(r.stdout).toMatch(/left to kube-proxy: x\/sctp: SCTP port 2905/);
    expect(r.stdout).toMatch(/service counters: 1 refusals, 0 write failures, 5 connection entries purged/);
    const j = await straitctl(['status', '-o', 'json'], sock);
    expect(JSON.parse(j.stdout)).toEqual(core.statusValue);
    // An agent that keeps no Services (or an older one) prints no such section.
    core.statusValue = { ...core.statusValue, problems: [], services: undefined };
    expect((await straitctl(['status'], sock)).stdout).not.toMatch(/services:/);
  });

  it('nodes: each with its pod CIDRs, InternalIPs and state; a refused one is a problem, exit 1', async () => {
    const why = 'has no InternalIP in status.addresses';
    core.statusValue = {
      ...core.statusValue,
      nodes: [
        { name: 'n1', self: true, podCIDRs: ['198.18.101.0/24', 'fd5a:1ab:1::/64'], internalIPs: ['198.18.0.11'], state: 'ok', reason: null },
        { name: 'n2', self: false, podCIDRs: ['198.18.102.0/24'], internalIPs: [], state: 'refused', reason: why },
      ],
      problems: [{ kind: 'node-invalid', subject: 'node n2', message: `Node n2 ${why}: its pods are unreachable from this node until that is fixed` }],
    };
    const r = await straitctl(['status'], sock);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/NODE\s+POD CIDRS\s+INTERNAL IPS\s+STATE\n/);
    expect(r.stdout).toMatch(/n1 \(this node\)\s+198\.18\.101\.0\/24,fd5a:1ab:1::\/64\s+198\.18\.0\.11\s+ok\n/);
    expect(r.stdout).toMatch(/n2\s+198\.18\.102\.0\/24\s+-\s+refused: has no InternalIP in status\.addresses\n/);
    expect(r.stdout).toMatch(/node-invalid\s+node n2\s+Node n2 has no InternalIP/);
    // a one-node cluster (no Node objects) prints no node table
    core.statusValue = { ...core.statusValue, nodes: [], problems: [] };
    expect((await straitctl(['status'], sock)).stdout).not.toMatch(/NODE/);
  });

  it('exits 2 when the agent cannot be reached', async () => {
    const r = await straitctl(['status'], join(dir, 'absent.sock'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^straitctl status: strait-agent is not running/);
  });
});

describe('straitctl wait --synced', () => {
  it('exits 0 at once when the agent is synced', async () => {
    const r = await straitctl(['wait', '--synced'], sock);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('synced: generation 3, 1 endpoints, 2 policies\n');
  });

  it('polls until the agent becomes synced', async () => {
    core.statusValue = { ...core.statusValue, synced: false, appliedGeneration: 2 };
    setTimeout(() => (core.statusValue = { ...core.statusValue, synced: true, appliedGeneration: 3 }), 300);
    const r = await straitctl(['wait', '--synced', '--timeout', '10'], sock);
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });

  it('exits 1 when the agent is reachable but not synced in time', async () => {
    core.statusValue = { ...core.statusValue, synced: false, appliedGeneration: 2, lastError: 'map full' };
    const r = await straitctl(['wait', '--synced', '--timeout', '0.3'], sock);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('straitctl wait: not synced after 0.3 s (source generation 3, applied 2, last error: map full)\n');
  });

  it('exits 2 when no agent answers until the timeout, naming the socket', async () => {
    const none = join(dir, 'absent.sock');
    const r = await straitctl(['wait', '--synced', '--timeout', '0.3'], none);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`straitctl wait: agent not reachable within 0.3 s: strait-agent is not running: no socket at ${none}\n`);
  });

  it('waits for an agent that starts later', async () => {
    await server!.close();
    server = null;
    setTimeout(() => {
      void startApiServer({ socketPath: sock, core, log }).then((s) => (server = s));
    }, 300);
    const r = await straitctl(['wait', '--synced', '--timeout', '10'], sock);
    expect(r.code).toBe(0);
  });

  it('--socket wins over STRAIT_AGENT_SOCKET', async () => {
    const r = await straitctl(['wait', '--synced', '--timeout', '2', '--socket', sock], join(dir, 'wrong.sock'));
    expect(r.code).toBe(0);
  });

  it.each([
    [['wait'], 'straitctl wait: say what to wait for: --synced\n'],
    [['wait', '--synced', '--timeout', 'soon'], "straitctl wait: --timeout takes seconds (a positive number), not 'soon'\n"],
    [['wait', '--synced', '--timeout', '0'], "straitctl wait: --timeout takes seconds (a positive number), not '0'\n"],
  ])('usage errors exit 2: %j', async (args, stderr) => {
    const r = await straitctl(args, sock);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(stderr);
  });

  it('an unknown flag exits 2', async () => {
    const r = await straitctl(['wait', '--synced', '--bogus'], sock);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^straitctl wait: .*--bogus/);
  });
});

describe('straitctl policy', () => {
  it('prints every endpoint and its rules with the connections each allowed, then each policy\'s total', async () => {
    const r = await straitctl(['policy'], sock);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ENDPOINT\s+POD\s+ISOLATION\s+POLICY\s+DIRECTION\s+PEERS\s+PORTS\s+CONNECTIONS$/);
    expect(lines[1]).toMatch(/^strait\/c0ffee\/eth0\s+x\/web\s+ingress\s+x\/allow-client\s+ingress\[0\]\s+pods app=client in ns x\s+TCP\/80\s+12$/);
    expect(lines[2]).toMatch(/^\s+x\/allow-mon\s+ingress\[1\]\s+ns team=mon; 10\.0\.0\.0\/8 except 10\.1\.0\.0\/16\s+any\s+0$/);
    expect(lines[3]).toMatch(/^strait\/beef\/eth0\s+y\/db\s+none\s+-\s+-\s+-\s+-\s+-$/);
    expect(lines[4]).toBe('');
    expect(lines[5]).toMatch(/^POLICY\s+CONNECTIONS\s+BY RULE$/);
    expect(lines[6]).toMatch(/^x\/allow-client\s+12\s+ingress\[0\]=12$/);
    expect(lines[7]).toMatch(/^x\/allow-mon\s+0\s+ingress\[1\]=0$/);
    expect(lines).toHaveLength(8);
    expect(core.policyQueries).toEqual([null]);
  });

  it('a policy\'s total counts each of its rules once, however many endpoints list it', () => {
    const rule = (policy: string, direction: 'ingress' | 'egress', index: number, connections: number) => ({ direction, policy, index, peers: [], ports: [], connections });
    const ep = (endpoint: string, rules: ReturnType<typeof rule>[]) => ({ endpoint, pod: null, ips: [], identity: 0, ingressIsolated: true, egressIsolated: true, rules });
    const totals = policyTotals([
      ep('a', [rule('x/p', 'ingress', 0, 5), rule('x/p', 'egress', 0, 3)]),
      ep('b', [rule('x/p', 'ingress', 0, 5), rule('w/q', 'ingress', 0, 7)]),
    ]);
    expect(totals.map((t) => [t.policy, t.connections, [...t.rules]])).toEqual([
      ['w/q', 7, [['ingress[0]', 7]]],
      ['x/p', 8, [['ingress[0]', 5], ['egress[0]', 3]]],
    ]);
  });

  it('one pod, and -o json', async () => {
    const r = await straitctl(['policy', 'y/db', '-o', 'json'], sock);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([SAMPLE_REPORTS[1]]);
    expect(core.policyQueries).toEqual(['y/db']);
  });

  it('a pod without an endpoint here exits 1', async () => {
    const r = await straitctl(['policy', 'y/nope'], sock);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('straitctl policy: no endpoint of pod y/nope on this node\n');
  });

  it('no endpoints at all is not an error', async () => {
    core.reports = [];
    const r = await straitctl(['policy'], sock);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no endpoints on this node\n');
  });

  it('a malformed pod exits 2; so does an unreachable agent', async () => {
    const bad = await straitctl(['policy', 'web'], sock);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("straitctl policy: a pod is NAMESPACE/NAME, not 'web'\n");
    const none = join(dir, 'absent.sock');
    const down = await straitctl(['policy'], none);
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(`straitctl policy: strait-agent is not running: no socket at ${none}\n`);
  });
});

describe('straitctl explain', () => {
  it('allow: verdict, reason and steps; exit 0', async () => {
    core.explainResult = {
      verdict: 'allow',
      reason: 'x/allow-client ingress[0]',
      steps: ['src 198.18.1.2 is pod y/client (identity 257)', 'egress of y/client: not isolated', 'ingress of x/web: allowed by x/allow-client ingress[0]'],
    };
    const r = await straitctl(['explain', '198.18.1.2', '198.18.1.3', 'tcp/80'], sock);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'ALLOW  198.18.1.2 -> 198.18.1.3 TCP/80\n' +
        'reason: x/allow-client ingress[0]\n' +
        '  1. src 198.18.1.2 is pod y/client (identity 257)\n' +
        '  2. egress of y/client: not isolated\n' +
        '  3. ingress of x/web: allowed by x/allow-client ingress[0]\n',
    );
    expect(core.explains).toEqual([{ src: '198.18.1.2', dst: '198.18.1.3', protocol: 'TCP', port: 80 }]);
  });

  it('deny exits 1; -o json prints the result', async () => {
    core.explainResult = { verdict: 'deny', reason: 'ingress of x/web is isolated', steps: ['no rule matches'] };
    const r = await straitctl(['explain', '198.18.1.2', '198.18.1.3', 'UDP/53', '-o', 'json'], sock);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual(core.explainResult);
    expect(core.explains[0]!.protocol).toBe('UDP');
  });

  it.each([
    [['explain', '198.18.1.2', '198.18.1.3', 'tcp/0'], 'straitctl explain: port: "0" is not a port number (1-65535)\n'],
    [['explain', '198.18.1.2', 'db', 'tcp/80'], 'straitctl explain: dst: "db" is not an IPv4 or IPv6 address\n'],
    [['explain', '198.18.1.2', '198.18.1.3', 'icmp/1'], 'straitctl explain: proto: "icmp" is not one of tcp, udp, sctp\n'],
    [['explain', '198.18.1.2', '198.18.1.3', 'tcp:80'], "straitctl explain: 'tcp:80' is not PROTO/PORT (e.g. tcp/80, udp/53, sctp/9)\n"],
    [['explain', '198.18.1.2', '198.18.1.3'], 'straitctl explain: usage: straitctl explain SRC DST PROTO/PORT (e.g. 198.18.1.2 198.18.1.3 tcp/80)\n'],
  ])('errors exit 2: %j', async (args, stderr) => {
    const r = await straitctl(args, sock);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(stderr);
    expect(r.stdout).toBe('');
  });
});
