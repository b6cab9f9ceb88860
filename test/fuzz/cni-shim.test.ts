// FUZZ: the native shim (bin/strait, shim/strait.c) on random stdin and commands, in
// agent mode against an agent that is not there and one that echoes; a relative
// agentSocket in the config runs the Node plugin, which refuses it before any effect. Properties: it never crashes (exit 0 or 1),
// stdout is one JSON line or empty and only empty for a queued DEL, the queue holds
// exactly that DEL and no temp file, and what reaches an agent is stdin byte-exact.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeAgent, queuedDel, runShim, type FakeAgent } from '../helpers/shim.js';
import { FUZZ_SEED } from './seed.js';

const CASES = 1000;

let dir: string;
let echo: FakeAgent;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strait-shimfuzz-'));
  // Answers with what it got, so the test can compare it with what was sent.
  echo = await fakeAgent(join(dir, 'echo.sock'), (c) => ({ status: 200, headers: { 'strait-cni-exit': '0' }, body: `${JSON.stringify(JSON.parse(c.body))}\n` }));
});
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

// Never an absolute stateDir: a DEL would be queued there, outside the test's dir.
const keyValue = fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 3 }), fc.constant('/nonexistent/agent.sock'), fc.constant('relative'));
/** Configs with the keys the shim looks for (any value), random JSON, broken JSON, raw bytes. */
const stdin = fc.oneof(
  fc
    .record(
      { cniVersion: fc.oneof(fc.constantFrom('1.1.0', '0.4.0', '1.0', ''), fc.string()), agentSocket: keyValue, stateDir: fc.oneof(fc.jsonValue().filter((v) => !(typeof v === 'string' && v.startsWith('/'))), fc.constant('rel/dir')), agentTimeoutMs: fc.jsonValue(), x: fc.jsonValue({ maxDepth: 6 }) },
      { requiredKeys: [] },
    )
    .map((o) => Buffer.from(JSON.stringify(o))),
  fc.jsonValue({ maxDepth: 8 }).map((v) => Buffer.from(JSON.stringify(v))),
  fc.tuple(fc.jsonValue({ maxDepth: 5 }), fc.nat()).map(([v, cut]) => {
    const s = JSON.stringify(v) ?? '';
    return Buffer.from(s.slice(0, cut % (s.length + 1)));
  }),
  fc.string({ unit: 'binary', maxLength: 300 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
);
const command = fc.constantFrom('ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION', '', 'BOGUS', undefined);

describe('fuzz: the native shim', () => {
  it(`${CASES} random calls: exit 0/1, one JSON line or a queued DEL, stdin byte-exact to the agent`, async () => {
    let n = 0;
    let queued = 0;
    await fc.assert(
      fc.asyncProperty(stdin, command, fc.boolean(), async (input, cmd, reachable) => {
        const stateDir = join(dir, `state-${n++}`);
        mkdirSync(stateDir);
        const socket = reachable ? echo.socket : join(dir, 'absent.sock');
        const env: Record<string, string> = { STRAIT_AGENT_SOCKET: socket, STRAIT_STATE_DIR: stateDir, STRAIT_AGENT_TIMEOUT_MS: '1' };
        if (cmd !== undefined) env.CNI_COMMAND = cmd;
        const before = echo.calls.length;
        const r = await runShim(env, input);
        const lines = r.stdout.split('\n');
        expect([0, 1]).toContain(r.code);
        if (r.stdout === '') {
          // only a DEL that was queued, or that an agent took, prints nothing
          expect([r.code, cmd]).toEqual([0, 'DEL']);
          queued++;
          if (!reachable) expect((queuedDel(stateDir).body as { stdin: string }).stdin).toBe(input.toString('utf8'));
        } else {
          expect([lines.length, lines[1]]).toEqual([2, '']);
          const out = JSON.parse(lines[0]!) as Record<string, unknown>;
          if (r.code === 1) expect([typeof out.code, typeof out.msg, typeof out.cniVersion]).toEqual(['number', 'string', 'string']);
        }
        const agentGot = echo.calls.length > before ? (JSON.parse(echo.calls.at(-1)!.body) as { stdin: string }).stdin : undefined;
        if (agentGot !== undefined) expect(agentGot).toBe(input.toString('utf8'));
        if (!reachable || cmd !== 'DEL') expect(readdirSync(stateDir).filter((f) => f !== 'cni-del-queue')).toEqual([]);
        rmSync(stateDir, { recursive: true, force: true });
      }),
      { seed: FUZZ_SEED, numRuns: CASES },
    );
    // not vacuous: both kinds of case happened
    expect(queued).toBeGreaterThan(10);
    expect(echo.calls.length).toBeGreaterThan(100);
  });
});
