// Kubernetes label selector semantics (metav1.LabelSelector): matchLabels and every
// matchExpressions requirement must hold; the empty selector selects everything.
// NotIn and DoesNotExist hold when the key is absent, In and Exists need it.
import type { LabelRequirement, LabelSelector } from './types.js';

export const EVERYTHING: LabelSelector = Object.freeze({
  matchLabels: Object.freeze({}) as Record<string, string>,
  matchExpressions: Object.freeze([]) as unknown as LabelRequirement[],
});

// Labels are plain objects built from JSON: a key like "constructor" must not find
// Object.prototype's member.
const get = (labels: Record<string, string>, key: string): string | undefined =>
  Object.hasOwn(labels, key) ? labels[key] : undefined;

export function requirementMatches(req: LabelRequirement, labels: Record<string, string>): boolean {
  const value = get(labels, req.key);
  switch (req.operator) {
    case 'In':
      return value !== undefined && req.values.includes(value);
    case 'NotIn':
      return value === undefined || !req.values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
  }
}

export function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const key of Object.keys(selector.matchLabels)) {
    if (get(labels, key) !== selector.matchLabels[key]) return false;
  }
  for (const req of selector.matchExpressions) {
    if (!requirementMatches(req, labels)) return false;
  }
  return true;
}

export const isEverything = (selector: LabelSelector): boolean =>
  Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;

const keyCache = new WeakMap<LabelSelector, string>();

/**
 * A canonical text for a selector: equal for selectors that select the same sets
 * by construction (order of labels, requirements and values does not matter), so
 * the compiler evaluates each distinct selector once per identity.
 */
export function selectorKey(selector: LabelSelector): string {
  let key = keyCache.get(selector);
  if (key === undefined) {
    const labels = Object.entries(selector.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const reqs = selector.matchExpressions
      .map((r) => [r.key, r.operator, [...new Set(r.values)].sort()] as const)
      .map((r) => JSON.stringify(r))
      .sort();
    key = JSON.stringify([labels, [...new Set(reqs)]]);
    keyCache.set(selector, key);
  }
  return key;
}
