import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../src/agent/api.js';
import { AgentReplyError, agentRequest, expectOk } from '../../src/agent/client.js';
import { StraitError } from '../../src/errors.js';
import { cniCodeOf } from '../../src/cni/errors.js';
import { FakeCore, SAMPLE_REPORTS } from '../helpers/fake-core.js';
import { rawGet } from '../helpers/raw-http.js';

const log = pino({ level: 'silent' });
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'strait-api-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<StraitError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StraitError);
    return e as StraitError;
  }
  throw new Error('expected a rejection');
}

/** A socket file nobody listens on: its owner died without closing it. */
function staleSocket(path: string): void {
  const r = spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  expect(r.signal).toBe('SIGKILL');
}

describe('agent API over a unix socket', () => {
  let core: FakeCore;
  let server: ApiServer;
  let sock: string;
  let n = 0;
  beforeEach(async () => {
    core = new FakeCore();
    core.reports = SAMPLE_REPORTS;
    sock = join(dir, `a${n++}.sock`);
    server = await startApiServer({ socketPath: sock, core, log });
  });
  afterEach(() => server.close());
  const req = (method: string, path: string, body?: unknown) => agentRequest(sock, method, path, body, { timeoutMs: 2000 });

  it('listens with mode 0600 and removes the socket on close', async () => {
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(statSync(sock).isSocket()).toBe(true);
    await server.close();
    expect(existsSync(sock)).toBe(false);
    await server.close(); // twice is fine
  });

  it('POST /v1/endpoints registers and answers once the core resolves', async () => {
    let release!: () => void;
    core.register = () => new Promise((r) => (release = r));
    const ep = { id: 'strait/c0ffee/eth0', ifindex: 7, ips: ['198.18.1.2', 'fd00:0:0::2'], podNamespace: 'x', podName: 'web' };
    let answered = false;
    const pending = req('POST', '/v1/endpoints', ep).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    release();
    const res = await pending;
    expect(res).toEqual({ status: 200, json: { ready: true } });
    expect(core.registered).toEqual([{ ...ep, ips: ['198.18.1.2', 'fd00::2'] }]);
  });

  it('POST /v1/endpoints: pod names are optional', async () => {
    const res = await req('POST', '/v1/endpoints', { id: 'n/c/eth0', ifindex: 3, ips: ['10.0.0.1'] });
    expect(res.status).toBe(200);
    expect(core.registered[0]).toEqual({ id: 'n/c/eth0', ifindex: 3, ips: ['10.0.0.1'], podNamespace: null, podName: null });
  });

  it.each([
    [{ ifindex: 3, ips: ['10.0.0.1'] }, /endpoint\.id must be a non-empty string/],
    [{ id: 'a', ifindex: 0, ips: ['10.0.0.1'] }, /endpoint\.ifindex must be a positive integer/],
    [{ id: 'a', ifindex: 1.5, ips: ['10.0.0.1'] }, /endpoint\.ifindex/],
    [{ id: 'a', ifindex: 3, ips: [] }, /endpoint\.ips must be a non-empty list/],
    [{ id: 'a', ifindex: 3, ips: ['10.0.0.1', '10.0.0.300'] }, /endpoint\.ips\[1\]: "10\.0\.0\.300" is not an IP address/],
    [{ id: 'a', ifindex: 3, ips: ['10.0.0.1/24'] }, /endpoint\.ips\[0\]/],
    [{ id: 'a', ifindex: 3, ips: ['10.0.0.1'], podName: 5 }, /endpoint\.podName/],
    [{ id: 'a', ifindex: 3, ips: ['10.0.0.1'], mac: 'x' }, /unknown field "mac"/],
    [[1, 2], /must be a JSON object/],
  ])('POST /v1/endpoints refuses %j with 400', async (body, message) => {
    const res = await req('POST', '/v1/endpoints', body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: 'E_BAD_REQUEST', message: expect.stringMatching(message) } });
    expect(core.registered).toEqual([]);
  });

  it('POST /v1/endpoints: a body that is not JSON, or none, is 400', async () => {
    const raw = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const r = request({ socketPath: sock, method: 'POST', path: '/v1/endpoints', agent: false }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        });
        r.on('error', reject);
        r.end('{"id": ');
      }, reject);
    });
    expect(raw.status).toBe(400);
    expect((JSON.parse(raw.body) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
    const empty = await req('POST', '/v1/endpoints');
    expect(empty.status).toBe(400);
    expect((empty.json as { error: { message: string } }).error.message).toMatch(/body is empty/);
  });

  it('POST /v1/endpoints: a failing core is 500 with its code', async () => {
    core.register = () => Promise.reject(new StraitError('E_DATAPATH_FULL', 'the endpoint map is full'));
    const res = await req('POST', '/v1/endpoints', { id: 'a', ifindex: 3, ips: ['10.0.0.1'] });
    expect(res).toEqual({ status: 500, json: { error: { code: 'E_DATAPATH_FULL', message: 'the endpoint map is full' } } });
    core.register = () => Promise.reject(new Error('boom'));
    const res2 = await req('POST', '/v1/endpoints', { id: 'a', ifindex: 3, ips: ['10.0.0.1'] });
    expect(res2).toEqual({ status: 500, json: { error: { code: 'E_INTERNAL', message: 'boom' } } });
  });

  it('POST /v1/endpoints: an oversized body is 413', async () => {
    await server.close();
    server = await startApiServer({ socketPath: sock, core, log, maxBodyBytes: 100 });
    const res = await req('POST', '/v1/endpoints', { id: 'x'.repeat(200), ifindex: 3, ips: ['10.0.0.1'] });
    expect(res.status).toBe(413);
  });

  it('DELETE /v1/endpoints/<id> decodes the id', async () => {
    const res = await req('DELETE', `/v1/endpoints/${encodeURIComponent('strait/c0ffee/eth0')}`);
    expect(res).toEqual({ status: 200, json: { removed: true } });
    expect(core.removed).toEqual(['strait/c0ffee/eth0']);
    expect((await req('DELETE', '/v1/endpoints/%E0%A4%A')).status).toBe(400);
    expect((await req('DELETE', '/v1/endpoints/')).status).toBe(400);
  });

  it('GET /v1/status', async () => {
    expect(await req('GET', '/v1/status')).toEqual({ status: 200, json: core.statusValue });
    expect((await req('GET', '/v1/status?x=1')).status).toBe(400);
  });

  it('GET /v1/policy, all or one pod', async () => {
    expect(await req('GET', '/v1/policy')).toEqual({ status: 200, json: SAMPLE_REPORTS });
    expect(await req('GET', '/v1/policy?pod=y%2Fdb')).toEqual({ status: 200, json: [SAMPLE_REPORTS[1]] });
    expect(core.policyQueries).toEqual([null, 'y/db']);
    for (const bad of ['db', 'y/db/x', '/db', 'y/']) {
      const res = await req('GET', `/v1/policy?pod=${encodeURIComponent(bad)}`);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: { code: 'E_BAD_REQUEST', message: `pod must be "namespace/name", not "${bad}"` } });
    }
  });

  it('GET /v1/explain passes a canonical request to the core', async () => {
    const res = await req('GET', '/v1/explain?src=198.18.1.2&dst=198.18.1.3&proto=tcp&port=80');
    expect(res).toEqual({ status: 200, json: core.explainResult });
    const v6 = await req('GET', '/v1/explain?src=fd00:0::2&dst=fd00::3&proto=SCTP&port=65535');
    expect(v6.status).toBe(200);
    expect(core.explains).toEqual([
      { src: '198.18.1.2', dst: '198.18.1.3', protocol: 'TCP', port: 80 },
      { src: 'fd00::2', dst: 'fd00::3', protocol: 'SCTP', port: 65535 },
    ]);
  });

  it.each([
    ['dst=10.0.0.2&proto=tcp&port=80', 'missing query parameter "src"'],
    ['src=10.0.0.1&proto=tcp&port=80', 'missing query parameter "dst"'],
    ['src=10.0.0.1&dst=10.0.0.2&port=80', 'missing query parameter "proto"'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp', 'missing query parameter "port"'],
    ['src=10.0.0.256&dst=10.0.0.2&proto=tcp&port=80', 'src: "10.0.0.256" is not an IPv4 or IPv6 address'],
    ['src=10.0.0.1&dst=web&proto=tcp&port=80', 'dst: "web" is not an IPv4 or IPv6 address'],
    ['src=10.0.0.0%2F24&dst=10.0.0.2&proto=tcp&port=80', 'src: "10.0.0.0/24" is not an IPv4 or IPv6 address'],
    ['src=10.0.0.1&dst=fd00::2&proto=tcp&port=80', 'src 10.0.0.1 and dst fd00::2 are of different address families'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=icmp&port=80', 'proto: "icmp" is not one of tcp, udp, sctp'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp&port=0', 'port: "0" is not a port number (1-65535)'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp&port=65536', 'port: "65536" is not a port number (1-65535)'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp&port=http', 'port: "http" is not a port number (1-65535)'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp&port=-1', 'port: "-1" is not a port number (1-65535)'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp&port=8.5', 'port: "8.5" is not a port number (1-65535)'],
    ['src=10.0.0.1&src=10.0.0.3&dst=10.0.0.2&proto=tcp&port=80', 'query parameter "src" is given 2 times'],
    ['src=10.0.0.1&dst=10.0.0.2&proto=tcp&port=80&verbose=1', 'unknown query parameter "verbose" (takes src, dst, proto, port)'],
  ])('GET /v1/explain?%s is 400', async (query, message) => {
    const res = await req('GET', `/v1/explain?${query}`);
    expect(res).toEqual({ status: 400, json: { error: { code: 'E_BAD_REQUEST', message } } });
    expect(core.explains).toEqual([]);
  });

  it('a request target that is no URL is 400, not 500 (found by the fuzz test)', async () => {
    for (const target of ['http://[/v1/status', 'http://agent:99999/v1/status']) {
      const res = await rawGet(sock, target);
      expect(res.status, target).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ error: { code: 'E_BAD_REQUEST', message: `request target "${target}" is not a valid URL` } });
    }
    expect((await rawGet(sock, '/v1/status')).status).toBe(200);
  });

  it('unknown routes are 404, wrong methods 405', async () => {
    expect(await req('GET', '/v2/status')).toEqual({ status: 404, json: { error: { code: 'E_NOT_FOUND', message: 'no route /v2/status' } } });
    const res = await req('POST', '/v1/status', {});
    expect(res.status).toBe(405);
    expect((res.json as { error: { code: string } }).error.code).toBe('E_METHOD_NOT_ALLOWED');
    expect((await req('GET', '/v1/endpoints')).status).toBe(405);
    expect((await req('PUT', '/v1/endpoints/x')).status).toBe(405);
  });

  it('a core that throws is 500, and the server keeps serving', async () => {
    core.failWith = new Error('maps unreadable');
    expect(await req('GET', '/v1/status')).toEqual({ status: 500, json: { error: { code: 'E_INTERNAL', message: 'maps unreadable' } } });
    core.failWith = null;
    expect((await req('GET', '/v1/status')).status).toBe(200);
  });

  it('expectOk returns the body of a 2xx, and throws the agent code otherwise', async () => {
    expect(expectOk(await req('GET', '/v1/status'))).toEqual(core.statusValue);
    const e = (() => {
      try {
        expectOk({ status: 400, json: { error: { code: 'E_BAD_REQUEST', message: 'nope' } } });
      } catch (err) {
        return err as AgentReplyError;
      }
      throw new Error('expected a throw');
    })();
    expect(e).toBeInstanceOf(AgentReplyError);
    expect(e.agentCode).toBe('E_BAD_REQUEST');
    expect(e.code).toBe('E_AGENT_REFUSED');
    expect(cniCodeOf(e)).toBe(100);
    expect(e.message).toBe('nope');
    const failed = new AgentReplyError(500, 'E_DATAPATH_FULL', 'full');
    expect([failed.code, cniCodeOf(failed)]).toEqual(['E_AGENT_FAILED', 11]);
  });

  it('client: a core that never answers times out, naming the socket', async () => {
    core.register = () => new Promise(() => {});
    const t0 = Date.now();
    const e = await rejection(agentRequest(sock, 'POST', '/v1/endpoints', { id: 'a', ifindex: 3, ips: ['10.0.0.1'] }, { timeoutMs: 150 }));
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(e.code).toBe('E_AGENT_TIMEOUT');
    expect(cniCodeOf(e)).toBe(11);
    expect(e.message).toBe(`no answer from strait-agent on ${sock} within 150 ms (POST /v1/endpoints)`);
  });
});

