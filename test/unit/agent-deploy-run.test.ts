// The order the agent's main follows (src/agent/deploy-run.ts): the binary at start,
// the conflist only once the API listens AND the datapath is synced, readiness only
// after that; a restart over an installed node changes nothing.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDeploy, type DeployRun } from '../../src/agent/deploy-run.js';
import { SHIM_PATH } from '../../src/agent/install.js';
import { parseAgentFlags } from '../../src/agent/options.js';
import { capturingLogger } from '../helpers/agent-wait.js';
import { cleanupAll, tempDir } from '../helpers/sys.js';

afterAll(cleanupAll);

async function readyz(d: DeployRun): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${d.health!.port}/readyz`);
  return { status: r.status, body: await r.json() };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deploy run', () => {
  it('installs the binary at once, the conflist only when listening and synced, and is ready only then', async () => {
    const root = tempDir('deploy-run');
    const bin = join(root, 'bin');
    const conf = join(root, 'conf');
    mkdirSync(bin);
    mkdirSync(conf);
    const flags = parseAgentFlags(
      ['--source', `dir:${root}`, '--state-dir', join(root, 'state'), '--socket', join(root, 'agent.sock'), '--health-addr', '127.0.0.1:0', '--cni-bin-dir', bin, '--cni-conf-dir', conf],
      {},
    )!;
    const { log } = capturingLogger();
    const d = await startDeploy(flags, log);
    try {
      expect(readFileSync(join(bin, 'strait')).equals(readFileSync(SHIM_PATH))).toBe(true);
      expect(readdirSync(conf)).toEqual([]);
      expect(await readyz(d)).toEqual({ status: 503, body: { ready: false, reason: 'the agent API is not listening yet' } });

      let synced = false;
      d.apiListening(() => synced);
      await tick(350); // several polls
      expect(readdirSync(conf)).toEqual([]);
      expect(await readyz(d)).toEqual({ status: 503, body: { ready: false, reason: 'the datapath is not synced with the source yet' } });

      synced = true;
      for (let i = 0; i < 100 && !existsSync(join(conf, '10-strait.conflist')); i++) await tick(20);
      const written = JSON.parse(readFileSync(join(conf, '10-strait.conflist'), 'utf8')) as { plugins: Record<string, unknown>[] };
      expect(written.plugins[0]).toMatchObject({ type: 'strait', agentSocket: join(root, 'agent.sock'), stateDir: join(root, 'state'), bpfDir: '/sys/fs/bpf/strait' });
      expect(await readyz(d)).toEqual({ status: 200, body: { ready: true } });
    } finally {
      await d.close();
    }

    // A restarted agent finds everything in place: nothing is rewritten.
    const before = [statSync(join(bin, 'strait')), statSync(join(conf, '10-strait.conflist'))].map((s) => [s.ino, s.mtimeMs]);
    const again = await startDeploy(flags, log);
    try {
      again.apiListening(() => true);
      for (let i = 0; i < 50 && (await readyz(again)).status !== 200; i++) await tick(20);
      expect((await readyz(again)).status).toBe(200);
      expect([statSync(join(bin, 'strait')), statSync(join(conf, '10-strait.conflist'))].map((s) => [s.ino, s.mtimeMs])).toEqual(before);
    } finally {
      await again.close();
    }
  });

  it('a template that is no conflist stops the agent before it installs anything', async () => {
    const root = tempDir('deploy-run-bad');
    const flags = parseAgentFlags(['--source', `dir:${root}`, '--state-dir', join(root, 'state'), '--cni-bin-dir', root, '--cni-conf-dir', root, '--cni-conflist-template', join(root, 'missing.json')], {})!;
    await expect(startDeploy(flags, capturingLogger().log)).rejects.toThrow(/--cni-conflist-template .*missing\.json: ENOENT/);
    expect(readdirSync(root)).toEqual([]);
  });
});
