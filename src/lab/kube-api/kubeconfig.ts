// A kubeconfig for the emulated API server: one cluster at a plain http URL, a user
// with no credentials, one context (the server asks for no auth). client-node 2
// refuses a plain http server unless the cluster says insecure-skip-tls-verify.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export function kubeconfigText(server: string, name = 'strait-emu'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: {} }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
}

export function writeKubeconfig(path: string, server: string): void {
  writeFileSync(path, kubeconfigText(server), { mode: 0o600 });
}