describe('agent API: the socket file', () => {
  const core = new FakeCore();

  it('replaces a stale socket left by a dead agent', async () => {
    const sock = join(dir, 'stale.sock');
    staleSocket(sock);
    expect(statSync(sock).isSocket()).toBe(true);
    const e = await rejection(agentRequest(sock, 'GET', '/v1/status'));
    expect(e.code).toBe('E_AGENT_NOT_RUNNING');
    expect(e.message).toBe(`strait-agent is not running: ${sock} refuses connections (a stale socket?)`);
    const server = await startApiServer({ socketPath: sock, core, log });
    expect((await agentRequest(sock, 'GET', '/v1/status')).status).toBe(200);
    await server.close();
  });

  it('refuses to take over a live socket or a file that is not a socket', async () => {
    const sock = join(dir, 'live.sock');
    const first = await startApiServer({ socketPath: sock, core, log });
    await expect(startApiServer({ socketPath: sock, core, log })).rejects.toThrow(/another process is serving .*live\.sock/);
    expect((await agentRequest(sock, 'GET', '/v1/status')).status).toBe(200);
    await first.close();
    const file = join(dir, 'plain');
    writeFileSync(file, 'data');
    await expect(startApiServer({ socketPath: file, core, log })).rejects.toThrow(/exists and is not a socket/);
  });

  it('creates the socket directory', async () => {
    const sock = join(dir, 'run', 'strait', 'agent.sock');
    const server = await startApiServer({ socketPath: sock, core, log });
    expect(statSync(sock).isSocket()).toBe(true);
    await server.close();
  });

  it('client: no socket file means the agent is not running', async () => {
    const sock = join(dir, 'none.sock');
    const e = await rejection(agentRequest(sock, 'GET', '/v1/status', undefined, { timeoutMs: 500 }));
    expect(e.code).toBe('E_AGENT_NOT_RUNNING');
    expect(cniCodeOf(e)).toBe(11);
    expect(e.message).toBe(`strait-agent is not running: no socket at ${sock}`);
  });
});
