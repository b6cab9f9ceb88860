// The agent's local API: JSON over HTTP/1.1 on a unix socket, for bin/strait (the
// CNI calls it forwards, docs/cni-agent.md), a plugin run directly (register/remove
// an endpoint, and this node's pod CIDRs for Kubernetes IPAM mode) and straitctl (status, policy, explain). Only root reaches it (mode
// 0600); it depends on AgentCore and the CNI service alone.
import { lstat, mkdir, chmod, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { canonicalIp } from '../ipam/addr.js';
import type { LocalEndpoint, Protocol } from '../policy/types.js';
import { StraitError } from '../errors.js';
import { ApiError } from './api-error.js';

export { ApiError } from './api-error.js';
import type { Logger } from '../util/log.js';
import type { AgentCore, ExplainRequest } from './core.js';
import { parseForwardedCall, type CniService } from './cni-service.js';
import type { FlowService } from '../flows/service.js';
import { serveFlows } from '../flows/http.js';

export interface ApiServerOptions {
  socketPath: string;
  core: AgentCore;
  log: Logger;
  /** request bodies larger than this are refused (413) */
  maxBodyBytes?: number;
  /** serves POST /v1/cni, the calls bin/strait forwards (docs/cni-agent.md) */
  cni?: CniService;
  /** serves GET /v1/flows (docs/observability.md) */
  flows?: FlowService;
}

// A forwarded call carries up to 1 MiB of stdin, JSON-escaped, and its environment.
const CNI_MAX_BODY_BYTES = 8 << 20;

export interface ApiServer {
  readonly socketPath: string;
  /** stops accepting, drops open connections, removes the socket file */
  close(): Promise<void>;
}

const bad = (message: string) => new ApiError(400, 'E_BAD_REQUEST', message);

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { socketPath, core, log } = opts;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  await removeStaleSocket(socketPath);

  const server = createServer((req, res) => {
    handle(req, res, core, maxBody, opts).then(
      (reply) => {
        if (reply === null) return; // streaming: the route answers on res itself
        log.debug({ method: req.method, url: req.url, status: reply.status }, 'api request');
        if ('text' in reply) sendText(res, reply);
        else send(res, reply.status, reply.body);
      },
      (e: unknown) => {
        const err = toApiError(e);
        if (err.status >= 500) log.warn({ method: req.method, url: req.url, status: err.status, code: err.code }, `api: ${err.message}`);
        else log.debug({ method: req.method, url: req.url, status: err.status, code: err.code }, `api: ${err.message}`);
        send(res, err.status, { error: { code: err.code, message: err.message } });
      },
    );
  });
  // No socket file may exist, even for a moment, with wider permissions than 0600:
  // the bind happens synchronously inside listen(), under this umask.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  await chmod(socketPath, 0o600);
  log.info({ socket: socketPath }, `api listening on ${socketPath}`);

  let closing: Promise<void> | null = null;
  return {
    socketPath,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve()); // also unlinks the socket file
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** A socket file nobody listens on is left by a killed agent; a live one is another agent's. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) throw new StraitError('E_SOCKET_IN_USE', `${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new StraitError('E_SOCKET_IN_USE', `another process is serving ${path} (is strait-agent already running?)`);
  await unlink(path).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A CNI call's answer: exactly what the plugin prints, its exit code in a header. */
function sendText(res: ServerResponse, reply: TextReply): void {
  if (res.headersSent) return;
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply.text), ...reply.headers });
  res.end(reply.text);
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(500, e instanceof StraitError ? e.code : 'E_INTERNAL', e instanceof Error ? e.message : String(e));
}

interface JsonReply { status: number; body: unknown }
interface TextReply { status: number; text: string; headers: Record<string, string> }
type Reply = JsonReply | TextReply;

async function handle(req: IncomingMessage, res: ServerResponse, core: AgentCore, maxBody: number, opts: ApiServerOptions): Promise<Reply | null> {
  const { cni, flows } = opts;
  const url = requestUrl(req.url ?? '/');
  const method = req.method ?? 'GET';
  const path = url.pathname;
  const allow = (methods: string[]): void => {
    if (!methods.includes(method)) {
      res.setHeader('allow', methods.join(', '));
      throw new ApiError(405, 'E_METHOD_NOT_ALLOWED', `${path} takes ${methods.join(' or ')}, not ${method}`);
    }
  };

  if (path === '/v1/cni') {
    allow(['POST']);
    if (cni === undefined) throw new ApiError(503, 'E_AGENT_CLOSING', 'this strait-agent does not serve CNI calls');
    const out = await cni.handle(parseForwardedCall(await readJson(req, CNI_MAX_BODY_BYTES)));
    return {
      status: 200,
      text: out.stdout,
      headers: { 'strait-cni-exit': String(out.exitCode), 'strait-cni-duration-us': String(out.durationUs) },
    };
  }
  if (path === '/v1/endpoints') {
    allow(['POST']);
    const ep = parseEndpoint(await readJson(req, maxBody));
    await core.registerEndpoint(ep);
    return { status: 200, body: { ready: true } };
  }
  if (path.startsWith('/v1/endpoints/')) {
    allow(['DELETE']);
    const id = decodeSegment(path.slice('/v1/endpoints/'.length));
    await core.removeEndpoint(id);
    return { status: 200, body: { removed: true } };
  }
  if (path === '/v1/status') {
    allow(['GET']);
    onlyParams(url, []);
    return { status: 200, body: core.status() };
  }
  if (path === '/v1/node') {
    allow(['GET']);
    onlyParams(url, []);
    return { status: 200, body: core.nodePodCidrs() };
  }
  if (path === '/v1/policy') {
    allow(['GET']);
    onlyParams(url, ['pod']);
    const pod = url.searchParams.get('pod');
    if (pod !== null && !/^[^/]+\/[^/]+$/.test(pod)) throw bad(`pod must be "namespace/name", not "${pod}"`);
    return { status: 200, body: core.policyOf(pod) };
  }
  if (path === '/v1/explain') {
    allow(['GET']);
    return { status: 200, body: core.explain(parseExplainQuery(url.searchParams)) };
  }
  if (path === '/v1/flows') {
    allow(['GET']);
    if (flows === undefined) throw new ApiError(503, 'E_FLOWS_UNAVAILABLE', 'this strait-agent keeps no flow records');
    const reply = serveFlows(url, req, res, flows);
    return reply === null ? null : { status: 200, body: reply };
  }
  throw new ApiError(404, 'E_NOT_FOUND', `no route ${path}`);
}

