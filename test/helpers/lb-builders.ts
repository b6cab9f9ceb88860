// Services and EndpointSlices for the Service control plane's tests, parsed from
// manifests as a source gives them (so the model's defaults apply).
import type { EndpointSlice, Service } from '../../src/policy/types.js';
import { parsedAs } from './parse-object.js';

export function service(name: string, spec: Record<string, unknown>, namespace = 'x'): Service {
  return parsedAs('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec });
}

export interface EndpointSpec {
  ip: string;
  ready?: boolean;
  terminating?: boolean;
  node?: string;
}

/** A slice of `svc` (null: no service-name label); ports as [name, port, protocol?]. */
export function slice(name: string, svc: string | null, addressType: 'IPv4' | 'IPv6', endpoints: EndpointSpec[], ports: [string | null, number, string?][], namespace = 'x'): EndpointSlice {
  return parsedAs('EndpointSlice', {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: svc === null ? {} : { 'kubernetes.io/service-name': svc } },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ...(e.ready === undefined ? {} : { ready: e.ready }), ...(e.terminating === undefined ? {} : { terminating: e.terminating }) },
      ...(e.node === undefined ? {} : { nodeName: e.node }),
    })),
    ports: ports.map(([n, port, protocol]) => ({ ...(n === null ? {} : { name: n }), port, protocol: protocol ?? 'TCP' })),
  });
}

/** The manifests of the same objects, for a directory source. */
export function serviceManifest(name: string, spec: Record<string, unknown>, namespace = 'x'): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec };
}
