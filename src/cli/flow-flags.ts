// The filter flags straitctl monitor and flows share, read through the contract's one
// parser (src/flows/filter.ts): a flag means what the same query parameter means to
// the agent, and a bad value is a usage error before any request is made.
import { FilterError, filterFromQuery } from '../flows/filter.js';
import type { FlowFilter } from '../flows/types.js';
import { UsageError } from '../errors.js';
import type { FlagSpec, FlagValues } from './options.js';

/** --pod NS/NAME, --namespace NS, --verdict V, --protocol P, --port N; each repeatable. */
export const FILTER_FLAGS = {
  pod: { type: 'string', multiple: true },
  namespace: { type: 'string', multiple: true },
  verdict: { type: 'string', multiple: true },
  protocol: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
} as const satisfies FlagSpec;

export function filterFromFlags(values: FlagValues): FlowFilter {
  const q = new URLSearchParams();
  for (const name of Object.keys(FILTER_FLAGS)) {
    const v = values[name];
    for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) q.append(name, String(x));
  }
  try {
    return filterFromQuery(q);
  } catch (e) {
    if (e instanceof FilterError) throw new UsageError(e.message);
    throw e;
  }
}
