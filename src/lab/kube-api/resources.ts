// The kinds the emulated API server serves, and how a request path names one of them.
// A new kind is one more row in RESOURCES.

export interface ResourceDef {
  /** '' for the core group */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
];

export const apiVersionOf = (r: ResourceDef): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

/** What a path names: a collection (namespace null: across all namespaces) or one object. */
export interface Target {
  resource: ResourceDef;
  namespace: string | null;
  name: string | null;
}

/**
 * /api/v1/pods, /api/v1/namespaces/NS/pods[/NAME], /api/v1/namespaces[/NAME],
 * /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME]. null: not a path of ours.
 */
export function parseTarget(pathname: string): Target | null {
  const seg = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (seg[0] === 'api' && seg.length >= 2) {
    group = '';
    rest = seg.slice(1);
  } else if (seg[0] === 'apis' && seg.length >= 3) {
    group = seg[1]!;
    rest = seg.slice(2);
  } else return null;
  const version = rest[0]!;
  const find = (plural: string | undefined): ResourceDef | undefined =>
    RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
  // namespaces/NS/PLURAL[/NAME] for a namespaced kind; otherwise PLURAL[/NAME]
  if (rest[1] === 'namespaces' && rest.length >= 4) {
    const r = find(rest[3]);
    if (r === undefined || !r.namespaced || rest.length > 5) return null;
    return { resource: r, namespace: rest[2]!, name: rest[4] ?? null };
  }
  const r = find(rest[1]);
  if (r === undefined || rest.length > 3) return null;
  if (r.namespaced && rest.length === 3) return null;
  return { resource: r, namespace: null, name: rest[2] ?? null };
}
