// FUZZ: the agent's local API (src/agent/api.ts) in front of an in-memory core:
// its two parsers in-process, then raw HTTP requests over the real unix socket.
// Properties: a bad request is a 4xx with the JSON error body, never a 500 (the
// core here never fails) and never a dropped connection; what reaches the core has
// been checked; garbage bytes do not stop the server from serving the next client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, parseEndpoint, parseExplainQuery, startApiServer, type ApiServer } from '../../src/agent/api.js';
import { canonicalIp } from '../../src/ipam/addr.js';
import { FakeCore } from '../helpers/fake-core.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';
import { hostileValue, mostly } from './mutate.js';
import { FUZZ_SEED } from './seed.js';

const assertOpts = { seed: FUZZ_SEED, endOnFailure: true };
const ipText = mostly(fc.constantFrom('198.18.1.2', 'fd00::2', 'FD00:0::2', '::ffff:1.2.3.4'), fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 8 }), fc.constantFrom('10.0.0.1/24', '010.0.0.1', '')));

const endpointBody = fc.record(
  {
    id: mostly(fc.constantFrom('strait/c0ffee/eth0', 'n/c/eth1'), hostileValue),
    ifindex: mostly(fc.integer({ min: 1, max: 2 ** 31 }), fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 32), hostileValue)),
    ips: mostly(fc.array(ipText, { minLength: 1, maxLength: 3 }), hostileValue),
    podNamespace: mostly(fc.constantFrom('x', null), hostileValue),
    podName: mostly(fc.constantFrom('web', null), hostileValue),
    extra: hostileValue,
  },
  { requiredKeys: [] },
);

function parsed<T>(fn: () => T): T | ApiError {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof ApiError)) throw new Error(`not an ApiError: ${String(e)}`, { cause: e });
    expect(e.status).toBe(400);
    return e;
  }
}

describe('fuzz: agent API request parsing, in-process', () => {
  it('endpoint bodies: a checked endpoint or a 400 naming the field', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 9, arbitrary: endpointBody }, { weight: 1, arbitrary: hostileValue }), (body) => {
        const out = parsed(() => parseEndpoint(body));
        if (out instanceof ApiError) {
          expect(out.message).toMatch(/^endpoint[.: ]/);
          return;
        }
        expect(out.id.length).toBeGreaterThan(0);
        expect(Number.isInteger(out.ifindex) && out.ifindex > 0 && out.ifindex <= 0xffffffff).toBe(true);
        for (const ip of out.ips) expect(canonicalIp(ip)).toBe(ip);
      }),
      { ...assertOpts, numRuns: 10_000 },
    );
  });

  it('explain queries: a canonical request or a 400 naming the parameter', () => {
    const param = fc.tuple(mostly(fc.constantFrom('src', 'dst', 'proto', 'port'), fc.string({ maxLength: 5 })), fc.oneof(ipText, fc.constantFrom('tcp', 'UDP', 'sctp', 'icmp', '80', '0', '65536', '08', ''), fc.string({ maxLength: 6 })));
    fc.assert(
      fc.property(fc.array(param, { maxLength: 6 }), (pairs) => {
        const out = parsed(() => parseExplainQuery(new URLSearchParams(pairs)));
        if (out instanceof ApiError) {
          expect(out.message).toMatch(/src|dst|proto|port|parameter/);
          return;
        }
        expect(canonicalIp(out.src)).toBe(out.src);
        expect(canonicalIp(out.dst)).toBe(out.dst);
        expect(out.port >= 1 && out.port <= 65535).toBe(true);
      }),
      { ...assertOpts, numRuns: 10_000 },
    );
  });
});

describe('fuzz: agent API over its unix socket', () => {
  let dir: string;
  let sock: string;
  let server: ApiServer;
  const core = new FakeCore();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strait-apifuzz-'));
    sock = join(dir, 'agent.sock');
    server = await startApiServer({ socketPath: sock, core, log: pino({ level: 'silent' }), maxBodyBytes: 4096 });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const method = mostly(fc.constantFrom('GET', 'POST', 'DELETE'), fc.constantFrom('PUT', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'BREW'));
  const segment = fc.oneof(fc.webSegment(), fc.constantFrom('%E0%A4%A', '%', '%2F', 'strait%2Fc%2Feth0', '..', ''));
  const query = fc.oneof(fc.constant(''), fc.webQueryParameters().map((q) => `?${q}`), fc.constantFrom('?pod=x/web', '?pod=%zz', '?src=1.2.3.4&dst=1.2.3.5&proto=tcp&port=80', '?x'));
  const route = fc.oneof(
    fc.constantFrom('/v1/endpoints', '/v1/status', '/v1/policy', '/v1/explain', '/', '*', '/v1', '/v1/endpoints/', '//v1/status', 'http://agent/v1/status', 'http://[/', 'http://a:99999/v1/status'),
    segment.map((s) => `/v1/endpoints/${s}`),
    fc.webPath(),
  );
  const body = fc.oneof(
    fc.constant(''),
    endpointBody.map((b) => JSON.stringify(b)),
    fc.string({ maxLength: 64 }),
    fc.constant('x'.repeat(5000)), // over maxBodyBytes
  );
  const request = fc.record({ method, target: fc.tuple(route, query).map(([r, q]) => r + q), body });

  it('every request is answered: 2xx, or 4xx with a JSON error; the core sees only checked input', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ method: m, target, body: b }) => {
        const head = `${m} ${target} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n\r\n`;
        const res = await rawRequest(sock, head + b);
        if (res.status === 400 && res.body === '') return; // Node's own parser refused the request line
        expect(res.status, `${m} ${target}: ${res.body}`).toBeGreaterThanOrEqual(200);
        expect(res.status, `${m} ${target}: ${res.body}`).toBeLessThan(500);
        if (m === 'HEAD') return;
        const json: unknown = JSON.parse(res.body);
        if (res.status >= 400) expect(json).toEqual({ error: { code: expect.stringMatching(/^E_/), message: expect.any(String) } });
      }),
      { ...assertOpts, numRuns: 2_000 },
    );
    for (const ep of core.registered) expect(parseEndpoint(ep)).toEqual(ep);
    for (const id of core.removed) expect(id.length).toBeGreaterThan(0);
  });

  it('garbage bytes on a connection do not stop the server', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)), fc.string({ maxLength: 200 }).map((s) => `GET /v1/status HTTP/1.1\r\n${s}\r\n\r\n`)), async (bytes) => {
        await rawRequest(sock, bytes);
        expect((await rawGet(sock, '/v1/status')).status).toBe(200);
      }),
      { ...assertOpts, numRuns: 300 },
    );
  });
});
