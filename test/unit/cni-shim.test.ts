// bin/strait, the native shim (shim/strait.c), against docs/cni-agent.md: VERSION on its
// own, which socket it picks, the request it sends, what it makes of each answer and of
// an agent that cannot take the call (the DEL queue), its stdin bound, and standalone
// mode running the real Node plugin. Fake agents are node:http servers on unix sockets
// in a temp dir; no root needed except where a test says so.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorReply } from '../../src/cni/output.js';
import { parseRequest, sniffVersion } from '../../src/cni/request.js';
import { versionReply } from '../../src/cni/version.js';
import { isRoot } from '../helpers/sys.js';
import { fakeAgent, queuedDel, runShim, type AgentAnswer, type FakeAgent } from '../helpers/shim.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SLOW = 30_000; // an agent that never answers costs the shim its 5 s margin

let dir: string;
let n = 0;
const agents: FakeAgent[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'strait-shim-'));
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fresh = (what: string): string => join(dir, `${what}-${n++}`);
const agent = async (answer: AgentAnswer | ((body: string) => AgentAnswer)): Promise<FakeAgent> => {
  const a = await fakeAgent(fresh('agent.sock'), (c) => (typeof answer === 'function' ? answer(c.body) : answer));
  agents.push(a);
  return a;
};
const ok = (body: string, exit = '0', headers: Record<string, string> = {}): AgentAnswer => ({
  status: 200,
  headers: { 'strait-cni-exit': exit, 'strait-cni-duration-us': '1234', ...headers },
  body,
});

const cniEnv = (command: string): Record<string, string> => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
});
const conf = (extra: Record<string, unknown> = {}): string => JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'strait', ...extra });
/** The one JSON line the shim printed. */
const printed = (stdout: string): { cniVersion: string; code: number; msg: string } => {
  expect(stdout.endsWith('\n') && stdout.indexOf('\n') === stdout.length - 1, stdout).toBe(true);
  return JSON.parse(stdout) as { cniVersion: string; code: number; msg: string };
};
/** The error the Node plugin prints for a call it refuses before any effect. */
const nodeError = (env: Record<string, string>, stdin: string): unknown => {
  try {
    parseRequest(env, stdin);
  } catch (e) {
    return errorReply(e, sniffVersion(stdin));
  }
  throw new Error('the config was meant to be refused');
};
/** A directory to bind over /run: the default socket is absent, whatever the machine has. */
const emptyRun = (): string | undefined => {
  if (!isRoot) return undefined;
  const d = fresh('run');
  mkdirSync(d);
  return d;
};

