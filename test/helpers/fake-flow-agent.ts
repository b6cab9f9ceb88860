// A fake strait-agent for straitctl monitor and flows: a node:http server on a unix
// socket that records every request's URL and answers as docs/observability.md says.
// GET /v1/flows?follow=1 opens an NDJSON stream the test writes into line by line;
// anything else gets the test's answer.
import { createServer, type ServerResponse } from 'node:http';
import type { FlowRecord, FlowStreamLine } from '../../src/flows/types.js';

export interface FlowStream {
  url: URL;
  /** one line (a FlowStreamLine as JSON, or raw text as given), flushed to the socket */
  write(line: FlowStreamLine | string): Promise<void>;
  /** ends the answer properly */
  end(): void;
  /** drops the connection mid-answer, as a dying agent does */
  cut(): void;
  /** resolves when the client has gone */
  closed: Promise<void>;
}

export interface FakeFlowAgent {
  socket: string;
  /** every request's URL, in order */
  urls: URL[];
  /** the next follow stream a client opens (the ones already open first) */
  nextStream(): Promise<FlowStream>;
  close(): Promise<void>;
}

export interface FlowAnswer {
  status: number;
  body: unknown;
}

/** `answer` answers a request itself, or returns null: a follow stream then, else a 404. */
export async function fakeFlowAgent(socket: string, answer: (url: URL) => FlowAnswer | null = () => null): Promise<FakeFlowAgent> {
  const urls: URL[] = [];
  const opened: FlowStream[] = [];
  const waiting: ((s: FlowStream) => void)[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    urls.push(url);
    const a = answer(url);
    if (a === null && req.method === 'GET' && url.pathname === '/v1/flows' && url.searchParams.get('follow') === '1') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.flushHeaders();
      const s = stream(url, res);
      const w = waiting.shift();
      if (w) w(s);
      else opened.push(s);
      return;
    }
    res.writeHead(a?.status ?? 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a?.body ?? { error: { code: 'E_NOT_FOUND', message: `no ${url.pathname}` } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    socket,
    urls,
    nextStream: () => {
      const s = opened.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function stream(url: URL, res: ServerResponse): FlowStream {
  const closed = new Promise<void>((resolve) => res.on('close', resolve));
  return {
    url,
    write: (line) =>
      new Promise((resolve, reject) => {
        res.write(typeof line === 'string' ? line : `${JSON.stringify(line)}\n`, (e) => (e ? reject(e) : resolve()));
      }),
    end: () => res.end(),
    cut: () => res.socket?.destroy(),
    closed,
  };
}

/** A record as the agent names one; `over` replaces any field. */
export function flowRecord(over: Partial<FlowRecord> = {}): FlowRecord {
  return {
    time: '2026-12-01T19:30:00.123456789Z',
    verdict: 'allowed',
    reason: 'policy',
    event: 'new',
    protocol: 'tcp',
    src: { ip: '10.244.1.2', port: 40312, pod: 'shop/web-1', identity: 1001 },
    dst: { ip: '10.244.2.3', port: 8080, pod: 'shop/api-0', identity: 1002 },
    node: 'node-a',
    direction: 'egress',
    point: 'from-pod',
    policies: ['shop/allow-web'],
    tcpFlags: ['SYN'],
    bytes: 74,
    ...over,
  };
}
