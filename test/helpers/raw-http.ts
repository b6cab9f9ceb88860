// Raw HTTP/1.1 over a unix socket: the request exactly as given (any method, target,
// headers or bytes), the answer split into status, headers and body. For tests of
// what a server does with requests no well-behaved client would send.
import { connect } from 'node:net';

export interface RawReply {
  /** 0 when the server closed without an answer */
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function rawRequest(socketPath: string, bytes: string | Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const c = connect(socketPath);
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
    c.on('close', () => resolve(parseReply(Buffer.concat(chunks).toString('utf8'))));
    c.end(bytes);
  });
}

function parseReply(text: string): RawReply {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: text };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: text.slice(end + 4) };
}

/** A GET with `Connection: close`, so the reply ends with the connection. */
export const rawGet = (socketPath: string, target: string): Promise<RawReply> =>
  rawRequest(socketPath, `GET ${target} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`);
