import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  listEndpointRecords,
  liveEndpointRecords,
  readEndpointRecord,
  reclaimOtherBootRecords,
  reclaimOtherBootRecordsOnce,
  removeEndpointRecord,
  writeEndpointRecord,
  type EndpointRecord,
} from '../../src/state/endpoint-record.js';

const root = mkdtempSync(join(tmpdir(), 'strait-records-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const stateDir = () => join(root, `s${n++}`);

const rec = (containerId: string, ifname: string, more: Partial<EndpointRecord> = {}): EndpointRecord => ({
  network: 'net',
  containerId,
  ifname,
  bootId: 'boot-1',
  netns: '/run/netns/x',
  hostVeth: `st-${containerId}`,
  ifindex: 7,
  addresses: ['198.18.0.2'],
  podMac: '02:00:00:00:00:01',
  k8s: {},
  createdAt: '2024-05-01T10:00:00.000Z',
  ...more,
});

describe('endpoint records', () => {
  it('keeps a.b/c and a/b.c apart', () => {
    const dir = stateDir();
    writeEndpointRecord(dir, rec('a.b', 'c', { ifindex: 1 }));
    writeEndpointRecord(dir, rec('a', 'b.c', { ifindex: 2 }));
    writeEndpointRecord(dir, rec('a', 'b%2Ec', { ifindex: 3 }));
    expect(listEndpointRecords(dir).map((r) => r.ifindex).sort()).toEqual([1, 2, 3]);
    expect(readEndpointRecord(dir, { network: 'net', containerId: 'a.b', ifname: 'c' })?.ifindex).toBe(1);
    expect(readEndpointRecord(dir, { network: 'net', containerId: 'a', ifname: 'b.c' })?.ifindex).toBe(2);
    removeEndpointRecord(dir, { network: 'net', containerId: 'a', ifname: 'b.c' });
    expect(listEndpointRecords(dir).map((r) => r.ifindex).sort()).toEqual([1, 3]);
  });

  it('names a record whose escaped name would pass 255 bytes by a hash', () => {
    const dir = stateDir();
    const long = 'a.'.repeat(100);
    writeEndpointRecord(dir, rec(long, 'eth0'));
    const longest = 'b'.repeat(255 - '.eth0.json'.length);
    writeEndpointRecord(dir, rec(longest, 'eth0'));
    expect(readEndpointRecord(dir, { network: 'net', containerId: longest, ifname: 'eth0' })?.containerId).toBe(longest);
    rmSync(join(dir, 'endpoints', 'net', `${longest}.eth0.json`));
    expect(readdirSync(join(dir, 'endpoints', 'net'))).toEqual([expect.stringMatching(/^[0-9a-f]{64}\.json$/)]);
    expect(readEndpointRecord(dir, { network: 'net', containerId: long, ifname: 'eth0' })?.containerId).toBe(long);
  });

  it('reads and removes a record under the old name, but only its own', () => {
    const dir = stateDir();
    mkdirSync(join(dir, 'endpoints', 'net'), { recursive: true });
    // The old scheme wrote a.b/c as a.b.c.json; a/b.c would have had the same name.
    writeFileSync(join(dir, 'endpoints', 'net', 'a.b.c.json'), JSON.stringify(rec('a.b', 'c')));
    expect(readEndpointRecord(dir, { network: 'net', containerId: 'a', ifname: 'b.c' })).toBeNull();
    removeEndpointRecord(dir, { network: 'net', containerId: 'a', ifname: 'b.c' });
    expect(readdirSync(join(dir, 'endpoints', 'net'))).toEqual(['a.b.c.json']);
    expect(readEndpointRecord(dir, { network: 'net', containerId: 'a.b', ifname: 'c' })?.containerId).toBe('a.b');
    removeEndpointRecord(dir, { network: 'net', containerId: 'a.b', ifname: 'c' });
    expect(readdirSync(join(dir, 'endpoints', 'net'))).toEqual([]);
  });

  it('offers the agent only records of this boot whose ifindex is a live link of the same name', () => {
    const dir = stateDir();
    writeEndpointRecord(dir, rec('live', 'eth0', { ifindex: 4, hostVeth: 'st-live' }));
    writeEndpointRecord(dir, rec('unstamped', 'eth0', { ifindex: 5, hostVeth: 'st-unstamped', bootId: undefined }));
    writeEndpointRecord(dir, rec('oldboot', 'eth0', { ifindex: 6, hostVeth: 'st-oldboot', bootId: 'boot-0' }));
    writeEndpointRecord(dir, rec('reused', 'eth0', { ifindex: 7, hostVeth: 'st-gone' }));
    const links = new Map([[4, 'st-live'], [5, 'st-unstamped'], [6, 'st-oldboot'], [7, 'st-newpod']]);
    expect(liveEndpointRecords(dir, links, 'boot-1').map((r) => r.containerId).sort()).toEqual(['live', 'unstamped']);
  });

  it('an ADD in a new boot reclaims the records of earlier boots, not unstamped ones', () => {
    const dir = stateDir();
    writeEndpointRecord(dir, rec('old', 'eth0', { bootId: 'boot-0' }));
    writeEndpointRecord(dir, rec('now', 'eth0'));
    writeEndpointRecord(dir, rec('unstamped', 'eth0', { bootId: undefined }));
    expect(reclaimOtherBootRecords(dir, 'boot-1').map((r) => r.containerId)).toEqual(['old']);
    expect(listEndpointRecords(dir).map((r) => r.containerId).sort()).toEqual(['now', 'unstamped']);
  });

  it('ADD scans for earlier boots once per boot; a new boot scans again', () => {
    const dir = stateDir();
    writeEndpointRecord(dir, rec('old', 'eth0', { bootId: 'boot-0' }));
    expect(reclaimOtherBootRecordsOnce(dir, 'boot-1').map((r) => r.containerId)).toEqual(['old']);
    // Planted after this boot's scan (which no earlier boot can do): not looked for again.
    writeEndpointRecord(dir, rec('planted', 'eth0', { bootId: 'boot-0' }));
    expect(reclaimOtherBootRecordsOnce(dir, 'boot-1')).toEqual([]);
    expect(reclaimOtherBootRecordsOnce(dir, 'boot-2').map((r) => r.containerId)).toEqual(['planted']);
    expect(listEndpointRecords(dir)).toEqual([]);
  });

  it('treats a record that fails validation as unreadable, and says which file and why in the log', () => {
    const dir = stateDir();
    const net = join(dir, 'endpoints', 'net');
    writeEndpointRecord(dir, rec('good', 'eth0', { ifindex: 3 }));
    const bad: [string, unknown][] = [
      ['badindex', { ...rec('badindex', 'eth0'), ifindex: '7' }],
      ['noveth', (({ hostVeth: _h, ...r }) => r)(rec('noveth', 'eth0'))],
      ['addrs', { ...rec('addrs', 'eth0'), addresses: '198.18.0.2' }],
      ['k8s', { ...rec('k8s', 'eth0'), k8s: { name: 7 } }],
      ['boot', { ...rec('boot', 'eth0'), bootId: 1 }],
      ['array', [rec('array', 'eth0')]],
    ];
    for (const [id, r] of bad) writeFileSync(join(net, `${id}.eth0.json`), JSON.stringify(r));
    writeFileSync(join(net, 'torn.eth0.json'), '{"network":"net","contai');
    const warnings: { file: string; problem: string }[] = [];
    const log = { warn: (o: { file: string; problem: string }) => warnings.push(o) };

    expect(listEndpointRecords(dir, log).map((r) => r.containerId)).toEqual(['good']);
    expect(warnings.map((w) => w.file.split('/').at(-1)).sort()).toEqual([...bad.map(([id]) => `${id}.eth0.json`), 'torn.eth0.json'].sort());
    expect(warnings.find((w) => w.file.endsWith('badindex.eth0.json'))?.problem).toMatch(/ifindex/);
    expect(warnings.find((w) => w.file.endsWith('noveth.eth0.json'))?.problem).toMatch(/hostVeth/);

    warnings.length = 0;
    expect(readEndpointRecord(dir, { network: 'net', containerId: 'badindex', ifname: 'eth0' }, log)).toBeNull();
    expect(warnings).toHaveLength(1);
    // No record at all is not a problem worth a line.
    expect(readEndpointRecord(dir, { network: 'net', containerId: 'none', ifname: 'eth0' }, log)).toBeNull();
    expect(warnings).toHaveLength(1);
  });

  it('reads back exactly what it wrote, dropping fields it does not know', () => {
    const dir = stateDir();
    const r = rec('full', 'eth0', { k8s: { namespace: 'ns', name: 'p', uid: 'u', infraContainerId: 'full' } });
    mkdirSync(join(dir, 'endpoints', 'net'), { recursive: true });
    writeFileSync(join(dir, 'endpoints', 'net', 'full.eth0.json'), JSON.stringify({ ...r, future: 1 }));
    expect(readEndpointRecord(dir, r)).toEqual(r);
  });
});
