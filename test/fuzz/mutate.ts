// Breaking one thing in a JSON tree, for the fuzz tests: a value replaced (by a
// wrong type, an empty or huge one, a hostile string), removed, or a key added.
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = Record<string, Json>;

/** `good` 19 times in 20: a case with one broken field gets past all the others. */
export const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ weight: 19, arbitrary: good }, { weight: 1, arbitrary: bad });

/** Every [path, value] in a JSON tree, the root included as []. */
export function pathsOf(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...at, k]));
  return out;
}

/** `obj` with the value at `path` replaced (or removed when `value` is undefined); a copy. */
export function setAt(obj: Json, path: (string | number)[], value: Json | undefined): Json | undefined {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy: Json = Array.isArray(obj) ? [...obj] : { ...(obj as JsonObject) };
  const next = setAt((copy as Record<string | number, Json>)[head] ?? null, rest, value);
  if (next === undefined) {
    if (Array.isArray(copy)) copy.splice(head as number, 1);
    else delete copy[head as string];
  } else (copy as Record<string | number, Json>)[head] = next;
  return copy;
}

/** Values that break a field: wrong types, empty, huge, nested, hostile strings. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(null, '', 0, -1, 1e308, 2 ** 53, true, [], {}, '__proto__', 'constructor', '\u0000', '../..', '💥'),
  fc.integer({ min: 1000, max: 20000 }).map((n) => 'x'.repeat(n)),
);

export type MutationOp = 'replace' | 'remove' | 'add';

/**
 * `tree` with one change at the `pick`-th node: replaced by `value`, removed, or (on
 * an object) given a new key; `path` is where the change happened.
 */
export function mutate(tree: Json, pick: number, value: Json, op: MutationOp, key: string): { conf: Json; path: (string | number)[] } {
  const paths = pathsOf(tree);
  const path = paths[pick % paths.length]!;
  const k = key === '' ? 'x' : key;
  if (op === 'add') {
    const target = path.reduce<Json | undefined>((v, p) => (v as Record<string | number, Json> | undefined)?.[p], tree);
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
      return { conf: setAt(tree, [...path, k], value) ?? {}, path: [...path, k] };
    }
  }
  return { conf: setAt(tree, path, op === 'remove' ? undefined : value) ?? {}, path };
}

export const mutationOp = fc.constantFrom<MutationOp>('replace', 'remove', 'add');
