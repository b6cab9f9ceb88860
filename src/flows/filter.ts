// Which flow records a reader wants (FlowFilter, src/flows/types.ts): parsed from
// the query of GET /v1/flows and from straitctl's flags, written back as a query,
// and matched against a record. docs/observability.md gives the semantics: within a
// field any value, across fields all; pod, namespace and port on either side.
import { FLOW_VERDICTS, type FlowFilter, type FlowRecord, type FlowVerdict } from './types.js';

/** The query parameters a filter is made of, each repeatable. */
export const FILTER_PARAMS = ['pod', 'namespace', 'verdict', 'protocol', 'port'] as const;

const PROTOCOL_NAMES = new Set(['tcp', 'udp', 'sctp', 'icmp', 'icmpv6']);

export class FilterError extends Error {
  override readonly name = 'FilterError';
}

function pod(v: string): string {
  if (!/^[^/\s]+\/[^/\s]+$/.test(v)) throw new FilterError(`pod must be "namespace/name", not "${v}"`);
  return v;
}

function namespace(v: string): string {
  if (!/^[^/\s]+$/.test(v)) throw new FilterError(`namespace must be a name without "/", not "${v}"`);
  return v;
}

function verdict(v: string): FlowVerdict {
  const found = FLOW_VERDICTS.find((x) => x === v);
  if (found === undefined) throw new FilterError(`verdict must be ${FLOW_VERDICTS.join(', ')}; not "${v}"`);
  return found;
}

function protocol(v: string): string {
  const p = v.toLowerCase();
  if (PROTOCOL_NAMES.has(p)) return p;
  if (/^\d+$/.test(p) && Number(p) <= 255) return String(Number(p));
  throw new FilterError(`protocol must be tcp, udp, sctp, icmp, icmpv6 or a number 0..255; not "${v}"`);
}

function port(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new FilterError(`port must be an integer 1..65535, not "${v}"`);
  return Number(v);
}

/** From a query (GET /v1/flows) or flags gathered as one; a bad value is a FilterError naming it. */
export function filterFromQuery(q: URLSearchParams): FlowFilter {
  const f: FlowFilter = {};
  const all = (name: string) => q.getAll(name).flatMap((v) => v.split(',')).filter((v) => v !== '');
  const pods = all('pod').map(pod);
  const namespaces = all('namespace').map(namespace);
  const verdicts = all('verdict').map(verdict);
  const protocols = all('protocol').map(protocol);
  const ports = all('port').map(port);
  if (pods.length > 0) f.pods = pods;
  if (namespaces.length > 0) f.namespaces = namespaces;
  if (verdicts.length > 0) f.verdicts = verdicts;
  if (protocols.length > 0) f.protocols = protocols;
  if (ports.length > 0) f.ports = ports;
  return f;
}

/** The query filterFromQuery reads back as the same filter. */
export function filterToQuery(f: FlowFilter, q = new URLSearchParams()): URLSearchParams {
  for (const v of f.pods ?? []) q.append('pod', v);
  for (const v of f.namespaces ?? []) q.append('namespace', v);
  for (const v of f.verdicts ?? []) q.append('verdict', v);
  for (const v of f.protocols ?? []) q.append('protocol', v);
  for (const v of f.ports ?? []) q.append('port', String(v));
  return q;
}

const nsOf = (p: string | undefined): string | undefined => p?.slice(0, p.indexOf('/'));

export function matchFlow(f: FlowFilter, r: FlowRecord): boolean {
  if (f.pods && !f.pods.some((p) => r.src.pod === p || r.dst.pod === p)) return false;
  if (f.namespaces && !f.namespaces.some((n) => nsOf(r.src.pod) === n || nsOf(r.dst.pod) === n)) return false;
  if (f.verdicts && !f.verdicts.includes(r.verdict)) return false;
  if (f.protocols && (r.protocol === null || !f.protocols.includes(r.protocol))) return false;
  if (f.ports && !f.ports.some((p) => r.src.port === p || r.dst.port === p)) return false;
  return true;
}
