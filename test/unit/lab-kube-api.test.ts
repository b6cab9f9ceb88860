// The API emulation's protocol over plain HTTP, as a real client sees it: writes and
// their status codes, watch streams replayed from a resourceVersion and ended by
// timeoutSeconds, BOOKMARK lines, the 410 ERROR event after a compaction, a namespaced
// watch, and the /_emu/ faults.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKubeApi, type KubeApiServer } from '../../src/lab/kube-api/server.js';

let api: KubeApiServer;
beforeEach(async () => {
  api = await startKubeApi();
});
afterEach(async () => {
  await api.close();
});

const pod = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [] } });
const call = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${api.serverUrl}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> & { metadata?: Record<string, unknown> } };
};
/** Reads a watch stream to its end (the server's timeoutSeconds, or the 410), one parsed line each. */
async function watchLines(path: string): Promise<{ type: string; object: Record<string, unknown> & { metadata: Record<string, unknown> } }[]> {
  const r = await fetch(`${api.serverUrl}${path}`);
  expect(r.status).toBe(200);
  return (await r.text())
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { type: string; object: Record<string, unknown> & { metadata: Record<string, unknown> } });
}

describe('kube-api emulation', () => {
  it('writes: 201 with a resourceVersion, 409 on a second create, 404 replacing or deleting what is absent, 404 for an unknown path', async () => {
    const a = await call('POST', '/api/v1/namespaces/x/pods', pod('x', 'a'));
    expect(a.status).toBe(201);
    expect(a.json.metadata).toMatchObject({ name: 'a', namespace: 'x', resourceVersion: '2' });
    expect((await call('POST', '/api/v1/namespaces/x/pods', pod('x', 'a'))).json).toMatchObject({ kind: 'Status', code: 409, reason: 'AlreadyExists' });
    expect((await call('PUT', '/api/v1/namespaces/x/pods/b', pod('x', 'b'))).status).toBe(404);
    expect((await call('PUT', '/api/v1/namespaces/x/pods/a', pod('x', 'a'))).json.metadata).toMatchObject({ resourceVersion: '3', uid: a.json.metadata!.uid });
    expect((await call('GET', '/api/v1/namespaces/x/pods/a')).status).toBe(200);
    expect((await call('DELETE', '/api/v1/namespaces/x/pods/a')).json.metadata).toMatchObject({ resourceVersion: '4' });
    expect((await call('DELETE', '/api/v1/namespaces/x/pods/a')).status).toBe(404);
    expect((await call('GET', '/api/v1/configmaps')).status).toBe(404);
    expect((await call('POST', '/api/v1/pods', pod('x', 'c'))).status).toBe(405);
  });

  it('a watch replays what followed its resourceVersion, then ends after timeoutSeconds', async () => {
    await call('POST', '/api/v1/namespaces/x/pods', pod('x', 'a'));
    await call('POST', '/api/v1/namespaces/y/pods', pod('y', 'b'));
    await call('DELETE', '/api/v1/namespaces/x/pods/a');
    const all = await watchLines('/api/v1/pods?watch=1&resourceVersion=2&timeoutSeconds=1');
    expect(all.map((e) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion])).toEqual([
      ['ADDED', 'b', '3'],
      ['DELETED', 'a', '4'],
    ]);
    expect(all[0]!.object).toMatchObject({ kind: 'Pod', apiVersion: 'v1' });
    const inY = await watchLines('/api/v1/namespaces/y/pods?watch=true&resourceVersion=1&timeoutSeconds=1');
    expect(inY.map((e) => e.object.metadata.name)).toEqual(['b']);
  });

  it('sends BOOKMARK lines at the current resourceVersion to a watch that asks for them', async () => {
    api.setBookmarkMs(20);
    await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
    const lines = await watchLines('/api/v1/pods?watch=1&resourceVersion=2&allowWatchBookmarks=true&timeoutSeconds=1');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((e) => e.type === 'BOOKMARK' && e.object.kind === 'Pod' && e.object.metadata.resourceVersion === '2')).toBe(true);
    expect(await watchLines('/api/v1/pods?watch=1&resourceVersion=2&timeoutSeconds=1')).toEqual([]);
  });

  it('after a compaction: a watch from before it gets an ERROR event with a 410 Status', async () => {
    await call('POST', '/api/v1/namespaces/x/pods', pod('x', 'a'));
    await call('POST', '/api/v1/namespaces/x/pods', pod('x', 'b'));
    expect((await call('POST', '/_emu/compact')).json).toEqual({ compacted: 3 });
    const lines = await watchLines('/api/v1/pods?watch=1&resourceVersion=2');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    expect(await watchLines('/api/v1/pods?watch=1&resourceVersion=3&timeoutSeconds=1')).toEqual([]);
  });

  it('/_emu/fail answers the next N requests 500, then serves again; stats count what was served', async () => {
    expect((await call('POST', '/_emu/fail?count=2')).json).toEqual({ failing: 2 });
    expect((await call('GET', '/api/v1/pods')).status).toBe(500);
    expect((await call('GET', '/api/v1/pods')).json).toMatchObject({ kind: 'Status', code: 500 });
    const ok = await call('GET', '/api/v1/pods');
    expect(ok.json).toMatchObject({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    expect((await call('GET', '/_emu/stats')).json).toMatchObject({ resourceVersion: 1, watches: 0, requests: { list: 1 } });
    expect((await call('POST', '/_emu/nothing')).status).toBe(404);
  });
});
