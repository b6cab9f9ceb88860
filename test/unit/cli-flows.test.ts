// straitctl flows, the real bin/straitctl (compiled dist/: `npx tsc -p tsconfig.json`
// first) against a fake agent on a unix socket answering GET /v1/flows as the test says.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { filterFromQuery } from '../../src/flows/filter.js';
import type { FlowsReply } from '../../src/flows/types.js';
import { ctl } from '../helpers/ctl-child.js';
import { fakeFlowAgent, flowRecord, type FakeFlowAgent, type FlowAnswer } from '../helpers/fake-flow-agent.js';

const ROOT = new URL('../..', import.meta.url).pathname;

let dir: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/flows.js'))) throw new Error('dist/ has no straitctl flows: run `npx tsc -p tsconfig.json` first');
  dir = mkdtempSync(join(tmpdir(), 'cli-flows-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const older = flowRecord({ time: '2026-12-01T19:29:59.001Z', src: { ip: '10.244.1.2', port: 40312, pod: 'shop/web-1', identity: 1001 } });
const newer = flowRecord({
  time: '2026-12-01T19:30:00.250Z',
  verdict: 'dropped',
  reason: 'spoof-ip',
  event: 'drop',
  src: { ip: '10.9.9.9', port: 1234, identity: 2 },
  dst: { ip: '10.244.2.3', port: 80, pod: 'shop/a-much-longer-pod-name-than-the-others-7f9c', identity: 1002 },
  policies: undefined,
});
const noLoss = { 'ring-full': 0, 'rate-limited': 0, 'agent-error': 0, 'slow-reader': 0 };

let agent: FakeFlowAgent;
let reply: FlowAnswer;
let n = 0;
beforeEach(async () => {
  reply = { status: 200, body: { flows: [older, newer], lost: noLoss, capacity: 8192 } satisfies FlowsReply };
  agent = await fakeFlowAgent(join(dir, `a${n++}.sock`), () => reply);
});
afterEach(() => agent.close());

const flows = (args: string[]) => ctl(['flows', ...args], agent.socket);

describe('straitctl flows', () => {
  it('GET /v1/flows?last=20 by default; --last N and the filters become the contract query', async () => {
    expect((await flows([])).code).toBe(0);
    expect((await flows(['--last', '5', '--namespace', 'shop', '--verdict', 'denied', '--verdict', 'dropped', '--port', '80'])).code).toBe(0);
    const [plain, filtered] = agent.urls;
    expect(plain!.pathname).toBe('/v1/flows');
    expect([...plain!.searchParams]).toEqual([['last', '20']]);
    expect(filtered!.searchParams.get('last')).toBe('5');
    expect(filtered!.searchParams.has('follow')).toBe(false);
    expect(filterFromQuery(filtered!.searchParams)).toEqual({ namespaces: ['shop'], verdicts: ['denied', 'dropped'], ports: [80] });
  });

  it('-o json: one record a line, oldest first, exactly as the agent sent them', async () => {
    const r = await flows(['-o', 'json']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify(older)}\n${JSON.stringify(newer)}\n`);
    expect(r.stderr).toBe('');
  });

  it('table: oldest first, columns as wide as their widest cell, pod names else the address', async () => {
    const r = await flows([]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^19:29:59\.001\s+allowed\s+new\s+tcp\s+shop\/web-1:40312\s+->\s+shop\/api-0:8080\s+policy\s+shop\/allow-web$/);
    expect(lines[2]).toMatch(/^19:30:00\.250\s+DROPPED\s+drop\s+tcp\s+10\.9\.9\.9:1234\s+->\s+shop\/a-much-longer-pod-name-than-the-others-7f9c:80\s+spoof-ip$/);
    // the REASON column starts after the longest DST, on every line
    const at = lines[0]!.indexOf('REASON');
    expect(at).toBeGreaterThan(lines[2]!.indexOf('shop/a-much-longer') + 'shop/a-much-longer-pod-name-than-the-others-7f9c:80'.length);
    expect(lines[1]!.slice(at)).toBe('policy    shop/allow-web'); // REASON as wide as spoof-ip
    expect(lines[2]!.slice(at)).toBe('spoof-ip');
  });

  it('records lost since the agent started: one stderr line by cause (JSON with -o json); exit 0', async () => {
    reply = { status: 200, body: { flows: [older], lost: { 'ring-full': 3, 'rate-limited': 0, 'slow-reader': 12 }, capacity: 8192 } };
    const t = await flows([]);
    expect(t.code).toBe(0);
    expect(t.stderr).toBe('lost since the agent started: 3 ring-full, 12 slow-reader\n');
    const j = await flows(['-o', 'json']);
    expect(j.code).toBe(0);
    expect(j.stdout).toBe(`${JSON.stringify(older)}\n`);
    expect(j.stderr).toBe(`${JSON.stringify({ lost: { 'ring-full': 3, 'slow-reader': 12 } })}\n`);
  });

  it.each([
    [['--last', '0'], "--last takes a number of records (a positive integer), not '0'"],
    [['--last', 'many'], "--last takes a number of records (a positive integer), not 'many'"],
    [['--namespace', 'a/b'], 'namespace must be a name without "/", not "a/b"'],
    [['--protocol', '300'], 'protocol must be tcp, udp, sctp, icmp, icmpv6 or a number 0..255; not "300"'],
  ])('bad flags %j: exit 2 with the message, no request made', async (args, message) => {
    const r = await flows(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`straitctl flows: ${message}\n`);
    expect(agent.urls).toEqual([]);
  });

  it('no agent: exit 2 with E_AGENT_NOT_RUNNING\'s message', async () => {
    const sock = join(dir, 'nobody.sock');
    const r = await ctl(['flows'], sock);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`straitctl flows: strait-agent is not running: no socket at ${sock}\n`);
  });

  it('the agent refuses, or answers something else: exit 2 saying so', async () => {
    reply = { status: 400, body: { error: { code: 'E_BAD_REQUEST', message: 'last must be a positive integer' } } };
    expect(await flows([])).toMatchObject({ code: 2, stderr: 'straitctl flows: last must be a positive integer\n' });
    reply = { status: 200, body: { flows: [{ time: 'x' }], lost: noLoss, capacity: 1 } };
    const r = await flows([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^straitctl flows: strait-agent on \S+ answered GET \/v1\/flows with something that is not a FlowsReply/);
  });
});
