// What the Service drills on the emulated cluster (test/netns/service-nodes.test.ts)
// need on top of lab-drill: Services and EndpointSlices written by hand (Services
// without selectors, as issue #13 asks to cover), the backends' servers
// (svc-server.mjs: each answer names the pod) and a client process per pod
// (svc-client.mjs) that holds TCP connections and connected UDP sockets open across
// the test's steps.
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { EmulatedCluster } from '../../src/lab/cluster.js';
import { NODE } from '../../src/lab/run.js';
import type { LabPod } from '../../src/lab/state.js';
import { LAB_NAMESPACE, nodeName } from '../../src/lab/topology.js';
import { startIn, startScript, type Helper } from './lab-drill.js';

const SERVER = fileURLToPath(new URL('./svc-server.mjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('./svc-client.mjs', import.meta.url));

/** The port every backend's svc-server listens on (TCP and UDP), the Services' targetPort. */
export const BACKEND_PORT = 9000;
/** The Services' port. */
export const SERVICE_PORT = 80;

export type Protocol = 'TCP' | 'UDP';

export interface ServiceSpec {
  name: string;
  /** one ClusterIP, or one per family (dual-stack) */
  clusterIPs: string[];
  protocols?: Protocol[];
  affinity?: boolean;
  /** internalTrafficPolicy: Local */
  local?: boolean;
}

export interface BackendSpec {
  pod: LabPod;
  /** conditions.ready (default true); serving stays true, as for a pod failing its readiness probe */
  ready?: boolean;
  /** conditions.terminating (default false): the pod is being deleted */
  terminating?: boolean;
}

const familyOf = (ip: string): 'IPv4' | 'IPv6' => (ip.includes(':') ? 'IPv6' : 'IPv4');
const portName = (p: Protocol): string => p.toLowerCase();

export const serviceFile = (name: string): string => `svc-${LAB_NAMESPACE}-${name}.json`;
export const sliceFile = (name: string, family: 'IPv4' | 'IPv6'): string => `eps-${LAB_NAMESPACE}-${name}-${family === 'IPv4' ? 'v4' : 'v6'}.json`;

/** A Service without a selector: its EndpointSlices are ours to write. */
export function serviceObject(s: ServiceSpec): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: LAB_NAMESPACE, name: s.name },
    spec: {
      type: 'ClusterIP',
      clusterIP: s.clusterIPs[0],
      clusterIPs: s.clusterIPs,
      ipFamilies: s.clusterIPs.map(familyOf),
      ipFamilyPolicy: s.clusterIPs.length > 1 ? 'RequireDualStack' : 'SingleStack',
      ports: (s.protocols ?? ['TCP', 'UDP']).map((p) => ({ name: portName(p), protocol: p, port: SERVICE_PORT, targetPort: BACKEND_PORT })),
      ...(s.affinity === true ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } } : {}),
      ...(s.local === true ? { internalTrafficPolicy: 'Local' } : {}),
    },
  };
}

/** The Service's EndpointSlice of one family, as the EndpointSlice controller would write it for these pods. */
export function sliceObject(s: ServiceSpec, family: 'IPv4' | 'IPv6', backends: readonly BackendSpec[]): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: LAB_NAMESPACE, name: `${s.name}-${family === 'IPv4' ? 'v4' : 'v6'}`, labels: { 'kubernetes.io/service-name': s.name } },
    addressType: family,
    endpoints: backends.map((b) => ({
      addresses: [ipOf(b.pod, family)],
      conditions: { ready: b.ready ?? true, serving: true, terminating: b.terminating ?? false },
      nodeName: nodeName(b.pod.node),
      targetRef: { kind: 'Pod', namespace: LAB_NAMESPACE, name: b.pod.name },
    })),
    ports: (s.protocols ?? ['TCP', 'UDP']).map((p) => ({ name: portName(p), protocol: p, port: BACKEND_PORT })),
  };
}

export function ipOf(pod: LabPod, family: 'IPv4' | 'IPv6'): string {
  const ip = pod.ips.find((a) => familyOf(a) === family);
  if (ip === undefined) throw new Error(`pod ${pod.name} has no ${family} address`);
  return ip;
}

