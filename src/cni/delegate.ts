// Runs another CNI plugin (an IPAM plugin such as host-local) the way libcni's
// invoke.DelegateAdd does: found by type in CNI_PATH, given our own environment with
// CNI_COMMAND set, and the network config unchanged on stdin.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../errors.js';
import { CniCode, DelegateError } from './errors.js';

export type DelegateCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

export function findPlugin(type: string, path: readonly string[]): string {
  if (type === '' || type.includes('/') || type === '.' || type === '..') {
    throw errors.config(`invalid plugin type '${type}'`);
  }
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  throw errors.config(`failed to find plugin '${type}' in path [${path.join(' ')}]`);
}

/**
 * Runs the plugin and returns its parsed stdout (null when it printed nothing, as DEL
 * does). A failure is re-raised with the delegate's own CNI code, so the runtime sees
 * e.g. host-local's error unchanged but knows which plugin said it.
 */
export function delegate(
  command: DelegateCommand,
  type: string,
  path: readonly string[],
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): unknown {
  const bin = findPlugin(type, path);
  const proc = spawnSync(bin, [], {
    input: JSON.stringify(config),
    env: { ...env, CNI_COMMAND: command },
    encoding: 'utf8',
    maxBuffer: 16 << 20,
    timeout: 60_000,
  });
  if (proc.error) throw errors.io(`running ${type}: ${proc.error.message}`, bin, proc.error);
  const out = proc.stdout.trim();
  if (proc.status !== 0) {
    let reply: { code?: unknown; msg?: unknown; details?: unknown } = {};
    try {
      reply = JSON.parse(out) as typeof reply;
    } catch {
      // not JSON: fall through with what it printed
    }
    const code = typeof reply.code === 'number' ? reply.code : CniCode.Delegate;
    const msg = typeof reply.msg === 'string' ? reply.msg : out || proc.stderr.trim() || `exit status ${proc.status ?? proc.signal}`;
    const details = typeof reply.details === 'string' ? reply.details : '';
    throw new DelegateError(code, `${type}: ${msg}`, details);
  }
  if (out === '') return null;
  try {
    return JSON.parse(out) as unknown;
  } catch {
    throw errors.decode(`${type} printed a result that is not JSON`, out.slice(0, 200));
  }
}
