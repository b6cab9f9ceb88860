// Connections by rule, as `straitctl policy` reports them. The datapath counts by
// rule id (strait_rule_counters_v1), but ids are numbered afresh from the policies'
// sorted names on every compile (numberRules), so adding a policy renumbers the ones
// after it. Once a plan has moved the policy entries to the new ids, an id whose
// rule changed hands its count to the rule it counted for (kept here, in memory)
// and its entry is deleted, so the id starts from zero for its new rule. Counts made
// under the old id between the flip and the deletion stay with the old rule.
// Across an agent restart nothing is carried: numbering is a function of the policy
// set, so ids only differ if policies changed while no agent ran.
import type { RuleOrigin } from '../policy/types.js';
import type { CounterMaps } from './counters.js';

const originKey = (o: RuleOrigin): string => `${o.policy}\n${o.direction}\n${o.index}`;

export interface RuleCounts {
  /** after a plan is written: `before` and `after` are the numbering the datapath had and has */
  renumbered(before: ReadonlyMap<number, RuleOrigin>, after: ReadonlyMap<number, RuleOrigin>): void;
  /** connections by the current ids of `rules` (the map's count plus what older ids counted) */
  connections(rules: ReadonlyMap<number, RuleOrigin>): Map<number, bigint>;
}

export function createRuleCounts(maps: CounterMaps): RuleCounts {
  const carried = new Map<string, bigint>();
  return {
    renumbered(before, after) {
      const moved = [...before].filter(([id, o]) => {
        const now = after.get(id);
        return now === undefined || originKey(now) !== originKey(o);
      });
      if (moved.length === 0) return;
      const counts = maps.ruleConnections();
      for (const [id, o] of moved) {
        const n = counts.get(id) ?? 0n;
        if (n > 0n) carried.set(originKey(o), (carried.get(originKey(o)) ?? 0n) + n);
      }
      maps.deleteRuleCounters(moved.map(([id]) => id));
      // A rule no policy has any more is reported nowhere: forget it.
      const live = new Set([...after.values()].map(originKey));
      for (const k of carried.keys()) if (!live.has(k)) carried.delete(k);
    },
    connections(rules) {
      const counts = maps.ruleConnections();
      const out = new Map<number, bigint>();
      for (const [id, o] of rules) out.set(id, (counts.get(id) ?? 0n) + (carried.get(originKey(o)) ?? 0n));
      return out;
    },
  };
}
