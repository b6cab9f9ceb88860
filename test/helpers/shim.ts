// The native CNI shim (bin/strait, shim/strait.c) as its tests drive it: run with
// exactly the environment given, against fake agents: node:http servers on a unix
// socket that record every call and answer as the test says (docs/cni-agent.md).
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STRAIT_BIN } from './cni.js';

export interface ShimRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the shim. With `run`, inside a private mount namespace with that directory bound
 * over /run (root only), so /run/strait/agent.sock is looked for there and not on the
 * machine, where another process may create one at any time.
 */
export function runShim(env: Record<string, string>, stdin: string | Buffer, opts: { bin?: string; run?: string } = {}): Promise<ShimRun> {
  const bin = opts.bin ?? STRAIT_BIN;
  const [cmd, args] =
    opts.run === undefined
      ? [bin, []]
      : ['/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', 'mount --bind "$0" /run && exec "$1"', opts.run, bin]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined); // the shim stops reading past 1 MiB
    child.stdin.end(stdin);
  });
}

export interface AgentCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A status with headers and body; 'hang' never answers; 'cut' closes half-way through a 200. */
export type AgentAnswer = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'cut';

export interface FakeAgent {
  socket: string;
  calls: AgentCall[];
  close(): Promise<void>;
}

export async function fakeAgent(socket: string, answer: (call: AgentCall) => AgentAnswer): Promise<FakeAgent> {
  const calls: AgentCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      calls.push(call);
      reply(res, answer(call));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { socket, calls, close };
}

function reply(res: ServerResponse, a: AgentAnswer): void {
  if (a === 'hang') return;
  if (a === 'cut') {
    res.writeHead(200, { 'content-length': '100', 'strait-cni-exit': '0' });
    res.write('{"cniVersion":', () => res.socket?.destroy());
    return;
  }
  const body = a.body ?? '';
  res.writeHead(a.status, { 'content-length': String(Buffer.byteLength(body)), ...a.headers });
  res.end(body);
}

/** The one queued DEL in `stateDir` (its name checked, no temp file beside it), parsed. */
export function queuedDel(stateDir: string): { name: string; body: unknown } {
  const dir = join(stateDir, 'cni-del-queue');
  const names = existsSync(dir) ? readdirSync(dir) : [];
  if (names.length !== 1 || !/^\d{20}-\d+\.json$/.test(names[0]!)) throw new Error(`expected one queued DEL in ${dir}, found [${names.join(', ')}]`);
  return { name: names[0]!, body: JSON.parse(readFileSync(join(dir, names[0]!), 'utf8')) as unknown };
}
