// FUZZ: Kubernetes manifests through the policy model's validation (parseObject) and
// the manifest parsing every source reads through (src/cluster/manifests.ts
// parseManifests), in-process. Properties: nothing but an ObjectError ever comes
// out of the model, and it names the broken field; a file never throws, every object in it is either parsed (exactly as on its own)
// or reported once with its document and item; damaged text is reported, not fatal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatManifestError, parseManifests } from '../../src/cluster/manifests.js';
import { ObjectError, parseObject, type ParsedObject } from '../../src/policy/model.js';
import { damagedText, fileText, k8sObject, layout } from './manifest-inputs.js';
import { hostileValue, mutate, mutationOp } from './mutate.js';
import { FUZZ_SEED } from './seed.js';

type Parsed = { ok: true; value: ParsedObject } | { ok: false; error: ObjectError };

function parse(raw: unknown): Parsed {
  try {
    return { ok: true, value: parseObject(raw) };
  } catch (e) {
    if (!(e instanceof ObjectError)) throw new Error(`not an ObjectError: ${String(e)}`, { cause: e });
    expect(e.reason.length).toBeGreaterThan(0);
    return { ok: false, error: e };
  }
}

/** The model's field syntax (`a.b[0].c[key]`) as the dotted path the mutation used. */
const dotted = (field: string): string => field.replace(/\[([^\]]*)\]/g, '.$1');

const mutated = fc
  .tuple(k8sObject, fc.nat(), hostileValue, mutationOp, fc.string({ maxLength: 8 }))
  .map(([obj, pick, value, op, key]) => ({ orig: obj, ...mutate(obj, pick, value, op, key) }));

const assertOpts = { seed: FUZZ_SEED, endOnFailure: true };

describe('fuzz: manifests, in-process', () => {
  it('generated objects reach the whole model (most parse)', () => {
    const sample = fc.sample(k8sObject, { numRuns: 500, seed: FUZZ_SEED });
    expect(sample.filter((o) => parse(o).ok).length).toBeGreaterThan(100);
  });

  it('one field broken: an ObjectError naming that field or its parent', () => {
    fc.assert(
      fc.property(mutated, ({ orig, conf, path }) => {
        const out = parse(conf);
        if (out.ok || path.length < 2 || !parse(orig).ok) return;
        // A field's own error, or its parent's (a peer that lost its only selector,
        // endPort below a changed port, values that an operator no longer allows).
        const at = path.map(String).join('.');
        const parent = path.slice(0, -1).map(String).join('.');
        const field = dotted(out.error.field);
        expect(at.startsWith(field) || field.startsWith(parent), `${at}: ${out.error.message}`).toBe(true);
      }),
      { ...assertOpts, numRuns: 20_000 },
    );
  });

  it('a file of objects: each one parsed as on its own, or reported once where it is', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(k8sObject, mutated.map((m) => m.conf)), { minLength: 1, maxLength: 5 }), layout, (objects, lay) => {
        const text = fileText(objects, lay);
        const { objects: parsed, errors } = parseManifests('f.yaml', text);
        expect(parsed.length + errors.length).toBe(objects.length);
        objects.forEach((o, i) => {
          const document = lay === 'list' ? 0 : i;
          const item = lay === 'list' ? i : null;
          // What each layout's text gives back: JSON has no NaN, undefined or -0.
          const alone = parse(lay === 'json' ? (JSON.parse(JSON.stringify(o)) as unknown) : o);
          const got = parsed.find((p) => p.document === document && p.item === item);
          const err = errors.find((e) => e.document === document && e.item === item);
          if (alone.ok) expect(got?.obj, `object ${i}: ${err ? formatManifestError(err) : ''}`).toEqual(alone.value);
          else {
            expect(err, `object ${i}`).toMatchObject({ file: 'f.yaml', message: alone.error.reason, field: alone.error.field === '' ? null : alone.error.field });
            expect(formatManifestError(err!)).toContain(alone.error.reason);
          }
        });
      }),
      { ...assertOpts, numRuns: 4_000 },
    );
  });

  it('damaged text (cut, bad YAML, aliases, tags): errors, never a throw', () => {
    const damaged = fc.tuple(fc.array(k8sObject, { minLength: 1, maxLength: 3 }), layout).chain(([objs, lay]) => damagedText(fileText(objs, lay)));
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: damaged }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) }), (text) => {
        const { objects, errors } = parseManifests('f.yaml', text);
        for (const e of errors) {
          expect(e.message.length).toBeGreaterThan(0);
          expect(Number.isInteger(e.document)).toBe(true);
          expect(formatManifestError(e)).toMatch(/^f\.yaml document \d+/);
        }
        for (const o of objects) expect(['Namespace', 'Pod', 'Node', 'NetworkPolicy']).toContain(o.obj.kind);
      }),
      { ...assertOpts, numRuns: 6_000 },
    );
  });
});
