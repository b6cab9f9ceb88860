// The human half of scripts/verifier-vms.sh: reads its JSON lines (one run, every
// kernel) and prints per kernel and object whether the verifier accepted it, with
// the verifier's summary line, or on a failure its error and the end of its log.
// Exit status 1 when an object failed or a kernel did not boot to the end.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const TRACE_LINES = 40;
const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const labels = [...new Set(lines.map((l) => l.label))];
const tail = (text, n) => text.trimEnd().split('\n').slice(-n).map((l) => `      | ${l}`).join('\n');

let failed = false;
for (const label of labels) {
  const mine = lines.filter((l) => l.label === label);
  const missing = mine.find((l) => l.unavailable);
  if (missing) {
    console.log(`\x1b[1;33m${label}: SKIPPED, ${missing.unavailable}\x1b[0m`);
    continue;
  }
  const run = mine.find((l) => l.package) ?? {};
  const guest = mine.filter((l) => l.guest).map((l) => l.guest);
  const kernel = guest.find((g) => g.kernel);
  console.log(
    `${label}: ${kernel?.kernel ?? '(no guest output)'} from ${run.package}, ${run.accel}, ${(run.ms / 1000).toFixed(1)} s, kernel BTF ${kernel?.btf ?? '?'}`,
  );
  for (const obj of guest.filter((g) => g.object)) {
    const name = basename(obj.object);
    if (obj.ok) {
      for (const p of obj.programs) console.log(`  ok      ${name} ${p.name}: ${p.stats}`);
      continue;
    }
    failed = true;
    console.log(`  \x1b[1;31mFAILED\x1b[0m  ${name}: ${obj.error} (errno ${obj.errno})`);
    if (obj.libbpf) console.log(`    libbpf:\n${tail(obj.libbpf, TRACE_LINES)}`);
    for (const p of obj.programs) {
      if (p.log) console.log(`    ${p.name}, verifier (log level 4):\n${tail(p.log, TRACE_LINES)}`);
      if (p.trace) console.log(`    ${p.name}, verifier trace (end):\n${tail(p.trace, TRACE_LINES)}`);
    }
  }
  for (const n of mine.filter((l) => l.noise)) console.log(`  guest: ${n.noise}`);
  const done = guest.find((g) => 'done' in g);
  if (!done) {
    failed = true;
    const con = mine.find((l) => l.console);
    console.log(`  \x1b[1;31mDID NOT FINISH\x1b[0m (timeout, panic or boot failure); console:\n${tail(con?.console ?? '', TRACE_LINES)}`);
  }
}
process.exit(failed ? 1 : 0);
