// The lab plays the API server with a shared directory of manifests: Node objects
// before the agents start, each Pod as a kubelet would report it. One object per
// file, written by rename so an agent never reads half of one. On --source kube the
// files are the lab's record of what it wrote to the API emulation (src/lab/api.ts).
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_NAMESPACE, nodeAddresses, nodeName, podCidrs } from './topology.js';

export function writeManifest(dir: string, file: string, object: object | string): void {
  const path = join(dir, file);
  writeFileSync(`${path}.tmp`, typeof object === 'string' ? object : JSON.stringify(object, null, 2));
  renameSync(`${path}.tmp`, path);
}

/** A manifest's text, null when there is none. */
export function readManifest(dir: string, file: string): string | null {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function removeManifest(dir: string, file: string): void {
  rmSync(join(dir, file), { force: true });
}

export const nodeFile = (i: number): string => `node-${nodeName(i)}.json`;
export const podFile = (pod: string): string => `pod-${LAB_NAMESPACE}-${pod}.json`;
export const NAMESPACE_FILE = `namespace-${LAB_NAMESPACE}.json`;

/** A Node as the node controller leaves it: pod CIDRs in spec, InternalIPs in status. */
export function nodeObject(i: number, dualStack: boolean): object {
  const cidrs = podCidrs(i, dualStack);
  const addr = nodeAddresses(i);
  const podCIDRs = cidrs.v6 === null ? [cidrs.v4] : [cidrs.v4, cidrs.v6];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName(i), labels: { 'kubernetes.io/hostname': nodeName(i) } },
    spec: { podCIDR: cidrs.v4, podCIDRs },
    status: {
      addresses: [
        { type: 'InternalIP', address: addr.v4 },
        ...(dualStack ? [{ type: 'InternalIP', address: addr.v6 }] : []),
        { type: 'Hostname', address: nodeName(i) },
      ],
    },
  };
}

export const namespaceObject = (): object => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: LAB_NAMESPACE, labels: { 'kubernetes.io/metadata.name': LAB_NAMESPACE } },
});

/** A Pod: scheduled (nodeName) before ADD, with its addresses once ADD answered. */
export function podObject(pod: { name: string; node: number; labels: Record<string, string>; ips: string[] }, port: number): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: LAB_NAMESPACE, name: pod.name, labels: pod.labels },
    spec: { nodeName: nodeName(pod.node), containers: [{ name: 'server', ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }] }] },
    status:
      pod.ips.length === 0
        ? { phase: 'Pending' }
        : { phase: 'Running', podIP: pod.ips[0], podIPs: pod.ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: 'True' }] },
  };
}
