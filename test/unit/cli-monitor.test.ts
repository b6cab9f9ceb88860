// straitctl monitor, the real bin/straitctl (compiled dist/: `npx tsc -p tsconfig.json`
// first) against a fake agent on a unix socket that streams what each test writes.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentStream } from '../../src/agent/stream-client.js';
import { filterFromQuery } from '../../src/flows/filter.js';
import type { LostNotice } from '../../src/flows/types.js';
import { ctl, runCtl, type CtlChild } from '../helpers/ctl-child.js';
import { fakeFlowAgent, flowRecord, type FakeFlowAgent } from '../helpers/fake-flow-agent.js';

const ROOT = new URL('../..', import.meta.url).pathname;

let dir: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/monitor.js'))) throw new Error('dist/ has no straitctl monitor: run `npx tsc -p tsconfig.json` first');
  dir = mkdtempSync(join(tmpdir(), 'cli-monitor-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let agent: FakeFlowAgent;
let n = 0;
const children: CtlChild[] = [];
beforeEach(async () => {
  agent = await fakeFlowAgent(join(dir, `a${n++}.sock`));
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await agent.close();
});

function monitor(args: string[]): CtlChild {
  const c = runCtl(['monitor', ...args], agent.socket);
  children.push(c);
  return c;
}

const denied = flowRecord({
  verdict: 'denied',
  reason: 'policy-ingress',
  event: 'drop',
  src: { ip: '10.244.1.2', port: 40312, pod: 'shop/web-1', identity: 1001 },
  dst: { ip: '10.244.2.3', port: 5432, pod: 'db/pg-0', identity: 1003 },
  policies: undefined,
});
const lost: LostNotice = { time: '2026-12-01T19:30:01Z', cause: 'ring-full', count: 7 };

describe('straitctl monitor -o json', () => {
  it('prints each record as it arrives, exactly as sent, one a line: the first is out before the second is sent', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    const events: string[] = [];
    const a = flowRecord();
    const b = { ...denied, service: true, aNewerField: { kept: 1 } };
    await s.write({ flow: a });
    events.push('sent a');
    events.push(`stdout ${(await m.stdoutLines(1)).length}`);
    await s.write({ flow: b });
    events.push('sent b');
    const lines = await m.stdoutLines(2);
    events.push(`stdout ${lines.length}`);
    expect(events).toEqual(['sent a', 'stdout 1', 'sent b', 'stdout 2']);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([a, b]);
    expect(lines[1]).toBe(JSON.stringify(b));
    m.child.kill('SIGINT');
    expect((await m.exit).code).toBe(0);
  });

  it('lost notices go to stderr as JSON lines; stdout keeps records only', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    await s.write({ lost });
    await s.write({ flow: denied });
    await m.stdoutLines(1);
    s.end();
    const { code } = await m.exit;
    expect(code).toBe(1);
    expect(m.stdout()).toBe(`${JSON.stringify(denied)}\n`);
    expect(m.stderr().split('\n')[0]).toBe(JSON.stringify({ lost }));
  });

  it('a line split across writes is one record; a line of a kind it does not know is skipped', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    const text = JSON.stringify({ flow: denied });
    await s.write(text.slice(0, 20));
    await s.write(`${text.slice(20)}\n{"hello":1}\n`);
    await s.write({ flow: denied });
    expect(await m.stdoutLines(2)).toEqual([JSON.stringify(denied), JSON.stringify(denied)]);
  });
});

