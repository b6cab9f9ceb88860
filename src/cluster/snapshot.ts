// The cluster state the agent's core takes, from the objects a source holds: one of
// each object (by kind, namespace and name), in a stable order, so two sources
// holding the same objects give the same state and an unchanged one no new generation.
import type { ParsedObject } from '../policy/model.js';
import type { ClusterState } from '../policy/types.js';
import { objectKey } from './manifests.js';

/** Later objects replace earlier ones with the same key. */
export function clusterState(objects: Iterable<ParsedObject>): ClusterState {
  const byKey = new Map<string, ParsedObject>();
  for (const o of objects) byKey.set(objectKey(o), o);
  const state: ClusterState = { namespaces: [], pods: [], policies: [], nodes: [], services: [], endpointSlices: [] };
  for (const key of [...byKey.keys()].sort()) {
    const o = byKey.get(key)!;
    switch (o.kind) {
      case 'Namespace':
        state.namespaces.push(o.value);
        break;
      case 'Pod':
        state.pods.push(o.value);
        break;
      case 'NetworkPolicy':
        state.policies.push(o.value);
        break;
      case 'Node':
        state.nodes.push(o.value);
        break;
      case 'Service':
        state.services.push(o.value);
        break;
      case 'EndpointSlice':
        state.endpointSlices.push(o.value);
        break;
    }
  }
  return state;
}
