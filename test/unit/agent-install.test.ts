// The install step (src/agent/install.ts) against real temp directories: the binary
// and the conflist written whole (temp + rename), not rewritten when equal, other
// CNIs' configs left alone (or put aside and back with --cni-exclusive), and
// --uninstall leaving the directories exactly as they were.
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ASIDE_SUFFIX, DEFAULT_TEMPLATE, installBinary, installConflist, renderConflist, uninstall } from '../../src/agent/install.js';
import { RECORD_NAME, readRecord } from '../../src/agent/install-files.js';
import type { InstallFlags } from '../../src/agent/deploy-options.js';
import { UsageError } from '../../src/errors.js';
import { cleanupAll, tempDir } from '../helpers/sys.js';

afterAll(cleanupAll);

/** Every file under `dir`: name → content, mode, inode, mtime. */
function snapshot(dir: string): Record<string, { data: string; mode: number; ino: number; mtimeMs: number }> {
  const out: Record<string, { data: string; mode: number; ino: number; mtimeMs: number }> = {};
  for (const name of readdirSync(dir).sort()) {
    const st = statSync(join(dir, name));
    out[name] = { data: readFileSync(join(dir, name), 'utf8'), mode: st.mode, ino: st.ino, mtimeMs: st.mtimeMs };
  }
  return out;
}

function node() {
  const root = tempDir('install');
  const d = { bin: join(root, 'opt-cni-bin'), conf: join(root, 'etc-cni-net.d'), state: join(root, 'var-lib-strait'), shim: join(root, 'strait-build') };
  for (const p of [d.bin, d.conf, d.state]) mkdirSync(p);
  writeFileSync(d.shim, '#!/bin/sh\necho shim v1\n');
  const paths = { stateDir: d.state, bpfDir: '/sys/fs/bpf/strait', socketPath: '/run/strait/agent.sock' };
  const flags = (more: Partial<Omit<InstallFlags, 'confDir'>> = {}): InstallFlags & { confDir: string } => ({ binDir: d.bin, confDir: d.conf, confName: '10-strait.conflist', template: null, exclusive: false, ...more });
  return { ...d, paths, flags };
}

describe('renderConflist', () => {
  const paths = { stateDir: '/var/lib/strait', bpfDir: '/sys/fs/bpf/strait', socketPath: '/run/strait/agent.sock' };

  it('names the agent socket, state dir and bpf dir in the strait plugin, the rest as the template says', () => {
    const template = JSON.stringify({ cniVersion: '1.0.0', name: 'k', plugins: [{ type: 'portmap' }, { type: 'strait', mtu: 1450, agentSocket: '/elsewhere.sock' }] });
    expect(JSON.parse(renderConflist(template, paths))).toEqual({
      cniVersion: '1.0.0',
      name: 'k',
      plugins: [{ type: 'portmap' }, { type: 'strait', mtu: 1450, agentSocket: '/run/strait/agent.sock', stateDir: '/var/lib/strait', bpfDir: '/sys/fs/bpf/strait' }],
    });
    expect(JSON.parse(renderConflist(null, paths))).toMatchObject({ ...DEFAULT_TEMPLATE, plugins: [{ type: 'strait', agentSocket: '/run/strait/agent.sock' }, { type: 'portmap' }] });
  });

  it('refuses a template that is not a conflist with a strait plugin, naming it', () => {
    expect(() => renderConflist('{', paths, '/t.json')).toThrow(/^\/t\.json is not JSON/);
    expect(() => renderConflist('{"plugins":[]}', paths, '/t.json')).toThrow(/needs a "name" and a "plugins" list/);
    expect(() => renderConflist('{"name":"x","plugins":[{"type":"bridge"}]}', paths, '/t.json')).toThrow(UsageError);
  });
});