describe('straitctl monitor: the query', () => {
  it('the filter flags become the contract query, each repeatable, follow=1', async () => {
    const m = monitor(['--pod', 'shop/web-1', '--pod', 'db/pg-0', '--namespace', 'shop', '--verdict', 'denied', '--protocol', 'TCP', '--port', '5432', '--port', '80']);
    const s = await agent.nextStream();
    expect(s.url.pathname).toBe('/v1/flows');
    expect(s.url.searchParams.get('follow')).toBe('1');
    expect(filterFromQuery(s.url.searchParams)).toEqual({
      pods: ['shop/web-1', 'db/pg-0'],
      namespaces: ['shop'],
      verdicts: ['denied'],
      protocols: ['tcp'],
      ports: [5432, 80],
    });
    expect(s.url.searchParams.getAll('pod')).toEqual(['shop/web-1', 'db/pg-0']);
    m.child.kill('SIGINT');
    expect((await m.exit).code).toBe(0);
  });

  it.each([
    [['--verdict', 'maybe'], 'verdict must be allowed, denied, dropped; not "maybe"'],
    [['--pod', 'web-1'], 'pod must be "namespace/name", not "web-1"'],
    [['--port', '0'], 'port must be an integer 1..65535, not "0"'],
    [['--protocol', 'gre'], 'protocol must be tcp, udp, sctp, icmp, icmpv6 or a number 0..255; not "gre"'],
    [['-o', 'yaml'], "-o takes 'table' or 'json', not 'yaml'"],
    [['--colour'], "Unknown option '--colour'"],
    [['extra'], "unexpected argument 'extra'"],
  ])('bad flags %j: exit 2 with the message, no request made', async (args, message) => {
    const r = await ctl(['monitor', ...args], agent.socket);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`straitctl monitor: ${message}`);
    expect(r.stdout).toBe('');
    expect(agent.urls).toEqual([]);
  });
});

describe('straitctl monitor: table', () => {
  it('a header, then aligned lines: time, verdict (denials in capitals), pods, reason, the allowing policy', async () => {
    const m = monitor([]);
    const s = await agent.nextStream();
    await s.write({ flow: flowRecord() });
    await s.write({ flow: denied });
    await s.write({ flow: flowRecord({ src: { ip: 'fd00::5', port: 53, identity: 2 }, dst: { ip: '192.0.2.9', port: null, identity: 2 }, protocol: 'icmp', reason: 'not-isolated', policies: undefined }) });
    await s.write({ lost });
    const lines = await m.stdoutLines(4);
    s.end();
    await m.exit;
    expect(lines[0]).toMatch(/^TIME\s+VERDICT\s+EVENT\s+PROTO\s+SRC\s+DST\s+REASON\s+POLICIES$/);
    expect(lines[1]).toMatch(/^19:30:00\.123\s+allowed\s+new\s+tcp\s+shop\/web-1:40312\s+->\s+shop\/api-0:8080\s+policy\s+shop\/allow-web$/);
    expect(lines[2]).toMatch(/^19:30:00\.123\s+DENIED\s+drop\s+tcp\s+shop\/web-1:40312\s+->\s+db\/pg-0:5432\s+policy-ingress$/);
    expect(lines[3]).toMatch(/^19:30:00\.123\s+allowed\s+new\s+icmp\s+\[fd00::5\]:53\s+->\s+192\.0\.2\.9\s+not-isolated$/);
    // fixed widths: each column starts where the header's does
    for (const col of ['VERDICT', 'SRC', 'REASON']) {
      const at = lines[0]!.indexOf(col);
      for (const l of lines.slice(1)) expect(l[at - 1]).toBe(' ');
      for (const l of lines.slice(1)) expect(l[at]).not.toBe(' ');
    }
    expect(m.stderr()).toMatch(/^lost 7 records \(ring-full\): /);
  });
});

