// The synthetic cluster of the kube benches: 50 namespaces, Pods shaped as a
// Deployment's are (labels, a long annotation, a container with ports and env, spread
// over 100 nodes named node0..node99, none of them a lab node) and ingress
// NetworkPolicies selecting them, written to the API emulation a few at a time.
export const NS = 50;

export const namespaceBody = (i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${i}`, labels: { team: `t${i % 7}` } } });

export const podBody = (i) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p${i}`, namespace: `ns${i % NS}`, labels: { app: `app${i % 97}`, tier: i % 2 ? 'web' : 'db', 'pod-template-hash': `h${i % 13}` }, annotations: { note: 'x'.repeat(200) } },
  spec: { nodeName: `node${i % 100}`, containers: [{ name: 'c', image: 'registry.example/app:1.2.3', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], env: [{ name: 'A', value: 'b'.repeat(100) }] }] },
  status: { phase: 'Running', podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, podIPs: [{ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }] },
});

export const policyBody = (i) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: `np${i}`, namespace: `ns${i % NS}` },
  spec: { podSelector: { matchLabels: { app: `app${i % 97}` } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'web' } } }, { namespaceSelector: { matchLabels: { team: `t${i % 7}` } } }], ports: [{ protocol: 'TCP', port: 8080 }] }] },
});

export const podsPath = (i) => `/api/v1/namespaces/ns${i % NS}/pods`;
export const policiesPath = (i) => `/apis/networking.k8s.io/v1/namespaces/ns${i % NS}/networkpolicies`;

/** make(i) for i in [from, to), 64 in flight: the emulation is one process. */
export async function seed(from, to, make) {
  for (let i = from; i < to; i += 64) await Promise.all(Array.from({ length: Math.min(64, to - i) }, (_, j) => make(i + j)));
}
