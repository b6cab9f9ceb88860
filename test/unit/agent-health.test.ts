// The health endpoint the kubelet probes (src/agent/health.ts): /healthz follows the
// API, /readyz the API, the sync and the install step, with the reason while not.
import { afterEach, describe, expect, it } from 'vitest';
import { healthRoutes, startHttpEndpoints, type HealthState, type HttpEndpoints } from '../../src/agent/health.js';
import { parseHealthAddr } from '../../src/agent/deploy-options.js';
import { UsageError } from '../../src/errors.js';

const state = (s: { api: boolean; synced: boolean; installed: boolean | null }): HealthState => ({
  apiListening: () => s.api,
  synced: () => s.synced,
  installed: () => s.installed,
});

let open: HttpEndpoints | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

async function get(path: string, method = 'GET'): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${open!.address.port}${path}`, { method });
  const text = await r.text();
  return { status: r.status, body: text === '' ? null : JSON.parse(text) };
}

describe('health endpoints', () => {
  it('/healthz is 200 only while the API listens; /readyz says why it is not ready', async () => {
    const s = { api: false, synced: false, installed: false as boolean | null };
    open = await startHttpEndpoints({ host: '127.0.0.1', port: 0 }, healthRoutes(state(s)));
    expect(await get('/healthz')).toEqual({ status: 503, body: { ok: false, reason: 'the agent API is not listening' } });
    expect(await get('/readyz')).toEqual({ status: 503, body: { ready: false, reason: 'the agent API is not listening yet' } });
    s.api = true;
    expect(await get('/healthz')).toEqual({ status: 200, body: { ok: true } });
    expect(await get('/readyz')).toEqual({ status: 503, body: { ready: false, reason: 'the datapath is not synced with the source yet' } });
    s.synced = true;
    expect(await get('/readyz')).toEqual({ status: 503, body: { ready: false, reason: 'the CNI conflist is not written yet' } });
    s.installed = true;
    expect(await get('/readyz')).toEqual({ status: 200, body: { ready: true } });
    s.installed = null; // no install step configured: readiness is the sync alone
    expect(await get('/readyz?verbose=1')).toEqual({ status: 200, body: { ready: true } });
    s.synced = false; // a source that falls behind makes the node unready again
    expect((await get('/readyz')).status).toBe(503);
  });

  it('unknown paths are 404, other methods 405, HEAD has no body', async () => {
    open = await startHttpEndpoints({ host: '127.0.0.1', port: 0 }, healthRoutes(state({ api: true, synced: true, installed: null })));
    expect((await get('/metrics')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
    expect(await get('/healthz', 'HEAD')).toEqual({ status: 200, body: null });
  });

  it('--health-addr: HOST:PORT, [v6]:PORT', () => {
    expect(parseHealthAddr('127.0.0.1:9876')).toEqual({ host: '127.0.0.1', port: 9876 });
    expect(parseHealthAddr('[::1]:9876')).toEqual({ host: '::1', port: 9876 });
    expect(parseHealthAddr('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    for (const bad of ['9876', '127.0.0.1', '127.0.0.1:65536', '::1:9876', ':9876', '127.0.0.1:x']) {
      expect(() => parseHealthAddr(bad), bad).toThrow(UsageError);
    }
  });
});