describe('install step', () => {
  it('writes the binary and the conflist whole (temp file, rename), and a re-run with equal content touches nothing', () => {
    const n = node();
    expect(installBinary(n.bin, n.state, n.shim)).toBe(true);
    const r = installConflist(n.flags(), null, n.paths);
    expect(r).toEqual({ path: join(n.conf, '10-strait.conflist'), written: true, movedAside: [] });
    expect(statSync(join(n.bin, 'strait')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(n.bin, 'strait'), 'utf8')).toBe('#!/bin/sh\necho shim v1\n');
    expect(JSON.parse(readFileSync(r.path, 'utf8'))).toEqual(JSON.parse(renderConflist(null, n.paths)));
    // no temp file left behind anywhere
    expect(readdirSync(n.bin)).toEqual(['strait']);
    expect(readdirSync(n.conf)).toEqual(['10-strait.conflist']);

    const before = { bin: snapshot(n.bin), conf: snapshot(n.conf), state: snapshot(n.state) };
    expect(installBinary(n.bin, n.state, n.shim)).toBe(false);
    expect(installConflist(n.flags(), null, n.paths).written).toBe(false);
    expect({ bin: snapshot(n.bin), conf: snapshot(n.conf), state: snapshot(n.state) }).toEqual(before);

    // An upgrade: a new file replaces the old by rename (a new inode; a runtime
    // exec'ing the old one meanwhile keeps running it whole).
    writeFileSync(n.shim, '#!/bin/sh\necho shim v2\n');
    expect(installBinary(n.bin, n.state, n.shim)).toBe(true);
    const after = statSync(join(n.bin, 'strait'));
    expect(after.ino).not.toBe(before.bin.strait!.ino);
    expect(readFileSync(join(n.bin, 'strait'), 'utf8')).toContain('v2');
    expect(readdirSync(n.bin)).toEqual(['strait']);
  });

  it('a failed write leaves the old file and no temp file', () => {
    const n = node();
    installBinary(n.bin, n.state, n.shim);
    writeFileSync(n.shim, 'v2');
    chmodSync(n.bin, 0o500);
    try {
      if (process.getuid?.() === 0) {
        // root ignores directory modes: make the temp name a directory instead
        mkdirSync(join(n.bin, `.strait.strait-tmp-${process.pid}`));
      }
      expect(() => installBinary(n.bin, n.state, n.shim)).toThrow(process.getuid?.() === 0 ? /EISDIR/ : /EACCES/);
    } finally {
      chmodSync(n.bin, 0o755);
    }
    expect(readFileSync(join(n.bin, 'strait'), 'utf8')).toContain('shim v1');
    expect(readdirSync(n.bin).filter((f) => f !== `.strait.strait-tmp-${process.pid}`)).toEqual(['strait']);
  });

  it("leaves another CNI's conflist untouched, and --uninstall leaves the dirs as they were", () => {
    const n = node();
    writeFileSync(join(n.conf, '05-other.conflist'), '{"name":"other"}');
    writeFileSync(join(n.conf, '99-loopback.conf'), '{"name":"lo"}');
    writeFileSync(join(n.bin, 'portmap'), 'not ours');
    const before = { bin: snapshot(n.bin), conf: snapshot(n.conf), state: snapshot(n.state) };
    installBinary(n.bin, n.state, n.shim);
    installConflist(n.flags(), null, n.paths);
    const conf = snapshot(n.conf);
    expect(Object.keys(conf)).toEqual(['05-other.conflist', '10-strait.conflist', '99-loopback.conf']);
    expect(conf['05-other.conflist']).toEqual(before.conf['05-other.conflist']);
    expect(conf['99-loopback.conf']).toEqual(before.conf['99-loopback.conf']);
    expect(readRecord(n.state).files.map((f) => f.path)).toEqual([join(n.bin, 'strait'), join(n.conf, '10-strait.conflist')]);

    expect(uninstall(n.state)).toEqual({ removed: [join(n.bin, 'strait'), join(n.conf, '10-strait.conflist')], restored: [], left: [] });
    expect({ bin: snapshot(n.bin), conf: snapshot(n.conf), state: snapshot(n.state) }).toEqual(before);
    // nothing recorded any more: a second uninstall does nothing
    expect(uninstall(n.state)).toEqual({ removed: [], restored: [], left: [] });
  });

  it('--cni-exclusive moves other configs aside (libcni skips the suffix) and --uninstall puts them back', () => {
    const n = node();
    writeFileSync(join(n.conf, '05-other.conflist'), '{"name":"other"}');
    writeFileSync(join(n.conf, '20-x.json'), '{"name":"x"}');
    writeFileSync(join(n.conf, 'README'), 'not a config');
    const before = snapshot(n.conf);
    const r = installConflist(n.flags({ exclusive: true }), null, n.paths);
    expect(r.movedAside).toEqual(['05-other.conflist', '20-x.json']);
    expect(readdirSync(n.conf).sort()).toEqual(['05-other.conflist' + ASIDE_SUFFIX, '10-strait.conflist', '20-x.json' + ASIDE_SUFFIX, 'README']);
    // a restart finds nothing more to move
    expect(installConflist(n.flags({ exclusive: true }), null, n.paths)).toMatchObject({ written: false, movedAside: [] });
    const out = uninstall(n.state);
    expect(out.restored).toEqual([join(n.conf, '05-other.conflist'), join(n.conf, '20-x.json')]);
    const after = snapshot(n.conf);
    // same names and contents; the inode of a renamed file is kept, so all equal
    expect(after).toEqual(before);
  });

  it("a file changed since strait wrote it, or one that was already there, is not strait's to remove", () => {
    const n = node();
    // a strait binary someone put there already, byte-equal: not written, not recorded
    writeFileSync(join(n.bin, 'strait'), readFileSync(n.shim));
    expect(installBinary(n.bin, n.state, n.shim)).toBe(false);
    const r = installConflist(n.flags(), null, n.paths);
    writeFileSync(r.path, '{"edited":"by hand"}');
    expect(uninstall(n.state)).toEqual({ removed: [], restored: [], left: [r.path] });
    expect(readFileSync(r.path, 'utf8')).toBe('{"edited":"by hand"}');
    expect(readdirSync(n.bin)).toEqual(['strait']);
    expect(readdirSync(n.state)).not.toContain(RECORD_NAME);
  });
});