describe('VERSION', () => {
  const node = spawnSync(join(ROOT, 'tools/node24/bin/node'), [join(ROOT, 'dist/cni-bundle/main.js')], {
    env: { CNI_COMMAND: 'VERSION' },
    input: '{"cniVersion":"1.0.0"}',
    encoding: 'utf8',
  });

  it('prints byte for byte what the Node plugin prints, with no socket anywhere', async () => {
    const r = await runShim({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}', { run: emptyRun() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(node.stdout);
    expect(r.stdout).toBe(`${JSON.stringify(versionReply())}\n`);
  });

  it('answers itself, never asking a configured agent (one that would refuse)', async () => {
    const a = await agent({ status: 500, body: 'no' });
    const r = await runShim({ CNI_COMMAND: 'VERSION', STRAIT_AGENT_SOCKET: fresh('none.sock') }, conf({ agentSocket: a.socket }));
    expect([r.code, r.stdout]).toEqual([0, node.stdout]);
    expect(a.calls).toEqual([]);
  });
});

describe('the request', () => {
  const stdin = `{"cniVersion":"1.0.0","name":"q\\"uo\\\\te","pad":"\\u0001"}\n\t"raw \\ \u0001 \u007f é 🚀 \r\n`;

  it('is POST /v1/cni with CNI_* and STRAIT_* only, and stdin byte-exact', async () => {
    const a = await agent(ok(''));
    const env = { ...cniEnv('ADD'), CNI_ARGS: 'K8S_POD_NAME=p;X="y"', STRAIT_AGENT_SOCKET: a.socket, STRAIT_X: 'tab\tnl\n', HOME: '/root', FOO: 'bar' };
    const r = await runShim(env, stdin);
    expect(r.code).toBe(0);
    expect(a.calls).toHaveLength(1);
    const call = a.calls[0]!;
    expect([call.method, call.url, call.headers.host, call.headers['content-type'], call.headers.connection]).toEqual([
      'POST',
      '/v1/cni',
      'strait-agent',
      'application/json',
      'close',
    ]);
    const { FOO: _foo, HOME: _home, ...forwarded } = env;
    expect(JSON.parse(call.body)).toEqual({ env: forwarded, stdin });
  });

  it('is queued byte-exact for a DEL the agent cannot take', async () => {
    const stateDir = fresh('state');
    const env = { ...cniEnv('DEL'), STRAIT_AGENT_SOCKET: fresh('none.sock'), STRAIT_STATE_DIR: stateDir, HOME: '/root' };
    const r = await runShim(env, stdin);
    expect([r.code, r.stdout]).toEqual([0, '']);
    const { HOME: _home, ...forwarded } = env;
    expect(queuedDel(stateDir).body).toEqual({ env: forwarded, stdin });
  });
});

describe('a 200 answer', () => {
  it.each([
    ['0', '{"cniVersion":"1.0.0","interfaces":[]}\n'],
    ['1', '{"cniVersion":"1.0.0","code":7,"msg":"bad"}\n'],
  ])('exit %s: the body printed as it is, the exit code the header says', async (exit, body) => {
    const a = await agent(ok(body, exit));
    const r = await runShim(cniEnv('ADD'), conf({ agentSocket: a.socket }));
    expect([r.code, r.stdout, r.stderr]).toEqual([Number(exit), body, '']);
  });

  it('of several MiB (read in many pieces) printed whole, the headers still read', async () => {
    const body = `${JSON.stringify({ cniVersion: '1.0.0', dns: { search: Array.from({ length: 300_000 }, (_, i) => `d${i}.example`) } })}\n`;
    const a = await agent(ok(body, '1', { 'strait-cni-duration-us': '98765' }));
    const r = await runShim({ ...cniEnv('ADD'), STRAIT_SHIM_TRACE: '1' }, conf({ agentSocket: a.socket }));
    expect(body.length).toBeGreaterThan(4 << 20);
    expect([r.code, r.stdout.length, r.stdout === body]).toEqual([1, body.length, true]);
    expect(r.stderr).toContain('(agent work 98765 us)');
  });

  it('with STRAIT_SHIM_TRACE=1: one line on stderr with the round trip and the agent work', async () => {
    const a = await agent(ok(''));
    const r = await runShim({ ...cniEnv('DEL'), STRAIT_SHIM_TRACE: '1' }, conf({ agentSocket: a.socket }));
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(r.stderr).toMatch(new RegExp(`^strait: agent ${a.socket} answered in \\d+ us \\(agent work 1234 us\\)\\n$`));
  });

  it.each([
    ['no strait-cni-exit', { status: 200, body: '{}' }],
    ['a chunked body', { status: 200, headers: { 'strait-cni-exit': '0', 'transfer-encoding': 'chunked' }, body: '' }],
  ] as const)('with %s is error 11, not a guess', async (_what, answer) => {
    const a = await agent(answer);
    const r = await runShim(cniEnv('ADD'), conf({ agentSocket: a.socket }));
    expect(r.code).toBe(1);
    expect(printed(r.stdout)).toMatchObject({ code: 11, msg: expect.stringContaining(a.socket) as string });
  });
});

describe('another status', () => {
  it.each([
    [500, JSON.stringify({ error: { code: 'E_INTERNAL', message: 'the agent \\ broke' } }), 'the agent \\ broke'],
    [404, `<html>${'x'.repeat(300)}`, `<html>${'x'.repeat(194)}`],
  ])('%i: error 11 naming the status and what the agent said', async (status, body, said) => {
    const a = await agent({ status, body });
    for (const command of ['ADD', 'DEL', 'STATUS']) {
      const r = await runShim(cniEnv(command), conf({ agentSocket: a.socket }));
      expect(r.code).toBe(1);
      expect(printed(r.stdout)).toEqual({ cniVersion: '1.0.0', code: 11, msg: `strait agent at ${a.socket} answered ${status}: ${said}`, details: expect.any(String) as string });
    }
  });
});

describe('which socket', () => {
  it("the config's agentSocket beats STRAIT_AGENT_SOCKET", async () => {
    const [a, b] = [await agent(ok('A')), await agent(ok('B'))];
    const r = await runShim({ ...cniEnv('ADD'), STRAIT_AGENT_SOCKET: b.socket }, conf({ agentSocket: a.socket }));
    expect(r.stdout).toBe('A');
    expect([a.calls.length, b.calls.length]).toEqual([1, 0]);
  });

  it('finds agentSocket after nested values, escaped strings and escapes in the path itself', async () => {
    const a = await agent(ok('A'));
    const deep = `${'['.repeat(100_000)}{"agentSocket":"/no"}${']'.repeat(100_000)}`;
    const escaped = a.socket.replaceAll('/', '\\/').replace('agent', '\\u0061gent');
    const stdin = `{"cniVersion":"1.0.0","x":${deep},"s":"\\"agentSocket\\":\\"/no\\"","o":{"agentSocket":"/no"},"agentSocket":"${escaped}"}`;
    const r = await runShim(cniEnv('ADD'), stdin);
    expect([r.code, r.stdout]).toEqual([0, 'A']);
  });

  it('a key or value holding \\u0000 is not the agentSocket; the rest of the config still counts', async () => {
    const [a, b] = [await agent(ok('A')), await agent(ok('B'))];
    for (const [stdin, want] of [
      [`{"agentSocket":"${a.socket}","agentSocket\\u0000":"${b.socket}"}`, 'A'],
      [`{"agentSocket":"${a.socket}","stateDir":"/x\\u0000y"}`, 'A'],
      [`{"agentSocket":"${b.socket}","agentSocket":"${a.socket}\\u0000x"}`, 'B'],
    ] as const) {
      const r = await runShim({ ...cniEnv('ADD'), STRAIT_AGENT_SOCKET: b.socket }, `{"cniVersion":"1.0.0",${stdin.slice(1)}`);
      expect([r.stdout, stdin]).toEqual([want, stdin]);
    }
  });

  it('invalid JSON: its agentSocket counts as absent, STRAIT_AGENT_SOCKET is used', async () => {
    const [a, b] = [await agent(ok('A')), await agent(ok('B'))];
    for (const bad of [`{"agentSocket":"${a.socket}",`, `{"agentSocket":"${a.socket}"} x`, `{"agentSocket":"${a.socket}","n":01}`]) {
      const r = await runShim({ ...cniEnv('ADD'), STRAIT_AGENT_SOCKET: b.socket }, bad);
      expect(r.stdout, bad).toBe('B');
    }
    expect(a.calls).toEqual([]);
  });

  it('a relative agentSocket is error 7, a relative STRAIT_AGENT_SOCKET error 4: the Node plugin says so, in its order of checks', async () => {
    const a = await agent(ok('A'));
    const cases: [Record<string, string>, string, number][] = [
      [cniEnv('ADD'), conf({ cniVersion: '0.4.0', ipam: { type: 'strait' }, agentSocket: 'agent.sock' }), 7],
      [{ ...cniEnv('ADD'), STRAIT_AGENT_SOCKET: a.socket }, conf({ ipam: { type: 'strait' }, agentSocket: '' }), 7],
      [{ ...cniEnv('ADD'), STRAIT_AGENT_SOCKET: 'run/a.sock' }, conf({ ipam: { type: 'strait' } }), 4],
      [cniEnv('ADD'), conf({ cniVersion: '9.9.9', agentSocket: 'agent.sock' }), 1], // the version is checked first
    ];
    for (const [env, stdin, code] of cases) {
      const r = await runShim(env, stdin, { run: emptyRun() });
      expect(r.code).toBe(1);
      expect(printed(r.stdout)).toEqual(nodeError(env, stdin));
      expect(printed(r.stdout).code).toBe(code);
    }
    expect(a.calls).toEqual([]);
  });

  it.skipIf(!isRoot)('/run/strait/agent.sock when it exists (in a private mount namespace)', async () => {
    const run = fresh('run');
    mkdirSync(join(run, 'strait'), { recursive: true });
    const a = await fakeAgent(join(run, 'strait/agent.sock'), () => ok('D'));
    agents.push(a);
    const r = await runShim(cniEnv('ADD'), conf(), { run });
    expect([r.code, r.stdout]).toEqual([0, 'D']);
    expect(a.calls).toHaveLength(1);
  });
  if (!isRoot) console.warn('\n*** SKIPPING the default-socket test: it needs root for a private mount namespace over /run ***\n');
});

describe('an agent configured but unreachable or not ready', () => {
  const causes: [string, () => Promise<string>, RegExp][] = [
    ['no socket file', async () => fresh('none.sock'), /No such file/],
    [
      'a file nobody listens on',
      async () => {
        const f = fresh('dead.sock');
        writeFileSync(f, '');
        return f;
      },
      /refused/,
    ],
    ['a 503', async () => (await agent({ status: 503, body: '{"error":{"message":"agent starting"}}' })).socket, /agent starting/],
    ['an agent that never answers', async () => (await agent('hang')).socket, /timeout/],
    ['an agent that closes mid-answer', async () => (await agent('cut')).socket, /closed before the answer was complete/],
  ];

  it.each(causes)(
    '%s: ADD/CHECK/GC 11 and STATUS 50 naming the socket, DEL queued, no command 4',
    async (_what, socket, why) => {
      const sock = await socket();
      const call = async (command: string | undefined) => {
        const stateDir = fresh('state');
        const env = command === undefined ? { STRAIT_STATE_DIR: stateDir } : { ...cniEnv(command), STRAIT_STATE_DIR: stateDir };
        const stdin = conf({ cniVersion: '1.1.0', agentSocket: sock, agentTimeoutMs: 1 });
        return { command, stateDir, env, stdin, r: await runShim(env, stdin) };
      };
      const runs = await Promise.all(['ADD', 'CHECK', 'GC', 'STATUS', 'DEL', undefined].map(call));
      for (const { command, stateDir, env, stdin, r } of runs) {
        if (command === 'DEL') {
          expect([r.code, r.stdout]).toEqual([0, '']);
          expect(queuedDel(stateDir).body).toEqual({ env, stdin });
          continue;
        }
        expect(r.code, command).toBe(1);
        const e = printed(r.stdout);
        const code = command === undefined ? 4 : command === 'STATUS' ? 50 : 11;
        expect([command, e.cniVersion, e.code]).toEqual([command, '1.1.0', code]);
        if (code !== 4) expect(e.msg).toContain(sock);
        if (code !== 4) expect(e.msg).toMatch(why);
      }
    },
    SLOW,
  );

  it('a DEL that cannot be queued is error 11 naming the queue dir and the errno', async () => {
    const stateDir = fresh('state');
    writeFileSync(stateDir, 'a file, not a dir');
    const r = await runShim({ ...cniEnv('DEL'), STRAIT_STATE_DIR: stateDir }, conf({ agentSocket: fresh('none.sock') }));
    expect(r.code).toBe(1);
    expect(printed(r.stdout)).toMatchObject({ code: 11, msg: expect.stringMatching(new RegExp(`^cannot queue DEL in ${stateDir}/cni-del-queue: .*errno 20`)) as string });
  });

  it("the config's stateDir holds the queue (mode 0700 where the shim makes it)", async () => {
    const stateDir = join(fresh('state'), 'deeper');
    const r = await runShim({ ...cniEnv('DEL'), STRAIT_STATE_DIR: fresh('unused') }, conf({ stateDir, agentSocket: fresh('none.sock') }));
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(queuedDel(stateDir).name).toMatch(new RegExp(`-\\d+\\.json$`));
    expect(spawnSync('stat', ['-c', '%a', stateDir, join(stateDir, 'cni-del-queue')], { encoding: 'utf8' }).stdout).toBe('700\n700\n');
  });
});

describe('stdin', () => {
  const sized = (bytes: number, socket: string) => {
    const head = `{"cniVersion":"1.0.0","agentSocket":"${socket}","pad":"`;
    return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
  };

  it('exactly 1 MiB is forwarded whole; 1 MiB + 1 byte is error 6 and nothing is sent', async () => {
    const a = await agent(ok(''));
    const max = sized(1 << 20, a.socket);
    expect(Buffer.byteLength(max)).toBe(1 << 20);
    const r = await runShim(cniEnv('ADD'), max);
    expect(r.code).toBe(0);
    expect((JSON.parse(a.calls[0]!.body) as { stdin: string }).stdin).toBe(max);
    const big = await runShim(cniEnv('ADD'), sized((1 << 20) + 1, a.socket));
    expect(big.code).toBe(1);
    expect(printed(big.stdout)).toMatchObject({ code: 6 });
    expect(a.calls).toHaveLength(1);
  });
});

describe('standalone (no socket configured, no default file)', () => {
  it.each([
    ['a config missing name: 7', JSON.stringify({ cniVersion: '1.0.0', type: 'strait' }), 7],
    ['an unknown field: 2', conf({ bogus: '"\\\n\u0001é' }), 2],
  ])("%s, the Node plugin's own error", async (_what, stdin, code) => {
    const r = await runShim(cniEnv('ADD'), stdin, { run: emptyRun() });
    expect(r.code).toBe(1);
    expect(printed(r.stdout)).toEqual(nodeError(cniEnv('ADD'), stdin));
    expect(printed(r.stdout).code).toBe(code);
  });

  it('a checkout without Node.js or the bundle: error 100 naming the path and scripts/setup.sh', async () => {
    const root = fresh('root');
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync(join(ROOT, 'bin/strait'), join(root, 'bin/strait'));
    spawnSync('chmod', ['+x', join(root, 'bin/strait')]);
    const r = await runShim(cniEnv('ADD'), conf(), { bin: join(root, 'bin/strait'), run: emptyRun() });
    expect(r.code).toBe(1);
    expect(printed(r.stdout)).toMatchObject({ code: 100, msg: `no Node.js 24 at ${root}/tools/node24/bin/node: run scripts/setup.sh` });
    expect(readdirSync(root)).toEqual(['bin']);
  });
});
