// What the netns tier needs from the machine: root, throwaway namespaces, and a way
// to run commands; everything created here is removed by `cleanupAll`, even when a
// test fails half-way.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const isRoot = process.getuid?.() === 0;

/** Call at module level in a root-only test file so a skip is loud, never silent. */
export function warnIfNotRoot(what: string): void {
  if (!isRoot) console.warn(`\n*** SKIPPING ${what}: needs root (network namespaces, veth, routes) ***\n`);
}

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '' });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

export const rand = (n = 4): string => randomBytes(n).toString('hex');

const namespaces = new Set<string>();
const links = new Set<string>();
const dirs = new Set<string>();

export interface Netns {
  name: string;
  path: string;
  /** run a command inside the namespace; throws on failure */
  exec(cmd: string, args: string[], opts?: { allowFail?: boolean }): string;
}

export function createNetns(prefix: string): Netns {
  const name = `stt-${prefix}-${rand()}`;
  sh('ip', ['netns', 'add', name]);
  namespaces.add(name);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    path: `/run/netns/${name}`,
    exec: (cmd, args, opts) => sh('ip', ['netns', 'exec', name, cmd, ...args], opts),
  };
}

export function deleteNetns(ns: Netns): void {
  sh('ip', ['netns', 'del', ns.name], { allowFail: true });
  namespaces.delete(ns.name);
}

/** Remember a host link to delete at cleanup (for links a test makes by hand). */
export function trackLink(name: string): void {
  links.add(name);
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `strait-${prefix}-`));
  dirs.add(d);
  return d;
}

const cleanups: (() => void)[] = [];

/** Runs first in every cleanupAll (e.g. stopping the agents that serve a bpffs before it is unmounted). */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

export function cleanupAll(): void {
  for (const fn of cleanups) fn();
  unmountAll();
  for (const n of namespaces) sh('ip', ['netns', 'del', n], { allowFail: true });
  namespaces.clear();
  for (const l of links) sh('ip', ['link', 'del', l], { allowFail: true });
  links.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export function hostLinkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
}

export function hostRoutes(family: 4 | 6): string {
  return execFileSync('ip', [`-${family}`, 'route', 'show'], { encoding: 'utf8' });
}

const mounts = new Set<string>();

/** A private bpffs for one test file's pin dir (docs/architecture.md: never the shared one). */
export function bpffsDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `strait-${prefix}-bpf-`));
  sh('mount', ['-t', 'bpf', 'bpf', d]);
  mounts.add(d);
  return d;
}

export function unmountAll(): void {
  for (const m of mounts) {
    sh('umount', ['-l', m], { allowFail: true });
    rmSync(m, { recursive: true, force: true });
  }
  mounts.clear();
}

/**
 * The reference portmap plugin leaves its shared top-level chains behind on DEL (they
 * serve every pod). A test that runs it calls this first; the returned function
 * removes those chains and their jumps afterwards, if they were not there before.
 */
export function portmapChainsGuard(): () => void {
  const existed = spawnSync('iptables', ['-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT'], { stdio: 'ignore' }).status === 0;
  return () => {
    if (existed) return;
    const jumps: string[][] = [
      ['PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT'],
      ['OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT'],
      ['POSTROUTING', '-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ'],
    ];
    for (const j of jumps) sh('iptables', ['-t', 'nat', '-D', ...j], { allowFail: true });
    for (const chain of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
      sh('iptables', ['-t', 'nat', '-F', chain], { allowFail: true });
      sh('iptables', ['-t', 'nat', '-X', chain], { allowFail: true });
    }
  };
}
