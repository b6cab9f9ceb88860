// The part of doctor's rules that no attachment owns: files and pins a build, an
// upgrade or a killed write left behind (kinds pin-incomplete-programs,
// pin-stale-programs, pin-stale-map, tmp-orphan; scan.ts lists them all). Pure.
import { MapName } from '../datapath/maps/names.js';
import type { Observed, Problem } from './types.js';

export function leftovers(o: Observed): Problem[] {
  const out: Problem[] = [];
  const missingOf = (p: Observed['programs'][number]): string[] => [
    ...new Set([...(p.fromPod === null ? ['from_pod'] : []), ...(p.toPod === null ? ['to_pod'] : []), ...(p.missing ?? [])]),
  ];
  const complete = o.programs.filter((p) => missingOf(p).length === 0);
  for (const p of o.programs) {
    if (complete.includes(p)) continue;
    // What a datapath install killed between two pins leaves: the loader finds the build
    // missing, tries to pin it again, and fails on the program that is there (EEXIST).
    out.push({
      kind: 'pin-incomplete-programs',
      object: { buildId: p.buildId, missing: missingOf(p) },
      message: `build ${p.buildId} is pinned only in part, so loading it again fails`,
      fix: [{ op: 'remove-pin', name: `progs-${p.buildId}` }],
    });
  }
  // Only once the current build is pinned whole: until then the old one is what runs (reload).
  if (complete.some((p) => p.buildId === o.currentBuild)) {
    for (const p of complete) {
      if (p.buildId === o.currentBuild) continue;
      // A veth still running it gets tc-stale, and that repair runs before this one.
      out.push({
        kind: 'pin-stale-programs',
        object: { buildId: p.buildId },
        message: `programs of build ${p.buildId} are pinned beside the current build ${o.currentBuild}`,
        fix: [{ op: 'remove-pin', name: `progs-${p.buildId}` }],
      });
    }
  }
  const current = new Map<string, string>(Object.values(MapName).map((n) => [n.replace(/_v\d+$/, ''), n]));
  for (const name of o.pins) {
    const base = /^(strait_.+)_v\d+$/.exec(name)?.[1];
    const now = base === undefined ? undefined : current.get(base);
    if (now === undefined || now === name) continue;
    out.push({
      kind: 'pin-stale-map',
      object: { name, current: now },
      message: `map ${name} is an older layout of ${now}; nothing current uses it`,
      fix: [{ op: 'remove-pin', name }],
    });
  }
  for (const path of o.deadTempFiles) {
    out.push({ kind: 'tmp-orphan', object: { path }, message: `${path} was left by a write whose process is gone`, fix: [{ op: 'remove-file', path }] });
  }
  return out;
}
