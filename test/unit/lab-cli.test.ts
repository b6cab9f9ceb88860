// straitctl lab's --source flag, through the compiled bin/straitctl: usage errors come
// before the root check, so these run unprivileged too.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const straitctl = (args: string[]) => spawnSync(fileURLToPath(new URL('../../bin/straitctl', import.meta.url)), args, { encoding: 'utf8' });

describe('straitctl lab --source', () => {
  it('takes dir or kube, names the bad value, and is a flag of lab and lab up only', () => {
    const bad = straitctl(['lab', 'up', '--source', 'etcd']);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining('--source takes dir or kube, not "etcd"')]);
    expect(bad.stderr).toContain('lab up --nodes N --pods M [--routing native|vxlan] [--ipv4-only] [--source dir|kube]');
    for (const sub of ['status', 'down', 'bench']) {
      const r = straitctl(['lab', sub, '--source', 'kube']);
      expect([r.status, r.stderr], sub).toEqual([2, expect.stringContaining('--source is a flag of lab and lab up')]);
    }
  });
});
