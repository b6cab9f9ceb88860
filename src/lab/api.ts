// The lab on --source kube: the API emulation (src/lab/kube-api) as a detached process
// in the lab's outside namespace, where every node reaches it over the underlay, its
// unix socket and kubeconfig in the lab's directory. The lab's writes go to it object
// by object; the manifest files stay as the lab's record of what it wrote (so a
// removal knows what to DELETE, also from another process), but no agent reads them.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StraitError } from '../errors.js';
import type { Written } from './kube-api/client.js';
import { inNetns, NODE, ROOT } from './run.js';
import type { LabApiState, LabState } from './state.js';
import { OUTSIDE, outsideNetns } from './topology.js';

export const KUBE_API_PORT = 6443;
const CLIENT = join(ROOT, 'dist/lab/kube-api/client-main.js');

export function labApiState(dir: string): LabApiState {
  return { pid: null, socket: join(dir, 'kube-api.sock'), kubeconfig: join(dir, 'kubeconfig'), log: join(dir, 'kube-api.log'), written: {} };
}

/** Starts it (s.api recorded already); resolves with its PID once it listens. */
export async function startLabApi(s: LabState, api: LabApiState): Promise<number> {
  const args = [join(ROOT, 'dist/lab/kube-api/main.js'), '--listen', `${OUTSIDE.v4}:${KUBE_API_PORT}`, '--socket', api.socket, '--kubeconfig', api.kubeconfig];
  const out = openSync(api.log, 'a');
  const child = spawn(...inNetns(outsideNetns(s.prefix), NODE, args), { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new StraitError('E_COMMAND', 'could not start the API emulation');
  const log = (): string => (existsSync(api.log) ? readFileSync(api.log, 'utf8') : '');
  for (let i = 0; i < 500 && !/^http:\/\//m.test(log()); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!/^http:\/\//m.test(log())) throw new StraitError('E_COMMAND', `the API emulation did not start: ${log()}`);
  return child.pid;
}

/** A manifest file of the lab went from `previous` to `next` (null: none): the API made to match, in line. */
export function labApiWrite(api: LabApiState, previous: string | null, next: string | null): void {
  const r = spawnSync(NODE, [CLIENT, 'apply', api.socket], { input: JSON.stringify({ previous, next }), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new StraitError('E_COMMAND', `writing to the API emulation: ${(r.stderr || r.error?.message || '').trim()}`);
  const w = JSON.parse(r.stdout) as Written;
  for (const [k, v] of Object.entries(w)) api.written[k] = Math.max(api.written[k] ?? 0, v);
}

/** Until every agent of `sockets` has seen every write so far; throws if they have not within 30 s. */
export function labApiWait(api: LabApiState, sockets: string[]): void {
  const r = spawnSync(NODE, [CLIENT, 'wait', JSON.stringify(api.written), ...sockets], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new StraitError('E_COMMAND', (r.stderr || r.error?.message || 'the agents did not catch up with the API').trim());
}
