// The bench tools in C, built once per run into a temp dir (buildTool): bench/service-crr.c
// for the benches that count new connections (service.mjs, monitor.mjs), its client run in a pod.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;
const { inNetns } = await import(`${ROOT}dist/lab/run.js`);
const { runAsync } = await import(`${ROOT}dist/lab/bench-measure.js`);

/** Builds bench/NAME.c into dir; the binary's path. */
export function buildTool(dir, name) {
  const bin = join(dir, name);
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, `${ROOT}bench/${name}.c`], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`building ${name}: ${cc.stderr}`);
  return bin;
}

/** Builds service-crr into dir; its path. */
export const buildCrr = (dir) => buildTool(dir, 'service-crr');

/**
 * New connections from clientNetns to host:port for `seconds` (paced at `rate` a
 * second when given): service-crr's JSON line (conns, seconds, p50, p99, max, slow).
 */
export async function crrClient(crr, clientNetns, host, port, seconds, signal, rate) {
  const [cmd, args] = inNetns(clientNetns, crr, ['client', host, String(port), String(seconds), ...(rate ? [String(rate)] : [])]);
  const r = await runAsync(cmd, args, signal, (seconds + 15) * 1000);
  let j = {};
  try {
    j = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  } catch {
    // reported below
  }
  if (r.status !== 0 || j.conns === undefined) throw new Error(`service-crr to ${host}: ${j.error ?? r.stdout + r.stderr}`);
  return j;
}
