// The error model (src/errors.ts) and its one mapping to CNI codes (src/cni/errors.ts).
import { describe, expect, it } from 'vitest';
import { CNI_CODE_OF, CniCode, cniCodeOf, DelegateError } from '../../src/cni/errors.js';
import { errorReply } from '../../src/cni/output.js';
import {
  ErrorCodes,
  errnoOf,
  errors,
  fromAddon,
  InvalidArgError,
  StraitError,
  syscall,
  SyscallError,
  UsageError,
} from '../../src/errors.js';

const addonError = (syscall: string, code: string, errno = 17) =>
  Object.assign(new Error(`${syscall} veth0: File exists`), { code, errno, syscall });

describe('the CNI mapping table', () => {
  it('maps every stable code to exactly one CNI code, and knows no other code', () => {
    expect(new Set(ErrorCodes).size).toBe(ErrorCodes.length);
    expect(Object.keys(CNI_CODE_OF).sort()).toEqual([...ErrorCodes].sort());
    const cniCodes = new Set<number>(Object.values(CniCode));
    for (const code of ErrorCodes) {
      expect(cniCodes.has(CNI_CODE_OF[code]), code).toBe(true);
      expect(cniCodeOf(new StraitError(code, 'x')), code).toBe(CNI_CODE_OF[code]);
    }
  });

  it('keeps the numbers the README promises', () => {
    const is = (code: (typeof ErrorCodes)[number], n: number) => expect(CNI_CODE_OF[code], code).toBe(n);
    is('E_INCOMPATIBLE_VERSION', 1);
    is('E_UNSUPPORTED_FIELD', 2);
    is('E_ENV', 4);
    is('E_IO', 5);
    is('E_DECODE', 6);
    is('E_CONFIG', 7);
    is('E_AGENT_NOT_READY', 11);
    is('E_AGENT_NOT_RUNNING', 11);
    for (const c of ['E_STORE_UNUSABLE', 'E_STATUS_POOL_EXHAUSTED', 'E_STATUS_DATAPATH_FULL', 'E_AGENT_DOWN'] as const) is(c, 50);
    is('E_INTERNAL', 100);
    is('E_POOL_EXHAUSTED', 101);
    is('E_ADDRESS_UNAVAILABLE', 102);
    is('E_INTERFACE_EXISTS', 103);
    is('E_NETNS', 104);
    is('E_NETLINK', 105);
    is('E_DELEGATE', 106);
    is('E_CHECK_FAILED', 107);
    is('E_DATAPATH_FULL', 108);
  });

  it('makes anything that is not a StraitError 100, as before', () => {
    expect(cniCodeOf(new Error('boom'))).toBe(100);
    expect(cniCodeOf(new TypeError('boom'))).toBe(100);
    expect(cniCodeOf(new InvalidArgError('ifname must be a string'))).toBe(100);
    expect(cniCodeOf('weird')).toBe(100);
    expect(cniCodeOf(undefined)).toBe(100);
  });

  it("passes a delegate's code through, and 106 stays the code of a delegate that printed none", () => {
    expect(cniCodeOf(new DelegateError(1, 'host-local: old', ''))).toBe(1);
    expect(cniCodeOf(new DelegateError(CniCode.Delegate, 'host-local: exit status 2', ''))).toBe(106);
  });

  it('keeps the kinds that are subclasses under their code', () => {
    expect(cniCodeOf(new UsageError('--source is required'))).toBe(100);
    expect(new UsageError('x')).toBeInstanceOf(StraitError);
    expect(cniCodeOf(errors.interfaceExists('eth0 already exists'))).toBe(103);
  });
});

describe('native errors', () => {
  it('become E_NETLINK for netlink operations, keeping errno and operation', () => {
    for (const op of ['rtnl_link_add', 'rtnl_route_add', 'nl_connect', 'bpf_tc_attach', 'bpf_xdp_attach']) {
      const e = fromAddon(addonError(op, 'EPERM', 1));
      expect(e, op).toBeInstanceOf(SyscallError);
      expect(e, op).toMatchObject({ code: 'E_NETLINK', errnoName: 'EPERM', errno: 1, syscall: op });
      expect(cniCodeOf(e), op).toBe(105);
    }
  });

  it('become E_SYSCALL (100) for the others, keeping errno and operation', () => {
    for (const op of ['bpf_map_update_elem', 'bpf_obj_pin', 'setns', 'open', 'flock']) {
      const e = fromAddon(addonError(op, 'ENOENT', 2));
      expect(e, op).toMatchObject({ code: 'E_SYSCALL', errnoName: 'ENOENT', errno: 2, syscall: op });
      expect(cniCodeOf(e), op).toBe(100);
    }
  });

  it('print what they printed before they were wrapped', () => {
    const raw = addonError('rtnl_link_add', 'EPERM', 1);
    const wrapped = fromAddon(raw);
    expect(errorReply(wrapped, '1.1.0')).toEqual({
      cniVersion: '1.1.0',
      code: 105,
      msg: 'netlink: rtnl_link_add veth0: File exists',
      details: 'rtnl_link_add failed with EPERM',
    });
    expect(errorReply(raw, '1.1.0')).toEqual(errorReply(wrapped, '1.1.0'));
    expect((wrapped as SyscallError).cause).toBe(raw);
    expect((wrapped as SyscallError).nativeMessage).toBe(raw.message);
  });

  it('leave everything that is not an addon error alone', () => {
    const own = errors.netns('no such netns');
    expect(fromAddon(own)).toBe(own);
    const bad = new InvalidArgError('fd must be a non-negative integer');
    expect(fromAddon(bad)).toBe(bad);
    // the addon's own argument check: a TypeError with ERR_INVALID_ARG, a bug, not a syscall
    const nativeBad = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG' });
    expect(fromAddon(nativeBad)).toBe(nativeBad);
    expect(fromAddon('x')).toBe('x');
  });

  it('syscall() rethrows in the model and passes results through', () => {
    expect(syscall(() => 7)).toBe(7);
    let thrown: unknown;
    try {
      syscall(() => {
        throw addonError('rtnl_route_add', 'EEXIST');
      });
    } catch (e) {
      thrown = e;
    }
    expect(errnoOf(thrown)).toBe('EEXIST');
    expect(thrown).toMatchObject({ code: 'E_NETLINK', syscall: 'rtnl_route_add' });
    expect(errnoOf(new Error('plain'))).toBeUndefined();
  });
});
