// Numeric security identities. A pod's identity stands for (namespace, namespace
// labels, pod labels, named ports): pods with equal label sets share it, so policy
// entries are per label set, not per pod, and a new replica needs no policy write
// at all. The named ports are part of it because an egress named port must resolve
// on the destination pod: two pods that share labels but name ports differently
// must not share entries (replicas of one template never differ). A CIDR identity
// stands for one ipBlock prefix, a namespace identity for one namespace name.
//
// Numbers are a hash of a canonical text, so the same cluster gives the same numbers
// after an agent restart. Collisions are resolved by linear probing, new texts in
// sorted order. Given the previous assignment, texts that had a number keep it, and
// numbers the previous state used are not handed to a newcomer in this round: an
// identity never changes meaning between two states a diff connects (which would let
// one label set's pods borrow another's allow entries while a plan is applied).
import { StraitError } from '../errors.js';
import { FIRST_POD_IDENTITY, IDENTITY_CIDR_FLAG, IDENTITY_NS_FLAG } from './types.js';

export const POD_IDENTITY_SPACE = IDENTITY_CIDR_FLAG - FIRST_POD_IDENTITY;
export const CIDR_IDENTITY_SPACE = IDENTITY_CIDR_FLAG;
export const NS_IDENTITY_SPACE = IDENTITY_CIDR_FLAG;

const sortedEntries = (labels: Record<string, string>): [string, string][] =>
  Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * The canonical text of a pod identity. Without named ports it is the text of the
 * label set alone, as before named ports took part: pods that name no port keep
 * the numbers an older agent gave them.
 */
export const podIdentityKey = (
  namespace: string,
  namespaceLabels: Record<string, string>,
  labels: Record<string, string>,
  namedPorts: Record<string, readonly number[]> = {},
): string => {
  const ports = Object.entries(namedPorts)
    .filter(([, list]) => list.length > 0)
    .map(([k, list]): [string, number[]] => [k, [...list].sort((a, b) => a - b)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const base: unknown[] = [namespace, sortedEntries(namespaceLabels), sortedEntries(labels)];
  return JSON.stringify(ports.length === 0 ? base : [...base, ports]);
};

/** FNV-1a over UTF-16 code units, then murmur3's finaliser so close texts spread. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function assign(
  keys: Iterable<string>,
  base: number,
  size: number,
  previous: ReadonlyMap<string, number> | undefined,
): Map<string, number> {
  const inRange = (id: number): boolean => Number.isInteger(id) && id >= base && id < base + size;
  const taken = new Set<number>();
  for (const id of previous?.values() ?? []) if (inRange(id)) taken.add(id);
  const out = new Map<string, number>();
  const fresh: string[] = [];
  for (const key of keys) {
    if (out.has(key)) continue;
    const id = previous?.get(key);
    if (id !== undefined && inRange(id)) out.set(key, id);
    else fresh.push(key);
  }
  fresh.sort();
  for (const key of fresh) {
    if (out.has(key)) continue;
    if (taken.size >= size) throw new StraitError('E_IDENTITY_EXHAUSTED', 'identity space exhausted');
    let off = hash32(key) % size;
    while (taken.has(base + off)) off = (off + 1) % size;
    taken.add(base + off);
    out.set(key, base + off);
  }
  return out;
}

/** Pod identities in [FIRST_POD_IDENTITY, IDENTITY_CIDR_FLAG), by canonical text (podIdentityKey). */
export const assignPodIdentities = (
  keys: Iterable<string>,
  previous?: ReadonlyMap<string, number>,
): Map<string, number> => assign(keys, FIRST_POD_IDENTITY, POD_IDENTITY_SPACE, previous);

/** CIDR identities IDENTITY_CIDR_FLAG | hash24, by canonical CIDR text. */
export const assignCidrIdentities = (
  cidrs: Iterable<string>,
  previous?: ReadonlyMap<string, number>,
): Map<string, number> => assign(cidrs, IDENTITY_CIDR_FLAG, CIDR_IDENTITY_SPACE, previous);

/** Namespace identities IDENTITY_NS_FLAG | hash24, by namespace name. */
export const assignNamespaceIdentities = (
  names: Iterable<string>,
  previous?: ReadonlyMap<string, number>,
): Map<string, number> => assign(names, IDENTITY_NS_FLAG, NS_IDENTITY_SPACE, previous);

export const isNamespaceIdentity = (id: number): boolean => id >= IDENTITY_NS_FLAG && id < IDENTITY_NS_FLAG + NS_IDENTITY_SPACE;
export const isCidrIdentity = (id: number): boolean => id >= IDENTITY_CIDR_FLAG && id < 2 * IDENTITY_CIDR_FLAG;
export const isPodIdentity = (id: number): boolean => id >= FIRST_POD_IDENTITY && id < IDENTITY_CIDR_FLAG;
