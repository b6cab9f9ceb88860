// A private containerd for one test file (docs/runtimes.md, "Running the runtimes by
// hand"): its own root, state, temp and opt dirs, gRPC and ttrpc sockets and
// runc root, all under one directory, so it never meets the machine's containerd or
// another test's. Started as a child process and stopped by its PID; stop() first
// removes whatever containers are left, then unmounts what the instance mounted.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface CriOptions {
  sandboxImage: string;
  cniBinDir: string;
  cniConfDir: string;
}

export interface Containerd {
  dir: string;
  socket: string;
  pid: number;
  /** ctr against this instance; throws with ctr's stderr on failure */
  ctr(namespace: string, args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): { status: number; stdout: string; stderr: string };
  /** the daemon's log so far */
  log(): string;
  stop(): Promise<void>;
}

const toml = (s: string): string => JSON.stringify(s);

function configToml(dir: string, cri: CriOptions | null): string {
  const lines = [
    'version = 2',
    `root = ${toml(join(dir, 'root'))}`,
    `state = ${toml(join(dir, 'state'))}`,
    `temp = ${toml(join(dir, 'tmp'))}`,
    // Without the CRI plugin nothing else here is needed; disabled, it neither
    // loads CNI config nor starts a streaming server.
    ...(cri === null ? ['disabled_plugins = ["io.containerd.grpc.v1.cri"]'] : []),
    '[grpc]',
    `  address = ${toml(join(dir, 'containerd.sock'))}`,
    '[ttrpc]',
    `  address = ${toml(join(dir, 'containerd.sock.ttrpc'))}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(dir, 'opt'))}`,
  ];
  if (cri !== null) {
    lines.push(
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = ${toml(cri.sandboxImage)}`,
      // No CAP_SYS_RESOURCE on these machines: never lower an oom_score_adj.
      '  restrict_oom_score_adj = true',
      // Pod netns bind mounts under our state dir instead of /var/run/netns.
      '  netns_mounts_under_state_dir = true',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      `        Root = ${toml(join(dir, 'runc'))}`,
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = ${toml(cri.cniBinDir)}`,
      `    conf_dir = ${toml(cri.cniConfDir)}`,
      '    max_conf_num = 1',
    );
  }
  return lines.join('\n') + '\n';
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const path = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

export function unmountUnder(dir: string): void {
  for (let round = 0; round < 3; round++) {
    const mps = mountsUnder(dir);
    if (mps.length === 0) return;
    for (const mp of mps) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  }
}

/** PIDs whose command line mentions `needle` (shims of this instance name its socket). */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(Number(entry));
    } catch {
      // gone already
    }
  }
  return out.filter((p) => p !== process.pid);
}

export async function startContainerd(dir: string, cri: CriOptions | null = null): Promise<Containerd> {
  for (const d of ['root', 'state', 'tmp', 'opt', 'runc']) mkdirSync(join(dir, d), { recursive: true });
  const config = join(dir, 'config.toml');
  writeFileSync(config, configToml(dir, cri));
  const socket = join(dir, 'containerd.sock');
  const logPath = join(dir, 'containerd.log');
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn('containerd', ['--config', config], { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('containerd did not start');
  let exited = false;
  child.on('exit', () => (exited = true));

  const ctr: Containerd['ctr'] = (namespace, args, opts = {}) => {
    const r = spawnSync('ctr', ['--address', socket, '--namespace', namespace, ...args], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 60_000,
    });
    const res = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    if (res.status !== 0 && !opts.allowFail) {
      throw new Error(`ctr ${args.join(' ')} failed (${res.status}): ${res.stderr || res.stdout}`);
    }
    return res;
  };
  const log = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

  const stop = async (): Promise<void> => {
    if (!exited) {
      // Containers left by a failed test: kill and remove them while the daemon can.
      const nss = ctr('default', ['namespaces', 'ls', '-q'], { allowFail: true }).stdout.split('\n').filter(Boolean);
      for (const ns of nss) {
        for (const id of ctr(ns, ['tasks', 'ls', '-q'], { allowFail: true }).stdout.split('\n').filter(Boolean)) {
          ctr(ns, ['tasks', 'kill', '-s', 'SIGKILL', id], { allowFail: true });
          ctr(ns, ['tasks', 'rm', '-f', id], { allowFail: true });
        }
        for (const id of ctr(ns, ['containers', 'ls', '-q'], { allowFail: true }).stdout.split('\n').filter(Boolean)) {
          ctr(ns, ['containers', 'rm', id], { allowFail: true });
        }
      }
      process.kill(pid, 'SIGTERM');
      try {
        await waitFor('containerd to exit and release its socket', () => exited && !existsSync(socket), 10_000);
      } catch {
        if (!exited) process.kill(pid, 'SIGKILL');
        await waitFor('containerd to exit', () => exited, 5_000);
      }
    }
    // A shim outlives the daemon by design; ours name our socket on their command line.
    for (const p of pidsMentioning(socket)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    unmountUnder(dir);
  };

  try {
    await waitFor('containerd to answer', () => exited || (existsSync(socket) && ctr('default', ['version'], { allowFail: true }).status === 0), 20_000);
    if (exited) throw new Error(`containerd exited at start:\n${log()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, socket, pid, ctr, log, stop };
}
