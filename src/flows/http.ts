// GET /v1/flows on the agent's API (docs/observability.md): the buffer's newest
// records as one FlowsReply, or with follow=1 an application/x-ndjson stream of
// FlowStreamLines until the client goes away.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from '../agent/api-error.js';
import { FILTER_PARAMS, FilterError, filterFromQuery } from './filter.js';
import { streamLine } from './hub.js';
import type { FlowService } from './service.js';
import type { FlowFilter, FlowsReply } from './types.js';

export const DEFAULT_LAST = 100;
const PARAMS: readonly string[] = ['last', 'follow', ...FILTER_PARAMS];

const bad = (message: string) => new ApiError(400, 'E_BAD_REQUEST', message);

interface FlowsQuery {
  /** null: not given */
  last: number | null;
  follow: boolean;
  filter: FlowFilter;
}

export function parseFlowsQuery(q: URLSearchParams, capacity: number): FlowsQuery {
  for (const k of q.keys()) if (!PARAMS.includes(k)) throw bad(`unknown query parameter "${k}" (takes ${PARAMS.join(', ')})`);
  const one = (k: string): string | null => {
    const all = q.getAll(k);
    if (all.length > 1) throw bad(`query parameter "${k}" is given ${all.length} times`);
    return all[0] ?? null;
  };
  const lastText = one('last');
  if (lastText !== null && !/^[0-9]{1,9}$/.test(lastText)) throw bad(`last: "${lastText}" is not a count of records (0-${capacity})`);
  const followText = one('follow');
  if (followText !== null && !['0', '1', 'true', 'false'].includes(followText)) throw bad(`follow: "${followText}" is not 1 or 0`);
  let filter: FlowFilter;
  try {
    filter = filterFromQuery(q);
  } catch (e) {
    if (e instanceof FilterError) throw bad(e.message);
    throw e;
  }
  // More than the buffer holds is all of it.
  return { last: lastText === null ? null : Math.min(Number(lastText), capacity), follow: followText === '1' || followText === 'true', filter };
}

/** Answers the request: a FlowsReply to send, or null when it streams on res itself. */
export function serveFlows(url: URL, req: IncomingMessage, res: ServerResponse, flows: FlowService): FlowsReply | null {
  const q = parseFlowsQuery(url.searchParams, flows.capacity);
  if (!q.follow) return { flows: flows.recent(q.last ?? DEFAULT_LAST, q.filter), lost: flows.lost(), capacity: flows.capacity };

  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  // The backlog and the live records meet without a gap: both happen in this turn.
  for (const r of q.last === null ? [] : flows.recent(q.last, q.filter)) res.write(streamLine({ flow: r }));
  const sub = flows.subscribe(q.filter, {
    write: (line) => res.write(line),
    onceDrain: (cb) => res.once('drain', cb),
  });
  // 'close' on the response: the client went away, or the server closed the connection.
  res.once('close', () => sub.close());
  req.once('error', () => sub.close());
  return null;
}