/** Writes the Service and an EndpointSlice for each of its families (empty `backends`: a slice with no endpoints). */
export function writeService(c: EmulatedCluster, s: ServiceSpec, backends: readonly BackendSpec[]): void {
  c.writeManifest(serviceFile(s.name), serviceObject(s));
  writeSlices(c, s, backends);
}

/** Replaces the Service's EndpointSlices (a backend added, removed, or its conditions changed). */
export function writeSlices(c: EmulatedCluster, s: ServiceSpec, backends: readonly BackendSpec[]): void {
  for (const ip of s.clusterIPs) c.writeManifest(sliceFile(s.name, familyOf(ip)), sliceObject(s, familyOf(ip), backends));
}

export async function startBackend(c: EmulatedCluster, pod: string): Promise<Helper> {
  return startScript(c, { pod }, SERVER, [pod, String(BACKEND_PORT)]);
}

/** The outcome of one request: who answered, or the error the socket saw (ECONNRESET, ECONNREFUSED, EOF, TIMEOUT). */
export interface Answer {
  answer?: string;
  error?: string;
}

/** A svc-client.mjs in a pod: connections and sockets it keeps, requests answered by id. */
export class ServiceClient {
  private next = 1;
  private readonly waiting = new Map<number, (r: Answer & { conn?: number }) => void>();

  private constructor(readonly helper: Helper) {
    createInterface({ input: helper.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { id: number; conn?: number; answer?: string; error?: string };
      this.waiting.get(msg.id)?.(msg);
      this.waiting.delete(msg.id);
    });
  }

  static async start(c: EmulatedCluster, pod: string, timeoutMs = 1500): Promise<ServiceClient> {
    const h = startIn(c, { pod }, NODE, [CLIENT, String(timeoutMs)]);
    await h.waitFor(/^ready$/m);
    return new ServiceClient(h);
  }

  private request(msg: Record<string, unknown>): Promise<Answer & { conn?: number }> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, resolve);
      // a client that died answers nothing more: say so rather than wait for ever
      void this.helper.exited.then((code) => reject(new Error(`the client in its pod exited (${code}): ${this.helper.out.slice(-500)}`)));
      this.helper.send(JSON.stringify({ id, ...msg }));
    });
  }

  private async opened(msg: Record<string, unknown>): Promise<number> {
    const r = await this.request(msg);
    if (r.conn === undefined) throw new Error(`${String(msg.op)} ${String(msg.host)}:${String(msg.port)}: ${r.error ?? 'no connection'}`);
    return r.conn;
  }

  /** A TCP connection to host:port, open until closed (throws when it cannot connect). */
  open(host: string, port = SERVICE_PORT): Promise<number> {
    return this.opened({ op: 'open', host, port });
  }

  /** One request on a TCP connection. */
  ask(conn: number): Promise<Answer> {
    return this.request({ op: 'ask', conn });
  }

  async close(conn: number): Promise<void> {
    await this.request({ op: 'close', conn });
  }

  /** `n` connections at once, each opened, asked once and closed. */
  once(host: string, n: number, port = SERVICE_PORT): Promise<Answer[]> {
    return Promise.all(Array.from({ length: n }, () => this.request({ op: 'once', host, port })));
  }

  /** A connected UDP socket to host:port: only datagrams from that address and port reach it. */
  udp(host: string, port = SERVICE_PORT): Promise<number> {
    return this.opened({ op: 'udp', host, port });
  }

  /** One datagram out (resent until answered) on a UDP socket. */
  uask(conn: number): Promise<Answer> {
    return this.request({ op: 'uask', conn });
  }
}

/**
 * Retries the async assertion `check` until it passes, bounded by rounds (100 ms
 * apart), reporting the last failure: an agent writes a Service's maps a moment
 * after `straitctl wait --synced` may already have answered.
 */
export async function eventuallyAsync(check: () => Promise<void>, rounds = 50): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await check();
      return;
    } catch (e) {
      if (i >= rounds) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The answers' texts: who answered each request ("!" + the error where none did). */
export const who = (answers: readonly Answer[]): string[] => answers.map((a) => a.answer ?? `!${a.error ?? '?'}`);
