// The three-pod world the agent tests of issue #14 share: pods web, client and other
// in namespace x (each with an `http` port, 80), and a NetworkPolicy letting only
// client reach web's http, as the manifests a directory source reads.
export const list = (items: object[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

export const NAMESPACE_X = list([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }]);

export const PODS = list(
  ['web', 'client', 'other'].map((name) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'x', name, labels: { app: name } },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
  })),
);

export const WEB_FROM_CLIENT = list([
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: 'x', name: 'web-from-client' },
    spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }] },
  },
]);
