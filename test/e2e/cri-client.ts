// A small CRI client, the part of a kubelet the e2e tests need: run a pod sandbox
// (which makes the runtime call the CNI plugins), run a container in it, exec in
// it, read its IPs, tear it down. gRPC over the runtime's unix socket, with the
// messages of cri-api.proto (a subset of k8s.io/cri-api runtime.v1).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('./cri-api.proto', import.meta.url));

export interface PortMapping {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] };
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string };
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
}

export interface PodSandboxStatus {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  createdAt: number;
  network: { ip: string; additionalIps: { ip: string }[] } | null;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

let definition: grpc.GrpcObject | null = null;
function load(): grpc.GrpcObject {
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true }),
  );
  return definition;
}

export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly images: grpc.Client;

  /** `socket`: the runtime's gRPC unix socket path. */
  constructor(socket: string, private readonly timeoutMs = 60_000) {
    const v1 = (load().runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const Runtime = v1.RuntimeService as grpc.ServiceClientConstructor;
    const Images = v1.ImageService as grpc.ServiceClientConstructor;
    const target = `unix://${socket}`;
    this.runtime = new Runtime(target, grpc.credentials.createInsecure());
    this.images = new Images(target, grpc.credentials.createInsecure());
  }

  private call<T>(client: grpc.Client, method: string, req: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (fn === undefined) throw new Error(`CRI client has no method ${method}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CRI ${method}: ${err.details || err.message}`, { cause: err }));
        else resolve(res as T);
      });
    });
  }

  version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call(this.runtime, 'Version', { version: 'v1' });
  }

  /** The runtime's conditions by type, e.g. {RuntimeReady: true, NetworkReady: false}. */
  async conditions(): Promise<Record<string, { status: boolean; reason: string; message: string }>> {
    const r = await this.call<{ status: { conditions: { type: string; status: boolean; reason: string; message: string }[] } | null }>(
      this.runtime,
      'Status',
      {},
    );
    return Object.fromEntries((r.status?.conditions ?? []).map((c) => [c.type, c]));
  }

  async imagePresent(image: string): Promise<boolean> {
    const r = await this.call<{ image: unknown }>(this.images, 'ImageStatus', { image: { image } });
    return r.image !== null && r.image !== undefined;
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call<{ podSandboxId: string }>(this.runtime, 'RunPodSandbox', { config })).podSandboxId;
  }

  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    return (await this.call<{ status: PodSandboxStatus }>(this.runtime, 'PodSandboxStatus', { podSandboxId: id })).status;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'StopPodSandbox', { podSandboxId: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'RemovePodSandbox', { podSandboxId: id });
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const r = await this.call<{ containerId: string }>(this.runtime, 'CreateContainer', { podSandboxId, config, sandboxConfig });
    return r.containerId;
  }

  async startContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'StartContainer', { containerId: id });
  }

  async stopContainer(id: string, timeoutSec = 0): Promise<void> {
    await this.call(this.runtime, 'StopContainer', { containerId: id, timeout: timeoutSec });
  }

  async removeContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'RemoveContainer', { containerId: id });
  }

  /** Runs `cmd` in the container and waits; a non-zero exit is a result, not an error. */
  async execSync(containerId: string, cmd: string[], timeoutSec = 10): Promise<ExecResult> {
    const r = await this.call<{ stdout: Buffer; stderr: Buffer; exitCode: number }>(
      this.runtime,
      'ExecSync',
      { containerId, cmd, timeout: timeoutSec },
      (timeoutSec + 10) * 1000,
    );
    return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exitCode };
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}
