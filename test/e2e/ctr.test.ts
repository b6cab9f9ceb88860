// `ctr run --cni`: the containerd client does CNI itself, with the first conflist in
// sorted order in /etc/cni/net.d and CNI_PATH /opt/cni/bin:/usr/lib/cni, both fixed
// (docs/runtimes.md). So this file — and only this one — puts 10-strait.conflist and a
// strait link into those system directories, and puts back whatever was there.
// CNI_CONTAINERID is `<namespace>-<id>`; ADD gets /proc/<pid>/ns/net and DEL, sent
// when the task has exited, an empty CNI_NETNS. It runs twice: through the node's
// strait-agent (the conflist names its socket) and standalone (a Node plugin per call),
// the mode of every `ctr` user without an agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCni, STRAIT_BIN } from '../helpers/cni.js';
import { bpffsDir, cleanupAll, rand, tempDir } from '../helpers/sys.js';
import { startContainerd, type Containerd } from './containerd.js';
import {
  cachedResults,
  removeCachedResults,
  conflist,
  keepLogs,
  leftovers,
  loggedErrors,
  loggedRequests,
  NOTHING_LEFT,
  straitctlEndpoints,
  straitPlugin,
} from './cni-setup.js';
import { callsServedBy, endpointsReadyVia, startAgent, type CniMode, type E2eAgent } from './agent.js';
import { buildTestImages, IMAGE } from './image.js';
import { e2eSkipReason, waitFor } from './wait.js';

