// The install step of a DaemonSet agent (issue #12): bin/strait into the runtime's CNI
// bin dir as soon as the agent starts, the conflist into the conf dir only once the
// agent is ready (maps pinned, programs loaded, source synced, socket listening), so
// the kubelet reports the node Ready only when a pod can really be wired. Both stay
// across restarts: forwarding never depended on the agent, and a shim that finds the
// agent down queues DELs and answers ADD with 11. Every write is recorded first (in
// the state dir), then made; --uninstall removes exactly what the record names and
// still holds what strait wrote, and puts back what --cni-exclusive moved aside.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import type { InstallFlags } from './deploy-options.js';
import { RECORD_NAME, readOrNull, readRecord, sha256, writeAtomic, writeRecord, type InstallRecord } from './install-files.js';

/** This build's CNI shim (dist/agent/ and src/agent/ are both two levels below the root). */
export const SHIM_PATH = fileURLToPath(new URL('../../bin/strait', import.meta.url));

/** What the conflist must name: the agent serves only its own state dir and bpf dir. */
export interface AgentPaths {
  stateDir: string;
  bpfDir: string;
  socketPath: string;
}

/**
 * Used without --cni-conflist-template: no ranges, so the node's spec.podCIDRs are
 * the pool (Kubernetes IPAM mode), and portmap for hostPort, as kubeadm and kind
 * nodes carry it. cniVersion 1.1.0: containerd 2 asks STATUS before scheduling ADDs.
 */
export const DEFAULT_TEMPLATE = {
  cniVersion: '1.1.0',
  name: 'strait',
  plugins: [
    { type: 'strait', ipam: { type: 'strait' } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

/** The conflist to write: the template with the strait plugin naming this agent. */
export function renderConflist(templateText: string | null, paths: AgentPaths, source = 'the built-in template'): string {
  let t: unknown = DEFAULT_TEMPLATE;
  if (templateText !== null) {
    try {
      t = JSON.parse(templateText);
    } catch (e) {
      throw new UsageError(`${source} is not JSON: ${(e as Error).message}`);
    }
  }
  const obj = t as { name?: unknown; plugins?: unknown };
  if (typeof t !== 'object' || t === null || typeof obj.name !== 'string' || !Array.isArray(obj.plugins)) {
    throw new UsageError(`${source} is not a conflist: it needs a "name" and a "plugins" list`);
  }
  const plugins = obj.plugins as unknown[];
  const at = plugins.findIndex((p) => typeof p === 'object' && p !== null && (p as { type?: unknown }).type === 'strait');
  if (at < 0) throw new UsageError(`${source} has no plugin of "type": "strait"`);
  const strait = { ...(plugins[at] as object), agentSocket: paths.socketPath, stateDir: paths.stateDir, bpfDir: paths.bpfDir };
  const out = { ...obj, plugins: plugins.map((p, i) => (i === at ? strait : p)) };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Reads the template named by the flags (a mistake stops the agent before it starts). */
export function loadTemplate(flags: InstallFlags): string | null {
  if (flags.template === null) return null;
  try {
    return readFileSync(flags.template, 'utf8');
  } catch (e) {
    throw new UsageError(`--cni-conflist-template ${flags.template}: ${(e as Error).message}`);
  }
}

function recordFile(stateDir: string, path: string, data: Buffer | string): void {
  const r = readRecord(stateDir);
  const entry = { path, sha256: sha256(data) };
  const i = r.files.findIndex((f) => f.path === path);
  if (i >= 0 && r.files[i]!.sha256 === entry.sha256) return;
  if (i >= 0) r.files[i] = entry;
  else r.files.push(entry);
  writeRecord(stateDir, r);
}

/** Records, then writes, `data` at `path`; returns whether the file changed. */
function install(stateDir: string, path: string, data: Buffer | string, mode: number): boolean {
  const before = readOrNull(path);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  // Already there, and not strait's doing (not in the record): it stays someone else's.
  if (before?.equals(bytes) && !readRecord(stateDir).files.some((f) => f.path === path)) return false;
  recordFile(stateDir, path, bytes);
  return writeAtomic(path, bytes, mode);
}

/** bin/strait into the CNI bin dir; true when it was (re)written. */
export function installBinary(binDir: string, stateDir: string, shim = SHIM_PATH): boolean {
  return install(stateDir, join(binDir, 'strait'), readFileSync(shim), 0o755);
}

/** libcni's reading of a conf dir: these extensions count, in name order. */
const isCniConfig = (name: string): boolean => !name.startsWith('.') && /\.(conf|conflist|json)$/.test(name);
export const ASIDE_SUFFIX = '.strait-aside';

/** --cni-exclusive: other configs get a suffix libcni skips, recorded for --uninstall. */
function moveOthersAside(confDir: string, ours: string, stateDir: string): string[] {
  const moved: string[] = [];
  for (const name of readdirSync(confDir).sort()) {
    if (name === ours || !isCniConfig(name)) continue;
    const from = join(confDir, name);
    const to = `${from}${ASIDE_SUFFIX}`;
    const r = readRecord(stateDir);
    r.aside.push({ from, to });
    writeRecord(stateDir, r);
    renameSync(from, to);
    moved.push(name);
  }
  return moved;
}

export interface ConflistOutcome {
  path: string;
  written: boolean;
  /** names of other CNIs' configs moved aside (--cni-exclusive) */
  movedAside: string[];
}

/** The conflist, once the agent is ready; call again on every start (idempotent). */
export function installConflist(flags: InstallFlags & { confDir: string }, template: string | null, paths: AgentPaths): ConflistOutcome {
  const text = renderConflist(template, paths, flags.template ?? undefined);
  const path = join(flags.confDir, flags.confName);
  const written = install(paths.stateDir, path, text, 0o644);
  const movedAside = flags.exclusive ? moveOthersAside(flags.confDir, flags.confName, paths.stateDir) : [];
  return { path, written, movedAside };
}

export interface UninstallOutcome {
  removed: string[];
  restored: string[];
  /** files strait wrote that now hold something else, or aside files whose name is taken again: left as they are */
  left: string[];
}

/** Undoes exactly what the record of `stateDir` names, then removes the record. */
export function uninstall(stateDir: string): UninstallOutcome {
  const r: InstallRecord = readRecord(stateDir);
  const out: UninstallOutcome = { removed: [], restored: [], left: [] };
  for (const f of r.files) {
    const now = readOrNull(f.path);
    if (now === null) continue;
    if (sha256(now) === f.sha256) {
      rmSync(f.path);
      out.removed.push(f.path);
    } else {
      out.left.push(f.path);
    }
  }
  for (const a of r.aside) {
    if (!existsSync(a.to)) continue;
    if (existsSync(a.from)) {
      out.left.push(a.to);
      continue;
    }
    renameSync(a.to, a.from);
    out.restored.push(a.from);
  }
  rmSync(join(stateDir, RECORD_NAME), { force: true });
  return out;
}
