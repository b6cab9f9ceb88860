// Shared pieces of the benchmarks: namespaces, running a CNI plugin as a runtime
// does, percentiles and the ratio table (also written to bench/results/, results.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { record } from './results.mjs';
import { tableCells, targetCells } from './table.mjs';

export const rand = (n = 3) => randomBytes(n).toString('hex');

export function sh(cmd, args, { allowFail = false } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function requireRoot(what) {
  if (process.getuid?.() !== 0) {
    console.error(`${what} needs root (network namespaces, veth pairs)`);
    process.exit(1);
  }
}

/** Runs a CNI plugin binary with env (+ `env`) and stdin; resolves with stdout, stderr and elapsed ms. */
export function cniCall(bin, command, config, { containerId, netns, ifname = 'eth0', path = '/usr/lib/cni', env = {} }) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(bin, [], {
      env: { ...env, PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: ifname, CNI_PATH: path },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${bin} ${command} failed (${code}): ${out} ${err}`));
      else resolve({ ms, out, err });
    });
    child.stdin.end(JSON.stringify(config));
  });
}

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx];
}

export const median = (v) => percentile(v, 50);

/**
 * rows: [{ metric, unit, values: {name: number}, better: 'lower'|'higher' }]
 * Prints every column and the ratio of `subject` (a column, or several) against each baseline.
 * Recorded too: at exit the bench's results folder gets it as Markdown, a chart and JSON.
 */
export function printTable(title, columns, subject, baselines, rows) {
  const { head, body } = tableCells(columns, subject, baselines, rows);
  printRows(title, head, body);
  record({ kind: 'table', title, columns, subject, baselines, rows });
}

/**
 * targets: [{ target, value, bound: 'max'|'min', limit, unit }]: each measured figure
 * beside the bound it must keep, met or MISSED (no figure: '-', neither). Recorded too.
 */
export function printTargets(title, targets) {
  const { head, body } = targetCells(targets);
  printRows(title, head, body);
  record({ kind: 'targets', title, targets });
}

function printRows(title, head, body) {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of body) console.log(line(row));
}

/** Takes a lab down; what it could not remove is printed and fails the bench. */
export async function labDown(lab) {
  const problems = await lab.down();
  if (problems.length > 0) {
    console.error(`the lab ${lab.state.name} left:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
}

/**
 * Keeps the CPUs out of deep idle states while measuring (a PM QoS request of 0 µs,
 * held as long as the file stays open), as network benchmarks do: otherwise an idle
 * core's wake-up (~100 µs on this kind of VM) dominates request/response latency and
 * hides what the datapaths themselves cost. Every setup is measured under it alike.
 */
export function holdCpusAwake() {
  try {
    const fd = openSync('/dev/cpu_dma_latency', 'w');
    const zero = Buffer.alloc(4);
    writeSync(fd, zero);
    return () => closeSync(fd);
  } catch (err) {
    console.error(`note: cannot hold /dev/cpu_dma_latency (${err.code}); latency includes CPU wake-ups`);
    return () => {};
  }
}