const NETWORK = 'strait-e2e-ctr';
const V4 = '198.18.71.0/24';
const V6 = 'fd5a:71::/64';
const ROUTE_PREFIXES = ['198.18.71.', 'fd5a:71:'];
const NS = 'e2e';
const CONF_DIR = '/etc/cni/net.d';
const CONF_FILE = '10-strait.conflist';
const BIN_DIR = '/opt/cni/bin';
const skip = e2eSkipReason('ctr run --cni e2e tests', ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2']);

/**
 * Puts `path` in place for the test and remembers how to undo it: an existing file
 * is moved aside (into `backupDir`) and moved back; directories we create are
 * removed again if empty. Nothing we did not create is ever deleted.
 */
class SystemFiles {
  private readonly undo: (() => void)[] = [];
  constructor(private readonly backupDir: string) {}

  mkdirs(dir: string): void {
    const missing: string[] = [];
    for (let d = dir; d !== '/' && !existsSync(d); d = join(d, '..')) missing.push(d);
    for (const d of missing.reverse()) {
      mkdirSync(d);
      this.undo.push(() => {
        if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
      });
    }
  }

  place(path: string, make: () => void): void {
    const exists = existsSync(path) || isSymlink(path);
    if (exists) {
      const aside = join(this.backupDir, path.replace(/\//g, '_'));
      renameSync(path, aside);
      this.undo.push(() => renameSync(aside, path));
    }
    make();
    this.undo.push(() => rmSync(path, { force: true }));
  }

  restore(): void {
    for (const u of this.undo.reverse()) {
      try {
        u();
      } catch (e) {
        console.error(`restoring system files: ${(e as Error).message} (backups stay in ${this.backupDir})`);
      }
    }
    this.undo.length = 0;
    if (readdirSync(this.backupDir).length === 0) rmdirSync(this.backupDir);
  }
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The network configs libcni would consider in `dir`, sorted as it sorts them. */
const confFiles = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort() : [];

describe.skipIf(skip !== null).each<CniMode>(['agent', 'standalone'])('ctr run --cni drives strait (%s)', (mode) => {
  let dir = '';
  let stateDir = '';
  let bpfDir = '';
  let logFile = '';
  let ctd: Containerd | null = null;
  let agent: E2eAgent | null = null;
  let system: SystemFiles | null = null;
  let straitConf: Record<string, unknown> = {};
  const running = new Map<string, ChildProcess>();

  beforeAll(async () => {
    removeCachedResults(NETWORK);
    dir = tempDir('e2e-ctr');
    stateDir = join(dir, 'state');
    bpfDir = bpffsDir('e2e-ctr');
    logFile = join(dir, 'strait.log');
    const images = buildTestImages(join(dir, 'images'));

    const before = confFiles(CONF_DIR).filter((f) => f < CONF_FILE);
    if (before.length > 0) {
      throw new Error(`${CONF_DIR} has ${before.join(', ')} sorting before ${CONF_FILE}: ctr would use that instead`);
    }
    // Not a tempDir: cleanupAll must never delete a file we moved aside.
    system = new SystemFiles(mkdtempSync(join(tmpdir(), 'strait-e2e-ctr-backup-')));
    if (mode === 'agent') agent = await startAgent(join(dir, 'agent'), { stateDir, bpfDir });
    const plugin = straitPlugin({ stateDir, bpfDir, logFile, v4: V4, v6: V6, ...(agent ? { agentSocket: agent.socket } : {}) });
    straitConf = { cniVersion: '1.0.0', name: NETWORK, ...plugin };
    const sys = system;
    sys.mkdirs(CONF_DIR);
    sys.place(join(CONF_DIR, CONF_FILE), () =>
      writeFileSync(join(CONF_DIR, CONF_FILE), JSON.stringify(conflist(NETWORK, [plugin]), null, 2)),
    );
    sys.mkdirs(BIN_DIR);
    sys.place(join(BIN_DIR, 'strait'), () => symlinkSync(STRAIT_BIN, join(BIN_DIR, 'strait')));

    ctd = await startContainerd(join(dir, 'containerd'));
    ctd.ctr(NS, ['images', 'import', images.archive]);
  });

  afterAll(async () => {
    // A `ctr run` still waiting: kill its task so ctr sends DEL itself; if ctr is
    // gone without doing so, DEL by hand so no lease or veth outlives the test.
    for (const [id, child] of running) {
      ctd?.ctr(NS, ['tasks', 'kill', '-s', 'SIGKILL', id], { allowFail: true });
      await waitFor(`ctr run ${id} to exit`, () => child.exitCode !== null || child.signalCode !== null, 10_000).catch(() => {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      });
      await runCni({ command: 'DEL', config: straitConf, containerId: `${NS}-${id}`, path: '/usr/lib/cni' });
    }
    await ctd?.stop();
    system?.restore();
    await agent?.stop();
    if (agent) writeFileSync(join(dir, 'agent.log'), agent.log());
    keepLogs(`ctr-${mode}`, { 'strait.log': logFile, 'containerd.log': join(dir, 'containerd', 'containerd.log'), 'agent.log': join(dir, 'agent.log') });
    removeCachedResults(NETWORK);
    cleanupAll();
  });

  /** `ctr run --cni` in the foreground of a child process, as a person would. */
  function ctrRun(id: string): ChildProcess {
    const child = spawn(
      'ctr',
      [
        '--address', ctd!.socket, '--namespace', NS,
        'run', '--rm', '--cni', '--null-io', '--runc-root', join(ctd!.dir, 'runc'),
        IMAGE, id, '/bin/sh', '-c', `exec nc -ll -p 8080 -e echo hello from ${id}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => {
      if (code !== 0 && code !== 137) console.error(`ctr run ${id} exited ${code}: ${stderr}`);
    });
    running.set(id, child);
    return child;
  }

  const endpointsOf = (id: string) => straitctlEndpoints(bpfDir, stateDir).filter((e) => e.containerId === `${NS}-${id}`);

  it('two containers get strait addresses, reach each other, and stopping them releases everything', async () => {
    const ids = [`a-${rand(3)}`, `b-${rand(3)}`];
    for (const id of ids) ctrRun(id);
    await waitFor('both tasks to run with their endpoints', () => ids.every((id) => endpointsOf(id).length === 2 && (ctd!.ctr(NS, ['tasks', 'ls']).stdout.split('\n').find((l) => l.startsWith(id)) ?? '').includes('RUNNING')), 30_000, 100);
    const [a, b] = ids as [string, string];
    endpointsReadyVia(mode, agent, ids.flatMap(endpointsOf));
    const ip = (id: string, family: 4 | 6) => endpointsOf(id).find((e) => e.family === family)!.ip;

    // The container sees on eth0 the address strait leased.
    const shown = ctd!.ctr(NS, ['tasks', 'exec', '--exec-id', `ip-${rand(2)}`, a, 'ip', '-o', 'addr', 'show', 'dev', 'eth0']).stdout;
    expect(shown).toContain(`inet ${ip(a, 4)}/32`);
    expect(shown).toContain(`inet6 ${ip(a, 6)}/128`);

    for (const [from, to] of [[a, ip(b, 4)], [b, ip(a, 4)], [a, ip(b, 6)]] as const) {
      ctd!.ctr(NS, ['tasks', 'exec', '--exec-id', `ping-${rand(2)}`, from, 'ping', '-c', '1', '-W', '2', to]);
    }
    const reply = ctd!.ctr(NS, ['tasks', 'exec', '--exec-id', `nc-${rand(2)}`, b, 'nc', '-w', '2', ip(a, 4), '8080']).stdout;
    expect(reply).toBe(`hello from ${a}\n`);

    // Stopping: kill the task; the foreground `ctr run` sees it exit, DELs, removes it.
    for (const id of ids) {
      const child = running.get(id)!;
      ctd!.ctr(NS, ['tasks', 'kill', '-s', 'SIGKILL', id]);
      await waitFor(`ctr run ${id} to finish`, () => child.exitCode !== null, 20_000);
      running.delete(id);
    }
    expect(leftovers({ stateDir, bpfDir, network: NETWORK, routePrefixes: ROUTE_PREFIXES })).toEqual(NOTHING_LEFT);
    expect(cachedResults(NETWORK)).toEqual([]);
    expect(ctd!.ctr(NS, ['containers', 'ls', '-q']).stdout.trim()).toBe('');

    for (const id of ids) {
      const calls = loggedRequests(logFile).filter((r) => r.containerId === `${NS}-${id}`);
      expect(calls.map((c) => c.cmd)).toEqual(['ADD', 'DEL']);
      expect(calls[0]!.netns).toMatch(/^\/proc\/\d+\/ns\/net$/);
      expect(calls[0]!.args).toEqual({});
      expect(calls[1]!.netns).toBeNull();
    }
    callsServedBy(mode, agent, loggedRequests(logFile).filter((r) => ids.some((id) => r.containerId === `${NS}-${id}`)));
    if (agent) expect(agent.status().endpoints).toBe(0);
    expect(loggedErrors(logFile)).toEqual([]);
  });
});