describe('straitctl monitor: how it ends', () => {
  it('SIGINT: exit 0, the stream closed', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    await s.write({ flow: denied });
    await m.stdoutLines(1);
    m.child.kill('SIGINT');
    const { code, signal } = await m.exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    await s.closed;
    expect(m.stderr()).toBe('');
  });

  it('its reader goes away (monitor -o json | head -1): exit 0, the stream closed', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    await s.write({ flow: denied });
    await m.stdoutLines(1);
    m.child.stdout!.destroy();
    await s.write({ flow: denied }); // the write that meets the closed pipe
    await s.closed;
    expect((await m.exit).code).toBe(0);
    expect(m.stderr()).toBe('');
  });

  it('the agent ends the stream: exit 1, it went away', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    s.end();
    expect((await m.exit).code).toBe(1);
    expect(m.stderr()).toMatch(/^straitctl monitor: strait-agent on \S+ ended the stream: the agent went away\n$/);
  });

  it('the agent dies mid-stream: exit 1, it went away; the records before it were printed', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    await s.write({ flow: denied });
    await m.stdoutLines(1);
    s.cut();
    expect((await m.exit).code).toBe(1);
    expect(m.stdout()).toBe(`${JSON.stringify(denied)}\n`);
    expect(m.stderr()).toMatch(/the agent went away\n$/);
  });

  it('a last line cut short is not a record: exit 1 saying so', async () => {
    const m = monitor(['-o', 'json']);
    const s = await agent.nextStream();
    await s.write(JSON.stringify({ flow: denied }).slice(0, 30));
    s.cut();
    expect((await m.exit).code).toBe(1);
    expect(m.stdout()).toBe('');
    expect(m.stderr()).toMatch(/with a last line cut short/);
  });

  it('no agent: exit 2 with E_AGENT_NOT_RUNNING\'s message', async () => {
    const sock = join(dir, 'nobody.sock');
    const r = await ctl(['monitor'], sock);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`straitctl monitor: strait-agent is not running: no socket at ${sock}\n`);
    expect(r.stdout).toBe('');
  });

  it('the agent refuses the query: exit 2 with its message', async () => {
    await agent.close();
    agent = await fakeFlowAgent(join(dir, `a${n++}.sock`), () => ({ status: 400, body: { error: { code: 'E_BAD_REQUEST', message: 'port must be an integer 1..65535, not "x"' } } }));
    // an agent without the follow stream answers like this too
    const r = await ctl(['monitor', '--socket', agent.socket], join(dir, 'unused.sock'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('straitctl monitor: port must be an integer 1..65535, not "x"\n');
  });
});

describe('agentStream (in process)', () => {
  const caught = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as { code?: string; message: string });

  it('no answer before the headers: E_AGENT_TIMEOUT', async () => {
    const held = new Set<Socket>();
    const server = createNetServer((c) => held.add(c)); // accepts, never answers
    const sock = join(dir, `hang${n++}.sock`);
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const e = await caught(agentStream(sock, '/v1/flows?follow=1', () => undefined, { connectTimeoutMs: 50 }));
      expect(e?.code).toBe('E_AGENT_TIMEOUT');
    } finally {
      for (const c of held) c.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a 200 that is not NDJSON: E_AGENT_PROTOCOL', async () => {
    await agent.close();
    agent = await fakeFlowAgent(join(dir, `a${n++}.sock`), () => ({ status: 200, body: { flows: [] } }));
    const e = await caught(agentStream(agent.socket, '/v1/flows?follow=1', () => undefined));
    expect(e?.code).toBe('E_AGENT_PROTOCOL');
    expect(e?.message).toMatch(/with application\/json, not application\/x-ndjson/);
  });

  it("aborting resolves 'aborted' and closes the stream; an exception from onLine ends it and rejects with it", async () => {
    const stop = new AbortController();
    const seen: unknown[] = [];
    const done = agentStream(agent.socket, '/v1/flows?follow=1', (v) => seen.push(v), { signal: stop.signal });
    const s = await agent.nextStream();
    await s.write({ lost });
    await expect.poll(() => seen).toEqual([{ lost }]);
    stop.abort();
    expect(await done).toBe('aborted');
    await s.closed;

    const boom = agentStream(agent.socket, '/v1/flows?follow=1', () => {
      throw new Error('boom');
    });
    const s2 = await agent.nextStream();
    await s2.write({ lost });
    expect((await caught(boom))?.message).toBe('boom');
    await s2.closed;
  });
});
