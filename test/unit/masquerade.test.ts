// The masquerade table without a kernel: the prefixes that go into its sets, the nft
// script, how a listed table compares with the desired one (against what nft 1.0.6
// really prints, fixtures/nft-1.0.6-strait-table.json), and what applyMasquerade
// writes for each state of the table, through a recorded stand-in for nft.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StraitError } from '../../src/errors.js';
import { applyMasquerade, nftCommand, type Nft } from '../../src/agent/masquerade.js';
import { desiredContent, listedContent, masqueradeSets, prefixSet, renderDelete, renderTable } from '../../src/agent/masquerade-table.js';
import { thrown } from '../helpers/thrown.js';

const LISTED = readFileSync(new URL('fixtures/nft-1.0.6-strait-table.json', import.meta.url), 'utf8');
// The configuration the fixture's table was made from (renderTable of it, applied by nft 1.0.6).
const POD = ['198.18.101.0/24', 'fd5a:1ab:1::/64'];
const CLUSTER = ['198.18.102.0/24', 'fd5a:1ab:2::/64'];

describe('prefixSet', () => {
  it('canonicalizes, sorts per family and keeps no prefix inside another', () => {
    const s = prefixSet(['10.1.2.3/16', ' 198.18.0.0/15', '198.18.101.0/24', 'FD5A:0:0::1/64', '10.1.0.0/16', '0.0.0.0/0', '10.0.0.0/8', 'fd5a::/48'], 'x');
    expect(s[4]).toEqual(['0.0.0.0/0']);
    expect(s[6]).toEqual(['fd5a::/48']);
    expect(prefixSet(['10.2.0.1/32', '10.1.0.0/16', '10.0.0.128/25', '10.0.0.0/25', 'fd5a:2::/64', 'fd5a:1::/64'], 'x')).toEqual({
      4: ['10.0.0.0/25', '10.0.0.128/25', '10.1.0.0/16', '10.2.0.1/32'],
      6: ['fd5a:1::/64', 'fd5a:2::/64'],
    });
  });

  it('refuses what is no CIDR with E_CONFIG, naming it', () => {
    for (const bad of ['198.18.101.0', '198.18.101.0/33', 'fd5a::/129', 'pods', '']) {
      const e = thrown(() => prefixSet([bad], 'pod CIDR'));
      expect(e.code).toBe('E_CONFIG');
      expect(e.message).toBe(`masquerade: pod CIDR "${bad}" is not a CIDR`);
    }
  });

  it('counts this node\'s pod CIDRs among the cluster\'s', () => {
    expect(masqueradeSets(['198.18.101.0/24'], ['198.18.102.0/24']).cluster[4]).toEqual(['198.18.101.0/24', '198.18.102.0/24']);
  });
});

describe('the nft script', () => {
  it('replaces the table in one transaction: add, delete, define, naming no other table', () => {
    const script = renderTable(masqueradeSets(POD, CLUSTER));
    expect(script.split('\n').slice(0, 3)).toEqual(['table inet strait', 'delete table inet strait', 'table inet strait {']);
    expect(script.match(/^\S.*$/gm)).toEqual(['table inet strait', 'delete table inet strait', 'table inet strait {', '}']);
    expect(script).toContain('type nat hook postrouting priority srcnat; policy accept;');
    expect(script).toContain('ip saddr @node_pods_v4 ip daddr != @cluster_pods_v4 masquerade');
    expect(script).toContain('ip6 saddr @node_pods_v6 ip6 daddr != @cluster_pods_v6 masquerade');
    expect(script).toContain('elements = { 198.18.101.0/24, 198.18.102.0/24 }');
    expect(renderDelete()).toBe('table inet strait\ndelete table inet strait\n');
  });

  it('leaves an empty set without elements (nft refuses "elements = { }")', () => {
    const script = renderTable(masqueradeSets(['198.18.101.0/24'], []));
    expect(script).not.toContain('{  }');
    expect(script).toMatch(/set node_pods_v6 \{\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\}/);
  });
});

describe('comparing the listed table with the desired one', () => {
  const desired = desiredContent(masqueradeSets(POD, CLUSTER));
  const edited = (edit: (doc: { nftables: Record<string, Record<string, unknown>>[] }) => void) => {
    const doc = JSON.parse(LISTED) as { nftables: Record<string, Record<string, unknown>>[] };
    edit(doc);
    return listedContent(JSON.stringify(doc));
  };

  it('finds the table nft made from renderTable equal to the desired one, handles aside', () => {
    expect(listedContent(LISTED)).toEqual(desired);
  });

  it('finds it different after any change to the table', () => {
    const changes: [string, (doc: { nftables: Record<string, Record<string, unknown>>[] }) => void][] = [
      ['an element gone', (d) => { (d.nftables[3]!.set!.elem as unknown[]).pop(); }],
      ['a rule gone', (d) => { d.nftables.pop(); }],
      ['a rule more', (d) => { d.nftables.push({ rule: { chain: 'postrouting', expr: [{ accept: null }] } }); }],
      ['the chain\'s policy', (d) => { d.nftables[6]!.chain!.policy = 'drop'; }],
      ['a dormant table', (d) => { d.nftables[1]!.table!.flags = ['dormant']; }],
      ['a map more', (d) => { d.nftables.push({ map: { name: 'm', type: 'ipv4_addr', map: 'verdict' } }); }],
    ];
    for (const [what, change] of changes) expect(edited(change), what).not.toEqual(desired);
  });

  it('reads a /32 listed as a bare address as that prefix', () => {
    const listed = edited((d) => { d.nftables[3]!.set!.elem = ['198.18.102.7', { prefix: { addr: '198.18.101.0', len: 24 } }]; });
    expect(listed.sets.cluster_pods_v4).toEqual({ type: 'ipv4_addr', flags: ['interval'], elem: ['198.18.101.0/24', '198.18.102.7/32'] });
  });
});

