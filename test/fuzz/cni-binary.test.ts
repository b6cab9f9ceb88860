// FUZZ: bin/strait itself, exec'd as a runtime does (CNI_* environment, config on
// stdin), on a few hundred generated inputs that the in-process parsers refuse, so
// no call reaches an effect (no netns, veth, lease or map is touched). Properties:
// exit code 1, exactly one line on stdout holding the error object the in-process
// run predicts (so request.ts is what the binary does), and nothing left in the
// state dir but the log file the config asked for. In the netns-agent project every
// call goes through a real strait-agent (STRAIT_AGENT_SOCKET), its dirs standing in for
// the confined ones, and its state dir must be as it was.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStraitError } from '../../src/errors.js';
import { errorReply } from '../../src/cni/output.js';
import { parseRequest, sniffVersion } from '../../src/cni/request.js';
import { versionReply } from '../../src/cni/version.js';
import { parseIpamConfig } from '../../src/ipam/config.js';
import { STRAIT_BIN } from '../helpers/cni.js';
import { agentEnv } from '../helpers/cni-agents.js';
import { cleanupAll } from '../helpers/sys.js';
import { cniEnv, mutatedConf } from './cni-inputs.js';
import type { Json, JsonObject } from './mutate.js';
import { FUZZ_SEED } from './seed.js';

const CASES = 250;
const PARALLEL = 3;

interface Case {
  env: Record<string, string>;
  stdin: string;
}

/** The error bin/strait must print for `c`, or null when the input gets past the parsers. */
function expectedError(c: Case): object | null {
  try {
    const req = parseRequest(c.env, c.stdin);
    if (req.kind === 'version' || req.conf.ipam.type !== 'strait') return null;
    parseIpamConfig(req.conf.ipam.raw); // the first thing every command does with strait IPAM
    return null;
  } catch (e) {
    if (!isStraitError(e)) throw e;
    return errorReply(e, sniffVersion(c.stdin));
  }
}

/** Every absolute path in the config moved under `dir` (stateDir and bpfDir: the agent's, in agent mode): nothing else can be written. */
function confinePaths(conf: Json, dir: string, agent: Record<string, string>): Json {
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) return conf;
  const out: JsonObject = { ...conf };
  const to = { stateDir: agent.STRAIT_STATE_DIR ?? join(dir, 'stateDir'), bpfDir: agent.STRAIT_BPF_DIR ?? join(dir, 'bpfDir'), logFile: join(dir, 'logFile') };
  for (const k of ['stateDir', 'bpfDir', 'logFile'] as const)
    if (typeof out[k] === 'string' && out[k].startsWith('/')) out[k] = to[k];
  // An absolute agentSocket makes bin/strait (the shim) hand the call to an agent
  // instead of the Node plugin: that mode has its own fuzz, test/fuzz/cni-shim.test.ts.
  if (typeof out.agentSocket === 'string' && out.agentSocket.startsWith('/')) delete out.agentSocket;
  const ipam = out.ipam;
  if (ipam !== null && typeof ipam === 'object' && !Array.isArray(ipam) && typeof ipam.dataDir === 'string' && ipam.dataDir.startsWith('/'))
    out.ipam = { ...ipam, dataDir: join(dir, 'dataDir') };
  return out;
}

function exec(c: Case): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(STRAIT_BIN, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...c.env }, stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
    child.stdin.on('error', () => undefined); // a plugin that exits before reading all of stdin
    child.stdin.end(c.stdin);
  });
}

describe('fuzz: bin/strait as a runtime calls it', () => {
  let dir: string;
  let agent: Record<string, string>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strait-binfuzz-'));
    agent = agentEnv();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    cleanupAll();
  });

  it(`${CASES} refused calls: exit 1, the predicted error object, nothing written`, async () => {
    const gen = fc.tuple(cniEnv, mutatedConf, fc.boolean()).map(([env, { conf }, keepEnv]): Case => {
      const e = keepEnv ? env : { ...env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' };
      return { env: e, stdin: JSON.stringify(conf) };
    });
    /** `raw` with every path it names under `d`, and the error that must come out. */
    const confined = (raw: Case, d: string) => {
      const c: Case = { env: { ...raw.env, STRAIT_STATE_DIR: join(d, 'env-state'), ...agent }, stdin: JSON.stringify(confinePaths(JSON.parse(raw.stdin) as Json, d, agent)) };
      return { ...c, expected: c.env.CNI_COMMAND === 'VERSION' ? versionReply() : expectedError(c) };
    };
    const cases: Case[] = [{ env: { CNI_COMMAND: 'VERSION' }, stdin: '"not a config"' }];
    for (let seed = FUZZ_SEED; cases.length < CASES; seed++) {
      for (const raw of fc.sample(gen, { numRuns: CASES, seed })) if (cases.length < CASES && confined(raw, dir).expected !== null) cases.push(raw);
    }

    const agentState = agent.STRAIT_STATE_DIR;
    const agentFiles = () => (agentState === undefined ? [] : readdirSync(agentState, { recursive: true }).map(String).sort());
    const before = agentFiles();
    const failures: string[] = [];
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      const wdir = join(dir, `w${w}`);
      mkdirSync(wdir);
      while (next < cases.length) {
        const c = confined(cases[next++]!, wdir);
        const { code, stdout } = await exec(c);
        const lines = stdout.split('\n').filter((l) => l !== '');
        let printed: unknown = null;
        try {
          printed = JSON.parse(lines[0] ?? '');
        } catch {
          // reported below
        }
        const left = readdirSync(wdir).filter((f) => f !== 'logFile');
        const ok = code === (c.env.CNI_COMMAND === 'VERSION' ? 0 : 1) && lines.length === 1 && JSON.stringify(printed) === JSON.stringify(c.expected) && left.length === 0;
        if (!ok) failures.push(`env=${JSON.stringify(c.env)} stdin=${c.stdin.slice(0, 300)} → exit ${code}, stdout ${stdout.slice(0, 300)}, expected ${JSON.stringify(c.expected)}, left ${left.join(',')}`);
        for (const f of readdirSync(wdir)) rmSync(join(wdir, f), { recursive: true, force: true });
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, (_, w) => worker(w)));
    expect(failures.slice(0, 5)).toEqual([]);
    expect(agentFiles()).toEqual(before);
  });
});