/** The request target (origin or absolute form) as a URL; one that is none is the client's error. */
function requestUrl(target: string): URL {
  try {
    return new URL(target, 'http://agent');
  } catch {
    throw bad(`request target "${target}" is not a valid URL`);
  }
}

function decodeSegment(s: string): string {
  let id: string;
  try {
    id = decodeURIComponent(s);
  } catch {
    throw bad(`endpoint id "${s}" is not validly percent-encoded`);
  }
  if (id === '') throw bad('endpoint id is empty');
  return id;
}

function onlyParams(url: URL, known: string[]): void {
  for (const k of url.searchParams.keys()) {
    if (!known.includes(k)) throw bad(`unknown query parameter "${k}"${known.length ? ` (takes ${known.join(', ')})` : ''}`);
  }
}

async function readJson(req: IncomingMessage, maxBody: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBody) throw new ApiError(413, 'E_TOO_LARGE', `request body exceeds ${maxBody} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw bad('request body is empty; expected a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw bad(`request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** The CNI plugin's endpoint, checked field by field. */
export function parseEndpoint(raw: unknown): LocalEndpoint {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('endpoint must be a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['id', 'ifindex', 'ips', 'podNamespace', 'podName'].includes(k)) throw bad(`endpoint: unknown field "${k}"`);
  }
  if (typeof o.id !== 'string' || o.id === '') throw bad('endpoint.id must be a non-empty string');
  if (typeof o.ifindex !== 'number' || !Number.isInteger(o.ifindex) || o.ifindex <= 0 || o.ifindex > 0xffffffff) {
    throw bad('endpoint.ifindex must be a positive integer');
  }
  if (!Array.isArray(o.ips) || o.ips.length === 0) throw bad('endpoint.ips must be a non-empty list of addresses');
  const ips = o.ips.map((ip, i) => {
    const c = typeof ip === 'string' ? canonicalIp(ip) : null;
    if (c === null) throw bad(`endpoint.ips[${i}]: ${JSON.stringify(ip)} is not an IP address`);
    return c;
  });
  const optName = (k: 'podNamespace' | 'podName'): string | null => {
    const v = o[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v === '') throw bad(`endpoint.${k} must be a non-empty string or null`);
    return v;
  };
  return { id: o.id, ifindex: o.ifindex, ips, podNamespace: optName('podNamespace'), podName: optName('podName') };
}

const PROTOCOLS: Record<string, Protocol> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

/** ?src=&dst=&proto=tcp|udp|sctp&port=1..65535 */
export function parseExplainQuery(q: URLSearchParams): ExplainRequest {
  for (const k of q.keys()) {
    if (!['src', 'dst', 'proto', 'port'].includes(k)) throw bad(`unknown query parameter "${k}" (takes src, dst, proto, port)`);
  }
  const one = (k: string): string => {
    const all = q.getAll(k);
    if (all.length === 0 || all[0] === '') throw bad(`missing query parameter "${k}"`);
    if (all.length > 1) throw bad(`query parameter "${k}" is given ${all.length} times`);
    return all[0]!;
  };
  const addr = (k: string): string => {
    const v = one(k);
    const c = canonicalIp(v);
    if (c === null || v.includes('/')) throw bad(`${k}: "${v}" is not an IPv4 or IPv6 address`);
    return c;
  };
  const src = addr('src');
  const dst = addr('dst');
  if (src.includes(':') !== dst.includes(':')) throw bad(`src ${src} and dst ${dst} are of different address families`);
  const protoText = one('proto');
  const protocol = PROTOCOLS[protoText.toLowerCase()];
  if (protocol === undefined) throw bad(`proto: "${protoText}" is not one of tcp, udp, sctp`);
  const portText = one('port');
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw bad(`port: "${portText}" is not a port number (1-65535)`);
  return { src, dst, protocol, port };
}
