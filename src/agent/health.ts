// The kubelet's view of the agent (--health-addr): GET /healthz is 200 while the
// process runs and its API listens (liveness: a wedged agent gets restarted), GET
// /readyz 200 only once the datapath holds what the source holds and the install
// step, if any, has written the conflist (readiness), else 503 with the reason.
// Plain HTTP on a TCP address the kubelet reaches (the DaemonSet binds loopback of the
// host network). Routes are a table: /metrics (metrics.ts) joins the same server
// when --metrics-addr names the same address, or serves with these on its own.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthAddr } from './deploy-options.js';

export interface Reply {
  status: number;
  contentType: string;
  body: string;
}

export type Route = () => Reply | Promise<Reply>;

/** What the probes read of the agent, at the moment of each request. */
export interface HealthState {
  /** the local API (the CNI shim's socket) accepts connections */
  apiListening(): boolean;
  /** the datapath holds everything the source holds now */
  synced(): boolean;
  /** null: no install step configured; else whether it has written the conflist */
  installed(): boolean | null;
}

const json = (status: number, body: object): Reply => ({ status, contentType: 'application/json', body: `${JSON.stringify(body)}\n` });

/** Why the agent is not ready, or null when it is. */
export function notReadyReason(s: HealthState): string | null {
  if (!s.apiListening()) return 'the agent API is not listening yet';
  if (!s.synced()) return 'the datapath is not synced with the source yet';
  if (s.installed() === false) return 'the CNI conflist is not written yet';
  return null;
}

export function healthRoutes(s: HealthState): Record<string, Route> {
  return {
    '/healthz': () => (s.apiListening() ? json(200, { ok: true }) : json(503, { ok: false, reason: 'the agent API is not listening' })),
    '/readyz': () => {
      const reason = notReadyReason(s);
      return reason === null ? json(200, { ready: true }) : json(503, { ready: false, reason });
    },
  };
}

export interface HttpEndpoints {
  /** the bound address (port 0 resolved) */
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serves `routes` (GET and HEAD; anything else 405, unknown paths 404) on addr. */
export async function startHttpEndpoints(addr: HealthAddr, routes: Record<string, Route>): Promise<HttpEndpoints> {
  const answer = async (path: string, method: string | undefined): Promise<Reply> => {
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route === undefined) return json(404, { error: `no ${path} here` });
    if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'GET only' });
    try {
      return await route();
    } catch (e) {
      return json(500, { error: e instanceof Error ? e.message : String(e) });
    }
  };
  const server: Server = createServer((req, res) => {
    void answer((req.url ?? '/').split('?')[0]!, req.method).then((reply) => {
      res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.body) });
      res.end(req.method === 'HEAD' ? undefined : reply.body);
    });
  });
  // A probe connection left open must not keep a stopping agent alive.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
