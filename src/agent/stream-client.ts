// A streaming GET on the agent's unix socket (GET /v1/flows?follow=1): an
// application/x-ndjson answer read line by line as it arrives, for as long as the
// agent keeps it open. Failures are agentRequest's StraitErrors (client.ts).
import { StraitError } from '../errors.js';
import { AgentReplyError, agentError, connectError } from './client.js';

const { request } = process.getBuiltinModule('node:http');

export interface AgentStreamOptions {
  /** until the answer's headers arrive; a live stream may then be idle for ever. Default 10 s. */
  connectTimeoutMs?: number;
  /** aborting it closes the stream; the promise then resolves with 'aborted' */
  signal?: AbortSignal;
  /** called once the agent has accepted the stream (a 200 of NDJSON), before any line */
  onOpen?: () => void;
}

/**
 * How the stream ended: 'ended' the agent finished it; 'cut' the connection closed
 * between two lines without the end of the answer (the agent died); 'aborted' the
 * caller's signal.
 */
export type StreamEnd = 'ended' | 'cut' | 'aborted';

/**
 * GETs `path` and calls `onLine` with each line's JSON, in order, as it arrives. Rejects
 * with E_AGENT_NOT_RUNNING, E_AGENT_PERMISSION, E_AGENT_TIMEOUT or E_AGENT_IO when there
 * is no answer; with an AgentReplyError (the agent's message) for a non-200; with
 * E_AGENT_PROTOCOL for an answer that is not NDJSON, a line that is not JSON, or a last
 * line cut short. An exception from `onLine` ends the stream and rejects with it.
 */
export function agentStream(socketPath: string, path: string, onLine: (value: unknown) => void, opts: AgentStreamOptions = {}): Promise<StreamEnd> {
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  const what = `GET ${path}`;
  const protocolError = (message: string, details?: string): StraitError =>
    new StraitError('E_AGENT_PROTOCOL', `strait-agent on ${socketPath} answered ${what} ${message}`, details === undefined ? {} : { details: details.slice(0, 200) });

  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (how: { end: StreamEnd } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      if ('end' in how) resolve(how.end);
      else reject(how.error);
    };
    const onAbort = (): void => finish({ end: 'aborted' });
    const req = request({ socketPath, method: 'GET', path, agent: false, headers: { accept: 'application/x-ndjson' } });
    const timer = setTimeout(
      () => finish({ error: new StraitError('E_AGENT_TIMEOUT', `no answer from strait-agent on ${socketPath} within ${timeoutMs} ms (${what})`) }),
      timeoutMs,
    );
    req.on('error', (e: NodeJS.ErrnoException) => finish({ error: connectError(socketPath, e) }));
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      const type = res.headers['content-type'] ?? '';
      if (status !== 200) {
        // The agent's {error: {code, message}}, as agentRequest's callers get it.
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: unknown = null;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          } catch {
            // not JSON: agentError falls back to describing the status
          }
          const { code, message } = agentError({ status, json });
          finish({ error: new AgentReplyError(status, code, message) });
        });
        return;
      }
      if (!type.startsWith('application/x-ndjson')) {
        finish({ error: protocolError(`with ${type || 'no content type'}, not application/x-ndjson`) });
        return;
      }
      opts.onOpen?.();
      let partial = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (settled) return;
          if (line.trim() === '') continue;
          let value: unknown;
          try {
            value = JSON.parse(line) as unknown;
          } catch {
            finish({ error: protocolError('with a line that is not JSON', line) });
            return;
          }
          try {
            onLine(value);
          } catch (e) {
            finish({ error: e instanceof Error ? e : new Error(String(e)) });
            return;
          }
        }
      });
      // A line the agent never finished is not a record, however it was cut.
      const closed = (end: StreamEnd): void => finish(partial === '' ? { end } : { error: protocolError('with a last line cut short', partial) });
      res.on('end', () => closed('ended'));
      // The connection dropped mid-answer (Node: 'aborted', ECONNRESET).
      res.on('error', () => closed('cut'));
      res.on('close', () => closed(res.complete ? 'ended' : 'cut'));
    });
    req.end();
  });
}
