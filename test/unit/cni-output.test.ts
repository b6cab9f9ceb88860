import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errors, StraitError } from '../../src/errors.js';
import { DelegateError } from '../../src/cni/errors.js';
import { errorReply, writeJson } from '../../src/cni/output.js';

describe('errorReply', () => {
  it('uses the StraitError code, message and details', () => {
    expect(errorReply(errors.env('bad env', 'more words'), '0.4.0')).toEqual({ cniVersion: '0.4.0', code: 4, msg: 'bad env', details: 'more words' });
  });
  it('omits empty details', () => {
    const r = errorReply(errors.config('bad config'), '1.1.0');
    expect(r).toEqual({ cniVersion: '1.1.0', code: 7, msg: 'bad config' });
    expect('details' in r).toBe(false);
  });
  it('maps a plain Error to code 100', () => {
    expect(errorReply(new TypeError('boom'), '1.0.0')).toEqual({ cniVersion: '1.0.0', code: 100, msg: 'boom' });
  });
  it('maps a thrown non-Error to code 100', () => {
    expect(errorReply('weird', '1.1.0')).toEqual({ cniVersion: '1.1.0', code: 100, msg: 'weird' });
  });
  it('keeps our own codes', () => {
    expect(errorReply(new StraitError('E_AGENT_NOT_READY', 'later'), '1.1.0').code).toBe(11);
  });
  it("passes a delegate's code through", () => {
    expect(errorReply(new DelegateError(42, 'host-local: odd', 'why'), '1.1.0')).toEqual({ cniVersion: '1.1.0', code: 42, msg: 'host-local: odd', details: 'why' });
  });
  const nativeError = (syscall: string, code: string) =>
    Object.assign(new Error(`${syscall} x: failed`), { code, errno: 17, syscall });
  it('maps a failed netlink operation of the addon to 105, naming the operation and errno', () => {
    expect(errorReply(nativeError('rtnl_route_add', 'EEXIST'), '1.1.0')).toEqual({
      cniVersion: '1.1.0',
      code: 105,
      msg: 'netlink: rtnl_route_add x: failed',
      details: 'rtnl_route_add failed with EEXIST',
    });
    expect(errorReply(nativeError('bpf_tc_attach', 'ENODEV'), '1.1.0').code).toBe(105);
  });
  it('leaves other addon failures at 100', () => {
    expect(errorReply(nativeError('bpf_map_update_elem', 'EPERM'), '1.1.0').code).toBe(100);
  });
});

describe('writeJson', () => {
  it('writes one JSON line, all of it, synchronously', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strait-out-'));
    try {
      const file = join(dir, 'out');
      const fd = openSync(file, 'w');
      const big = { cniVersion: '1.1.0', ips: Array.from({ length: 5000 }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}/32` })) };
      writeJson(big, fd);
      closeSync(fd); // nothing pending: the content is there right after the call
      const text = readFileSync(file, 'utf8');
      expect(text.endsWith('}\n')).toBe(true);
      expect(text.split('\n')).toHaveLength(2);
      expect(JSON.parse(text)).toEqual(big);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
