#!/usr/bin/env node
// Which transport flow events use (issue #14 item 2): the BPF ring buffer against a
// per-CPU perf event array, measured under contention on this machine. A test-only
// object (bench/event-transport/transport.bpf.c) fills the same 80-byte record each
// way; bench/event-transport/transport.c runs it through BPF_PROG_TEST_RUN on every
// CPU at once, one producer thread pinned to each, while a reader thread drains, and
// reports the program's own cost per record (the kernel's average), what it
// emitted, refused and the reader received, and the reader's CPU time per record.
//   ringbuf-quiet  ring buffer, BPF_RB_NO_WAKEUP, the reader drains every 10 ms
//                  (what the datapath does: bpf/include/events.h)
//   perf-quiet     perf event array, no wakeups either, drained every 10 ms
//   ringbuf        ring buffer, the reader woken when it has caught up
//   perf           perf event array, the reader woken per record (libbpf's default)
//   none           the record filled, not sent: the rest of the program's cost
// Two loads: a flood (every CPU flat out: more than any reader drains, so the
// buffers fill) and paced (each CPU 100 records every 1 ms, about 100,000 a second:
// what is received without loss).
//   usage: node bench/event-transport.mjs [--rounds 3] [--events 1000000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, printTable, requireRoot, sh } from './lib.mjs';

requireRoot('bench/event-transport');
const ROOT = new URL('../', import.meta.url).pathname;
const { values } = parseArgs({ options: { rounds: { type: 'string' }, events: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const EVENTS = Number(values.events ?? 1_000_000);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || !Number.isInteger(EVENTS) || EVENTS < 1000) {
  console.error('usage: node bench/event-transport.mjs [--rounds N] [--events N>=1000 per CPU, flood]');
  process.exit(2);
}
const PACED = { events: Math.max(1000, Math.floor(EVENTS / 10)), batch: 100, pauseUs: 1000 };
const MODES = ['ringbuf-quiet', 'perf-quiet', 'ringbuf', 'perf', 'none'];

const tmp = mkdtempSync(join(tmpdir(), 'strait-evt-'));
try {
  const obj = join(tmp, 'transport.bpf.o');
  const tool = join(tmp, 'transport');
  const multiarch = sh('clang', ['-print-multiarch']).trim();
  sh('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${multiarch}`, '-Wall', '-Werror', '-c', `${ROOT}bench/event-transport/transport.bpf.c`, '-o', obj]);
  sh('cc', ['-O2', '-Wall', '-Werror', '-o', tool, `${ROOT}bench/event-transport/transport.c`, '-lbpf', '-lpthread']);

  const run = (mode, args) => {
    const r = spawnSync(tool, [obj, mode, ...args.map(String)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`transport ${mode}: ${r.stderr || r.stdout}`);
    return JSON.parse(r.stdout);
  };
  const samples = { flood: {}, paced: {} };
  for (const m of MODES) {
    samples.flood[m] = [];
    samples.paced[m] = [];
  }
  // Interleaved: every mode once per round, so drift on a shared machine hits all alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of MODES) {
      samples.flood[m].push(run(m, [EVENTS]));
      samples.paced[m].push(run(m, [PACED.events, PACED.batch, PACED.pauseUs]));
    }
  }
  const med = (load, m, f) => median(samples[load][m].map(f));
  const lostShare = (r) => (100 * (r.events - r.received)) / r.events;
  const row = (metric, unit, better, load, f, modes = MODES) => ({ metric, unit, better, values: Object.fromEntries(modes.map((m) => [m, med(load, m, f)])) });
  const sending = MODES.filter((m) => m !== 'none');
  const cpus = samples.flood[MODES[0]][0].cpus;
  printTable(
    `Flow event transports, ${cpus} CPUs emitting at once, ${ROUNDS} interleaved rounds, medians, ${new Date().toISOString()}`,
    MODES,
    'ringbuf-quiet',
    ['perf-quiet', 'ringbuf', 'perf'],
    [
      row('flood: program cost per record', 'ns', 'lower', 'flood', (r) => r.ns_per_event),
      row('flood: records lost (buffer full)', '%', 'lower', 'flood', lostShare, sending),
      row(`paced (~${(cpus * PACED.batch * 1000) / 1000}k/s): program cost per record`, 'ns', 'lower', 'paced', (r) => r.ns_per_event),
      row('paced: cost above filling the record', 'ns', 'lower', 'paced', (r) => r.ns_per_event - med('paced', 'none', (x) => x.ns_per_event), sending),
      row('paced: reader CPU per record', 'ns', 'lower', 'paced', (r) => r.reader_cpu_ns_per_event, sending),
      row('paced: records lost', '%', 'lower', 'paced', lostShare, sending),
    ],
  );
  const lostUnreported = sending.flatMap((m) => samples.flood[m]).filter((r) => r.emitted + r.refused !== r.events || r.received !== r.emitted);
  if (lostUnreported.length > 0) {
    console.error('records went missing without being counted as refused:', lostUnreported);
    process.exitCode = 1;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
