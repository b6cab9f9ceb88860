// src/datapath/maps/ alone knows how strait's state is laid out in the maps: the
// EP_F_* bits, the policy slot and generation bit, the LPM prefix lengths. The policy
// compiler and the agent speak in their own terms (generation, isolated, ready) and
// the datapath writer translates. This holds the rest of src/ to that.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');
const filesOf = (dir: string): string[] =>
  readdirSync(join(SRC, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));

const ENCODING = /\b(EP_F_[A-Z_]+|POLICY_SLOT_GEN|POLICY_PREFIX_[A-Z_]+|policySlot|policyPrefixLen)\b/;

describe('map encoding in one place', () => {
  it('src/policy imports nothing from src/datapath', () => {
    const offenders = filesOf('policy').filter((f) => readFileSync(join(SRC, f), 'utf8').includes("from '../datapath/"));
    expect(offenders).toEqual([]);
  });

  it('src/policy and src/agent name no flag bit, slot or prefix length of the maps', () => {
    const offenders = [...filesOf('policy'), ...filesOf('agent')].flatMap((f) =>
      readFileSync(join(SRC, f), 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line) && ENCODING.test(line))
        .map((line) => `${f}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });
});
