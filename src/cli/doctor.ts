// straitctl doctor: checks that leases, endpoint records, host veths, routes, tc
// programs, map entries and pins agree (src/doctor/scan.ts has the rules), and with
// --fix repairs what it can and checks again. Exit 0: consistent (after --fix: now
// consistent); 1: problems remain. Run it in the node's network namespace, when no
// CNI call is in flight: an ADD half-way looks exactly like one killed half-way.
import { Netlink } from '../datapath/netlink.js';
import { applyFixes, planFixes, type FixOutcome } from '../doctor/fix.js';
import { observe } from '../doctor/observe.js';
import { scan } from '../doctor/scan.js';
import type { Problem } from '../doctor/types.js';
import { parseCommon, printTable } from './options.js';

export function doctor(argv: string[]): number {
  const opts = parseCommon(argv, { fix: { type: 'boolean' } });
  const host = Netlink.open();
  try {
    const where = { stateDir: opts.stateDir, bpfDir: opts.bpfDir, host };
    const problems = scan(observe(where));
    if (opts.values.fix !== true || problems.length === 0) {
      if (opts.output === 'json') console.log(JSON.stringify({ problems }, null, 2));
      else printProblems(problems);
      return problems.length === 0 ? 0 : 1;
    }
    const fixed = applyFixes(planFixes(problems), where);
    const remaining = scan(observe(where));
    if (opts.output === 'json') console.log(JSON.stringify({ problems, fixed, remaining }, null, 2));
    else {
      printProblems(problems);
      printFixes(fixed);
      console.log(remaining.length === 0 ? 'consistent now' : `${remaining.length} problems remain:`);
      if (remaining.length > 0) printProblems(remaining);
    }
    return remaining.length === 0 ? 0 : 1;
  } finally {
    host.close();
  }
}

function printProblems(problems: readonly Problem[]): void {
  if (problems.length === 0) {
    console.log('no problems found');
    return;
  }
  printTable([
    ['KIND', 'FIX', 'WHAT'],
    ...problems.map((p) => [p.kind, p.fix === null ? 'no' : 'yes', p.message]),
  ]);
}

function printFixes(fixed: readonly FixOutcome[]): void {
  for (const f of fixed) {
    const { op, ...rest } = f.action;
    console.log(`${f.error === null ? 'done' : 'FAILED'}  ${op} ${JSON.stringify(rest)}${f.error === null ? '' : `: ${f.error}`}`);
  }
}
