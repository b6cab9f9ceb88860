// Options every straitctl command shares: where the node's state is, and the output
// format. Same settings and precedence as the plugin: flag, then environment, then
// the default.
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

export interface CommonOptions {
  bpfDir: string;
  stateDir: string;
  output: 'table' | 'json';
  positionals: string[];
}

/** A flag beyond the common ones; `multiple` ones may repeat and come back as a list. */
export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function parseCommon(argv: string[], extra: FlagSpec = {}): CommonOptions & { values: FlagValues } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'bpf-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      ...extra,
    },
  });
  const output = values.output;
  if (output !== 'table' && output !== 'json') throw new UsageError(`-o takes 'table' or 'json', not '${output}'`);
  return {
    bpfDir: values['bpf-dir'] ?? process.env.STRAIT_BPF_DIR ?? '/sys/fs/bpf/strait',
    stateDir: values['state-dir'] ?? process.env.STRAIT_STATE_DIR ?? '/var/lib/strait',
    output,
    positionals,
    values,
  };
}

/** A plain aligned table, header first. */
export function printTable(rows: string[][]): void {
  if (rows.length === 0) return;
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}
