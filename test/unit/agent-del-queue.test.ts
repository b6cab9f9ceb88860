// The agent's drain of the DELs the shim queued: oldest first, done ones removed,
// those that may yet succeed (11, 5) kept, those that never can moved to failed/,
// temp files of dead shims swept, anything that is not a queued DEL refused.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { delQueueDir, drainDelQueue, type RunCall } from '../../src/agent/del-queue.js';
import type { ForwardedCall } from '../../src/agent/cni-service.js';

const log = pino({ level: 'silent' });
const root = mkdtempSync(join(tmpdir(), 'strait-delq-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function queue(stateDir: string, body: unknown): string {
  const dir = delQueueDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const name = `${String(1_700_000_000_000_000_000n + BigInt(seq++)).padStart(20, '0')}-4242.json`;
  writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  return name;
}
const del = (id: string): ForwardedCall => ({ env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: id, CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, stdin: '{}' });
const reply = (code: number) => ({ exitCode: 1 as const, stdout: `${JSON.stringify({ cniVersion: '1.1.0', code, msg: `failed with ${code}` })}\n` });

describe('drainDelQueue', () => {
  it('runs every queued DEL oldest first and sorts the outcomes', async () => {
    const stateDir = join(root, 'a');
    const names = [queue(stateDir, del('ok')), queue(stateDir, del('again')), queue(stateDir, del('io')), queue(stateDir, del('never'))];
    const junk = queue(stateDir, 'not json');
    const add = queue(stateDir, { ...del('add'), env: { ...del('add').env, CNI_COMMAND: 'ADD' } });
    // a temp file of a shim that died (pid 0x7fffffff does not run) and one that is not ours
    writeFileSync(join(delQueueDir(stateDir), '.tmp-2147483647-x.json'), '{');
    writeFileSync(join(delQueueDir(stateDir), 'README'), 'keep me');
    const seen: string[] = [];
    const run: RunCall = (call) => {
      const id = call.env.CNI_CONTAINERID ?? '';
      seen.push(id);
      return Promise.resolve(id === 'ok' ? { exitCode: 0, stdout: '' } : reply(id === 'again' ? 11 : id === 'io' ? 5 : 7));
    };
    expect(await drainDelQueue(stateDir, run, log)).toEqual({ done: 1, kept: 2, failed: 3 });
    expect(seen).toEqual(['ok', 'again', 'io', 'never']);
    const left = readdirSync(delQueueDir(stateDir)).sort();
    expect(left).toEqual(['README', names[1], names[2], 'failed'].sort());
    expect(readdirSync(join(delQueueDir(stateDir), 'failed')).sort()).toEqual([names[3], junk, add].sort());

    // The kept ones succeed on the next pass.
    expect(await drainDelQueue(stateDir, () => Promise.resolve({ exitCode: 0, stdout: '' }), log)).toEqual({ done: 2, kept: 0, failed: 0 });
    expect(existsSync(join(delQueueDir(stateDir), names[1]!))).toBe(false);
  });

  it('is a no-op without a queue directory', async () => {
    expect(await drainDelQueue(join(root, 'none'), () => Promise.reject(new Error('must not run')), log)).toEqual({ done: 0, kept: 0, failed: 0 });
  });
});