/** A stand-in for nft: answers `list` from `table` (null: absent), records every `-f` script. */
function fakeNft(table: string | null, fail?: string) {
  const scripts: string[] = [];
  const nft: Nft = (args, input) => {
    if (fail !== undefined && args[0] === '-f') return Promise.reject(new StraitError('E_NFTABLES', fail));
    if (args[0] === '-f') {
      scripts.push(input ?? '');
      return Promise.resolve('');
    }
    if (args.join(' ') === '-j list tables inet') {
      const tables = [{ table: { family: 'inet', name: 'other', handle: 1 } }, ...(table === null ? [] : [{ table: { family: 'inet', name: 'strait', handle: 2 } }])];
      return Promise.resolve(JSON.stringify({ nftables: tables }));
    }
    if (args.join(' ') === '-j list table inet strait' && table !== null) return Promise.resolve(table);
    return Promise.reject(new Error(`unexpected nft ${args.join(' ')}`));
  };
  return { nft, scripts };
}

describe('applyMasquerade', () => {
  const cfg = { podCidrs: POD, clusterCidrs: CLUSTER, enabled: true };

  it('creates an absent table, adopts an equal one without writing, replaces a different one', async () => {
    const absent = fakeNft(null);
    expect(await applyMasquerade(cfg, absent.nft)).toBe('created');
    expect(absent.scripts).toEqual([renderTable(masqueradeSets(POD, CLUSTER))]);

    const same = fakeNft(LISTED);
    expect(await applyMasquerade(cfg, same.nft)).toBe('unchanged');
    expect(same.scripts).toEqual([]);

    const other = fakeNft(LISTED);
    const grown = { ...cfg, clusterCidrs: [...CLUSTER, '198.18.103.0/24'] };
    expect(await applyMasquerade(grown, other.nft)).toBe('replaced');
    expect(other.scripts).toEqual([renderTable(masqueradeSets(POD, grown.clusterCidrs))]);
  });

  it('disabled: removes the table when there is one, writes nothing when there is none', async () => {
    const present = fakeNft(LISTED);
    expect(await applyMasquerade({ ...cfg, enabled: false }, present.nft)).toBe('removed');
    expect(present.scripts).toEqual([renderDelete()]);
    const absent = fakeNft(null);
    expect(await applyMasquerade({ ...cfg, enabled: false }, absent.nft)).toBe('absent');
    expect(absent.scripts).toEqual([]);
  });

  it('refuses a bad CIDR before running nft', async () => {
    const nft: Nft = () => Promise.reject(new Error('nft must not run'));
    await expect(applyMasquerade({ ...cfg, podCidrs: ['198.18.101.0/99'] }, nft)).rejects.toMatchObject({ code: 'E_CONFIG' });
  });

  it('passes nft\'s failure on, and one failure does not stop the next apply', async () => {
    const failing = fakeNft(null, 'nft -f - failed: Error: Could not process rule: No such file or directory');
    await expect(applyMasquerade(cfg, failing.nft)).rejects.toMatchObject({ code: 'E_NFTABLES', message: expect.stringContaining('Could not process rule') as unknown });
    expect(await applyMasquerade(cfg, fakeNft(LISTED).nft)).toBe('unchanged');
  });

  it('turns JSON it cannot read into E_NFTABLES', async () => {
    const garbled: Nft = () => Promise.resolve('{"nftables": 3');
    await expect(applyMasquerade(cfg, garbled)).rejects.toMatchObject({ code: 'E_NFTABLES', message: expect.stringMatching(/^nft printed JSON strait cannot read/) as unknown });
  });

  it('runs applies one at a time, in call order', async () => {
    const log: string[] = [];
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow: Nft = async (args) => {
      log.push(`slow ${args.join(' ')}`);
      await gate;
      return JSON.stringify({ nftables: [] });
    };
    const quick: Nft = (args) => {
      log.push(`quick ${args.join(' ')}`);
      return Promise.resolve(JSON.stringify({ nftables: [] }));
    };
    const first = applyMasquerade({ ...cfg, enabled: false }, slow);
    const second = applyMasquerade({ ...cfg, enabled: false }, quick);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['slow -j list tables inet']);
    release();
    expect(await Promise.all([first, second])).toEqual(['absent', 'absent']);
    expect(log).toEqual(['slow -j list tables inet', 'quick -j list tables inet']);
  });
});

describe('nftCommand', () => {
  it('feeds stdin and resolves to stdout, with argv as given (no shell)', async () => {
    const echo = nftCommand([process.execPath, '-e', 'process.stdin.pipe(process.stdout)', '--']);
    expect(await echo(['-f', '-'], 'table inet strait; $(reboot)\n')).toBe('table inet strait; $(reboot)\n');
  });

  it('rejects with E_NFTABLES and nft\'s own message', async () => {
    const failing = nftCommand([process.execPath, '-e', 'process.stderr.write("Error: conflicting intervals specified\\n"); process.exit(1)', '--']);
    const e = await failing(['-f', '-'], 'x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StraitError);
    expect(e).toMatchObject({ code: 'E_NFTABLES', message: 'nft -f - failed: Error: conflicting intervals specified', details: 'exit 1' });
  });

  it('says which binary is missing', async () => {
    const missing = nftCommand(['/nonexistent/nft']);
    await expect(missing(['-j', 'list', 'tables'])).rejects.toMatchObject({
      code: 'E_NFTABLES',
      message: "nft -j list tables: /nonexistent/nft not found (install Debian's nftables)",
    });
  });
});
