// The agent's side of bin/strait without root: the forwarded call's body checked, the
// command code run in-process (VERSION, STATUS, refusals), POST /v1/cni answering
// with the plugin's stdout and exit code, a closing agent answering 503, and the
// calls of one attachment run one at a time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../src/agent/api.js';
import { createCniService, parseForwardedCall } from '../../src/agent/cni-service.js';
import { KeyedMutex } from '../../src/util/keyed-mutex.js';
import { FakeCore } from '../helpers/fake-core.js';
import { rawRequest } from '../helpers/raw-http.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'strait-cnisvc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stateDir = join(dir, 'state');
const bpfDir = join(dir, 'bpf');

const config = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'svc', type: 'strait', stateDir, bpfDir, ipam: { type: 'strait', ranges: [[{ subnet: '198.18.60.0/30' }]] }, ...extra });

describe('parseForwardedCall', () => {
  it('takes CNI_* and STRAIT_* string variables and a string stdin', () => {
    expect(parseForwardedCall({ env: { CNI_COMMAND: 'DEL', STRAIT_BOOT_ID: 'b' }, stdin: '{}' })).toEqual({
      env: { CNI_COMMAND: 'DEL', STRAIT_BOOT_ID: 'b' },
      stdin: '{}',
    });
  });
  it.each([
    [[], /must be a JSON object/],
    [{ env: {}, stdin: 1 }, /stdin must be a string/],
    [{ env: [], stdin: '' }, /env must be an object/],
    [{ env: { HOME: '/root' }, stdin: '' }, /CNI_\* and STRAIT_\* variables only, not "HOME"/],
    [{ env: { CNI_COMMAND: 1 }, stdin: '' }, /env\.CNI_COMMAND must be a string/],
    [{ env: {}, stdin: '', extra: true }, /unknown field "extra"/],
  ])('refuses %j', (raw, msg) => {
    expect(() => parseForwardedCall(raw)).toThrow(msg);
  });
});

describe('the CNI service', () => {
  const service = createCniService({ core: new FakeCore(), stateDir, bpfDir, log });

  it('answers VERSION as the plugin does', async () => {
    const out = await service.handle({ env: { CNI_COMMAND: 'VERSION' }, stdin: '' });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ cniVersion: '1.1.0', supportedVersions: expect.arrayContaining(['0.3.1', '1.1.0']) as unknown });
    expect(out.durationUs).toBeGreaterThanOrEqual(0);
  });

  it('runs STATUS in-process against its own state dir', async () => {
    const out = await service.handle({ env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, stdin: config() });
    expect(out).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it('refuses a network whose stateDir or bpfDir is not its own, with code 7', async () => {
    for (const [field, value] of [['stateDir', join(dir, 'other')], ['bpfDir', join(dir, 'otherbpf')]]) {
      const out = await service.handle({ env: { CNI_COMMAND: 'STATUS' }, stdin: config({ [field!]: value }) });
      expect(out.exitCode).toBe(1);
      const reply = JSON.parse(out.stdout) as { code: number; msg: string };
      expect(reply.code).toBe(7);
      expect(reply.msg).toContain(`${field} ${value} is not this agent's`);
    }
  });

  it('gives bad input the same precise codes as the plugin', async () => {
    const noName = await service.handle({ env: { CNI_COMMAND: 'STATUS' }, stdin: JSON.stringify({ cniVersion: '1.1.0', type: 'strait' }) });
    expect(JSON.parse(noName.stdout)).toMatchObject({ code: 7, cniVersion: '1.1.0' });
    const unknownCommand = await service.handle({ env: { CNI_COMMAND: 'BOGUS' }, stdin: config() });
    expect(JSON.parse(unknownCommand.stdout)).toMatchObject({ code: 4 });
    const notJson = await service.handle({ env: { CNI_COMMAND: 'STATUS' }, stdin: '{' });
    expect(JSON.parse(notJson.stdout)).toMatchObject({ code: 6 });
  });

  it('answers POST /v1/cni with the stdout as body and the exit code in a header; 503 once closing', async () => {
    const socket = join(dir, 'api.sock');
    const closing = createCniService({ core: new FakeCore(), stateDir, bpfDir, log });
    const server = await startApiServer({ socketPath: socket, core: new FakeCore(), cni: closing, log });
    try {
      const post = (body: string) =>
        rawRequest(socket, `POST /v1/cni HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      const bad = await post(JSON.stringify({ env: { CNI_COMMAND: 'STATUS' }, stdin: '{"cniVersion":"1.1.0"}' }));
      expect(bad.status).toBe(200);
      expect(bad.headers['strait-cni-exit']).toBe('1');
      expect(Number(bad.headers['strait-cni-duration-us'])).toBeGreaterThanOrEqual(0);
      expect(JSON.parse(bad.body)).toMatchObject({ code: 7 });
      const ok = await post(JSON.stringify({ env: { CNI_COMMAND: 'STATUS' }, stdin: config() }));
      expect([ok.status, ok.headers['strait-cni-exit'], ok.body]).toEqual([200, '0', '']);
      expect((await post('{"env":{},"stdin":5}')).status).toBe(400);
      await closing.close(100);
      const refused = await post(JSON.stringify({ env: { CNI_COMMAND: 'VERSION' }, stdin: '' }));
      expect(refused.status).toBe(503);
      expect(refused.body).toContain('E_AGENT_CLOSING');
    } finally {
      await server.close();
    }
  });
});

describe('KeyedMutex', () => {
  it('runs the work of one key one at a time, in order, and other keys alongside', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name}>`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`<${name}`);
      if (name === 'a1') throw new Error('a1 fails');
    };
    const runs = [m.run('a', step('a1', 30)), m.run('a', step('a2', 1)), m.run('b', step('b1', 5))];
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    // a2 starts only after a1 ended (even though a1 failed); b1 runs inside a1.
    expect(log.indexOf('a2>')).toBeGreaterThan(log.indexOf('<a1'));
    expect(log.indexOf('b1>')).toBeLessThan(log.indexOf('<a1'));
    expect(m.size).toBe(0);
  });
});
