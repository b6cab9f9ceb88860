// GET /v1/flows on the agent's API over a real unix socket, the flow pipeline fed
// with records crafted as the datapath writes them (encodeFlowEvent) through the
// reader's EventSource: the buffer as JSON, follow streaming lines as records
// arrive, filters, 400s, the subscriber gone with its client, a slow client's
// loss bounded and told, 503 without flows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startApiServer, type ApiServer } from '../../src/agent/api.js';
import { agentRequest } from '../../src/agent/client.js';
import { startFlowService, type FlowService } from '../../src/flows/service.js';
import type { FlowsReply } from '../../src/flows/types.js';
import { FakeCore } from '../helpers/fake-core.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';
import { event, FakeSource, Follower } from './flows-helpers.js';

const log = pino({ level: 'silent' });
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'strait-api-flows-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GET /v1/flows', () => {
  let server: ApiServer;
  let flows: FlowService;
  let src: FakeSource;
  let sock: string;
  let n = 0;
  const core = new FakeCore();
  beforeEach(async () => {
    src = new FakeSource();
    flows = startFlowService({ nodeName: 'n1', capacity: 64, source: src, names: () => null, clockOffsetNs: 0n, log, drainMs: 1e9, countersMs: 1e9 });
    sock = join(dir, `f${n++}.sock`);
    server = await startApiServer({ socketPath: sock, core, log, flows });
  });
  afterEach(async () => {
    await server.close();
    flows.close();
  });
  const get = async (q: string) => agentRequest(sock, 'GET', `/v1/flows${q}`, undefined, { timeoutMs: 5000 });
  const feed = (...sports: number[]) => {
    src.ring!.write(...sports.map((sport) => event({ sport, protocol: 6, type: sport % 2 === 0 ? 'new' : 'drop', reason: sport % 2 === 0 ? 0 : 7 })));
    flows.reader.drain();
  };

  it('answers the newest records (default 100, at most the capacity), oldest first, with the lost counts and the capacity', async () => {
    const empty = await get('');
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ flows: [], lost: { 'ring-full': 0, 'rate-limited': 0, 'agent-error': 0, 'slow-reader': 0 }, capacity: 64 });
    feed(...Array.from({ length: 70 }, (_, i) => 1000 + i));
    const all = (await get('')).json as FlowsReply;
    expect(all.flows).toHaveLength(64);
    expect(all.flows[0]!.src.port).toBe(1006);
    expect(all.flows.at(-1)!.src.port).toBe(1069);
    expect(all.flows.at(-1)!.node).toBe('n1');
    const three = (await get('?last=3')).json as FlowsReply;
    expect(three.flows.map((f) => f.src.port)).toEqual([1067, 1068, 1069]);
    expect(((await get('?last=100000')).json as FlowsReply).flows).toHaveLength(64);
    // and the datapath's losses, from the per-CPU counters
    src.totals = { sent: 0n, ringFull: 5n, rateLimited: 2n };
    flows.reader.tick();
    expect(((await get('?last=0')).json as FlowsReply).lost).toEqual({ 'ring-full': 5, 'rate-limited': 2, 'agent-error': 0, 'slow-reader': 0 });
  });

  it('filters as filterFromQuery says', async () => {
    feed(1000, 1001, 1002, 1003);
    const denied = (await get('?verdict=denied')).json as FlowsReply;
    expect(denied.flows.map((f) => f.src.port)).toEqual([1001, 1003]);
    expect(((await get('?port=1002&protocol=tcp')).json as FlowsReply).flows.map((f) => f.src.port)).toEqual([1002]);
    expect(((await get('?protocol=udp')).json as FlowsReply).flows).toEqual([]);
  });

  it('a bad filter, last, follow or parameter is a 400 naming it', async () => {
    const refused = async (q: string, what: RegExp) => {
      const r = await rawGet(sock, `/v1/flows${q}`);
      expect(r.status).toBe(400);
      const body = JSON.parse(r.body) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('E_BAD_REQUEST');
      expect(body.error.message).toMatch(what);
    };
    await refused('?verdict=maybe', /verdict/);
    await refused('?pod=nons', /pod/);
    await refused('?port=70000', /port/);
    await refused('?last=-1', /last/);
    await refused('?last=ten', /last/);
    await refused('?last=1&last=2', /"last" is given 2 times/);
    await refused('?follow=yes', /follow/);
    await refused('?since=1', /unknown query parameter "since"/);
    expect((await rawRequestMethod(sock, 'POST')).status).toBe(405);
  });

  it('follow=1 streams one line per record as they arrive, after the newest N when last= is given', async () => {
    feed(1, 2, 3);
    const f = new Follower(sock, 'follow=1&last=2');
    const res = await f.ready;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    await f.until((l) => l.length >= 2);
    expect(f.sports).toEqual([2, 3]);
    expect(flows.stats().subscribers).toBe(1);
    feed(4, 5);
    await f.until((l) => l.length >= 4);
    expect(f.sports).toEqual([2, 3, 4, 5]);
    src.totals = { sent: 0n, ringFull: 3n, rateLimited: 0n };
    flows.reader.tick();
    await f.until((l) => l.length >= 5);
    expect(f.lines[4]).toMatchObject({ lost: { cause: 'ring-full', count: 3 } });
    f.close();
  });

  it('follow with a filter sends only what matches; without last= no backlog', async () => {
    feed(1, 2);
    const f = new Follower(sock, 'follow=1&verdict=allowed');
    await f.ready;
    feed(3, 4, 5, 6);
    await f.until((l) => l.length >= 2);
    expect(f.sports).toEqual([4, 6]);
    f.close();
  });

  it('the subscriber is removed when the client goes away', async () => {
    const f = new Follower(sock, 'follow=1');
    await f.ready;
    expect(flows.stats().subscribers).toBe(1);
    f.close();
    while (flows.stats().subscribers !== 0) await new Promise((resolve) => setImmediate(resolve));
    expect(flows.stats().subscribers).toBe(0);
    feed(1); // nothing to write to, nothing thrown
  });

  it('a client that stops reading loses records past the bound, counted, and is told when it catches up', async () => {
    const f = new Follower(sock, 'follow=1');
    const res = await f.ready;
    res.pause();
    const total = 30_000;
    for (let i = 0; i < total; i += 1000) feed(...Array.from({ length: 1000 }, (_, j) => (i + j) % 65536));
    const lost = flows.lost()['slow-reader'];
    expect(lost).toBeGreaterThan(0);
    expect(lost).toBeLessThan(total);
    res.resume();
    await f.until((l) => l.some((x) => 'lost' in x));
    const notice = f.lines.find((x) => 'lost' in x)!;
    expect('lost' in notice && notice.lost).toMatchObject({ cause: 'slow-reader', count: lost });
    // Every record is either received, before the notice, or counted lost.
    expect(f.lines.indexOf(notice)).toBe(total - lost);
    expect(flows.stats().lost['slow-reader']).toBe(lost);
    f.close();
  });
});

/** A request of another method, for the 405. */
function rawRequestMethod(sock: string, method: string): Promise<{ status: number }> {
  return rawRequest(sock, `${method} /v1/flows HTTP/1.1\r\nHost: agent\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

describe('GET /v1/flows without flows', () => {
  it('is a 503 with its own code', async () => {
    const sock = join(dir, 'none.sock');
    const server = await startApiServer({ socketPath: sock, core: new FakeCore(), log });
    try {
      const r = await rawGet(sock, '/v1/flows');
      expect(r.status).toBe(503);
      expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('E_FLOWS_UNAVAILABLE');
    } finally {
      await server.close();
    }
  });
});
