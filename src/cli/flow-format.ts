// How straitctl monitor and flows show a flow record and a loss: the table's cells
// (one row builder for both; monitor pads to fixed widths since a stream cannot
// measure ahead, flows measures), and the check that a stream line is one.
import { StraitError } from '../errors.js';
import type { FlowPeer, FlowRecord, FlowsReply, FlowStreamLine, LostNotice } from '../flows/types.js';

export const FLOW_HEADER = ['TIME', 'VERDICT', 'EVENT', 'PROTO', 'SRC', '', 'DST', 'REASON', 'POLICIES'];
/** monitor's column widths, FLOW_HEADER's order; the last column is not padded */
const FIXED_WIDTHS = [12, 7, 5, 6, 30, 2, 30, 16];

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Local HH:MM:SS.mmm of an RFC 3339 time; the text itself when it is not one. */
export function clock(time: string): string {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return time;
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The pod's name when the agent knows it, else the address; then :port. */
export function peer(p: FlowPeer): string {
  const host = p.pod ?? p.ip ?? '-';
  if (p.port === null) return host;
  return p.pod === undefined && host.includes(':') ? `[${host}]:${p.port}` : `${host}:${p.port}`;
}

/** Denials and drops in capitals, so they stand out among the allowed. */
const verdictCell = (v: string): string => (v === 'allowed' ? v : v.toUpperCase());

export function flowCells(r: FlowRecord): string[] {
  const policies = r.reason === 'policy' && r.policies !== undefined ? r.policies.join(',') : '';
  return [clock(r.time), verdictCell(r.verdict), r.event, r.protocol ?? '-', peer(r.src), '->', peer(r.dst), r.reason, policies];
}

/** One row padded to monitor's fixed widths (a wider cell pushes the rest right, never cut). */
export function fixedRow(cells: readonly string[]): string {
  return cells.map((c, i) => c.padEnd(FIXED_WIDTHS[i] ?? 0)).join('  ').trimEnd();
}

// Partial: a newer agent may name a cause this straitctl does not know.
const CAUSES: Partial<Record<string, string>> = {
  'ring-full': "the datapath's ring buffer was full: the agent fell behind",
  'rate-limited': "over the datapath's per-CPU rate (--flow-events-rate)",
  'agent-error': "the agent could not decode or handle them (the agent's log says why)",
  'slow-reader': 'this reader fell behind the agent',
};

export function lostLine(n: LostNotice): string {
  return `lost ${n.count} records (${n.cause}): ${CAUSES[n.cause] ?? 'records were lost'}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPeer = (v: unknown): boolean => isObject(v) && (typeof v.ip === 'string' || v.ip === null) && (typeof v.port === 'number' || v.port === null);

export function isFlowRecord(v: unknown): v is FlowRecord {
  return isObject(v) && typeof v.time === 'string' && typeof v.verdict === 'string' && typeof v.reason === 'string' && typeof v.event === 'string' && isPeer(v.src) && isPeer(v.dst);
}

/** GET /v1/flows's answer as the contract has it (lost counts as numbers, by cause). */
export function isFlowsReply(v: unknown): v is FlowsReply {
  return isObject(v) && Array.isArray(v.flows) && v.flows.every(isFlowRecord) && isObject(v.lost) && Object.values(v.lost).every((n) => typeof n === 'number');
}

/**
 * A line of the follow stream as the contract types it; null for a kind this
 * straitctl does not know (a newer agent's), which it skips. A known kind that is
 * malformed is the agent's bug: E_AGENT_PROTOCOL.
 */
export function streamLine(v: unknown): FlowStreamLine | null {
  if (!isObject(v)) throw new StraitError('E_AGENT_PROTOCOL', 'strait-agent sent a stream line that is not an object', { details: JSON.stringify(v).slice(0, 200) });
  if ('flow' in v) {
    if (isFlowRecord(v.flow)) return { flow: v.flow };
  } else if ('lost' in v) {
    const l = v.lost;
    if (isObject(l) && typeof l.cause === 'string' && typeof l.count === 'number' && typeof l.time === 'string') return { lost: l as unknown as LostNotice };
  } else {
    return null;
  }
  throw new StraitError('E_AGENT_PROTOCOL', 'strait-agent sent a malformed flow stream line', { details: JSON.stringify(v).slice(0, 200) });
}
