// FUZZ: the CNI plugin's whole input (CNI_* environment, stdin) through the same
// functions bin/strait runs before its first effect (request.ts, then strait IPAM's
// config and allocation against an in-memory store, then the result conversion).
// Properties: never a crash (only StraitErrors come out), always a spec code for
// bad input, always a printable error object, and the message names what was wrong.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorReply } from '../../src/cni/output.js';
import { isStraitError, type StraitError } from '../../src/errors.js';
import { CniCode, cniCodeOf } from '../../src/cni/errors.js';
import { parseRequest, sniffVersion } from '../../src/cni/request.js';
import { fromAnyVersion, toVersion } from '../../src/cni/result.js';
import { withoutPrefix } from '../../src/ipam/addr.js';
import { parseIpamConfig } from '../../src/ipam/config.js';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemoryStore } from '../../src/ipam/memory-store.js';
import { cniEnv, mutatedConf, netConf, stdinOf } from './cni-inputs.js';
import { hostileValue } from './mutate.js';
import { FUZZ_SEED } from './seed.js';

/** Codes bad input may produce before any effect: the spec's, plus IPAM's own. */
const INPUT_CODES = new Set<number>([
  CniCode.IncompatibleVersion,
  CniCode.UnsupportedField,
  CniCode.InvalidEnvironment,
  CniCode.DecodeFailure,
  CniCode.InvalidNetworkConfig,
  CniCode.PoolExhausted, // a requested address outside every range, or none left
  CniCode.AddressUnavailable, // a requested address that is reserved
]);

type Outcome = { ok: true } | { ok: false; error: StraitError };

/** What bin/strait does with the input, up to (not including) its first effect. */
function callInProcess(env: Record<string, string>, stdin: Buffer): Outcome {
  try {
    const req = parseRequest(env, stdin);
    if (req.kind === 'version') return { ok: true };
    const { conf } = req;
    if (conf.prevResult !== null) fromAnyVersion(toVersion(conf.prevResult, conf.cniVersion)); // cmd-add's output path
    if (conf.ipam.type !== 'strait') return { ok: true };
    const cfg = parseIpamConfig(conf.ipam.raw);
    if (req.env.command === 'ADD') {
      const requested = [...conf.runtime.ips, ...req.env.args.ips].map(withoutPrefix);
      new Ipam(cfg.sets, new MemoryStore()).allocate({ containerId: req.env.containerId ?? '', ifname: req.env.ifname ?? '' }, requested);
    }
    return { ok: true };
  } catch (e) {
    if (!isStraitError(e)) throw new Error(`not a StraitError: ${String(e)}`, { cause: e });
    return { ok: false, error: e };
  }
}

/** The error object bin/strait prints, checked against the spec's shape. */
function expectSpecError(error: StraitError, stdin: Buffer): void {
  expect(INPUT_CODES, `code ${cniCodeOf(error)}: ${error.message}`).toContain(cniCodeOf(error));
  const printed: unknown = JSON.parse(JSON.stringify(errorReply(error, sniffVersion(stdin))));
  expect(printed).toMatchObject({ cniVersion: expect.stringMatching(/^\d+\.\d+\.\d+$/), code: cniCodeOf(error), msg: expect.any(String) });
  const keys = Object.keys(printed as object);
  expect(keys.every((k) => ['cniVersion', 'code', 'msg', 'details'].includes(k)), keys.join()).toBe(true);
  expect((printed as { msg: string }).msg.length).toBeGreaterThan(0);
}

const GOOD_ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_NETNS: '/var/run/netns/cni-1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=a',
};
const GOOD_CONF = { cniVersion: '1.1.0', name: 'n', type: 'strait', ipam: { type: 'strait', ranges: [[{ subnet: '198.18.0.0/24' }], [{ subnet: 'fd00:18::/64' }]] } };

/** What a message about a broken env variable must mention. */
const ENV_NAMES: Record<string, string[]> = {
  CNI_COMMAND: ['CNI_COMMAND'],
  CNI_CONTAINERID: ['CNI_CONTAINERID', 'containerID'],
  CNI_NETNS: ['CNI_NETNS'],
  CNI_IFNAME: ['CNI_IFNAME'],
  CNI_ARGS: ['CNI_ARGS'],
  CNI_PATH: ['CNI_PATH'],
};

const run = (p: fc.IPropertyWithHooks<never> | fc.IProperty<unknown>, numRuns: number) =>
  fc.assert(p as fc.IProperty<unknown>, { numRuns, seed: FUZZ_SEED, endOnFailure: true });

describe('fuzz: CNI environment and stdin, in-process', () => {
  it('a valid call goes through (the generators reach past the parsers)', () => {
    expect(callInProcess(GOOD_ENV, Buffer.from(JSON.stringify(GOOD_CONF)))).toEqual({ ok: true });
  });

  it('random environments with generated configs: only spec errors', () => {
    run(
      fc.property(cniEnv, netConf.chain((c) => stdinOf(c)), (env, stdin) => {
        const out = callInProcess(env, stdin);
        if (!out.ok) expectSpecError(out.error, stdin);
      }),
      20_000,
    );
  });

  it('one field of a config broken: a spec error naming that field', () => {
    run(
      fc.property(mutatedConf, fc.constantFrom('ADD', 'DEL', 'CHECK', 'GC', 'STATUS'), ({ orig, conf, path }, command) => {
        const env = { ...GOOD_ENV, CNI_COMMAND: command };
        const stdin = Buffer.from(JSON.stringify(conf));
        const out = callInProcess(env, stdin);
        if (out.ok) return;
        expectSpecError(out.error, stdin);
        const top = path[0];
        if (top === undefined || cniCodeOf(out.error) === CniCode.DecodeFailure) return;
        // Only when the field was the one thing wrong: the unbroken config must pass.
        if (!callInProcess(env, Buffer.from(JSON.stringify(orig))).ok) return;
        const text = `${out.error.message} ${out.error.details}`;
        const names = top === 'cniVersion' ? ['cniVersion', 'CNI version', 'config version'] : top === 'cni.dev/valid-attachments' ? [top] : [String(top)];
        expect(names.some((n) => text.includes(n)), `${JSON.stringify(path)}: ${text}`).toBe(true);
      }),
      25_000,
    );
  });

  it('one environment variable broken: code 4 naming the variable', () => {
    const stdin = Buffer.from(JSON.stringify(GOOD_CONF));
    const names = Object.keys(ENV_NAMES);
    run(
      fc.property(fc.constantFrom(...names), cniEnv, fc.boolean(), (name, random, drop) => {
        const env: Record<string, string> = { ...GOOD_ENV };
        if (drop) delete env[name];
        else env[name] = random[name] ?? '';
        const out = callInProcess(env, stdin);
        if (out.ok) return;
        expectSpecError(out.error, stdin);
        // Another valid command may need other config (GC: the attachment list).
        if (name === 'CNI_COMMAND' && cniCodeOf(out.error) !== CniCode.InvalidEnvironment) return;
        const text = `${out.error.message} ${out.error.details}`;
        // IP= reaches IPAM, which judges the address itself (7, or 101/102 when it is
        // outside the ranges or reserved) without knowing it came from CNI_ARGS.
        if (name === 'CNI_ARGS' && cniCodeOf(out.error) !== CniCode.InvalidEnvironment) {
          expect(text).toMatch(/^requested IPs? /);
          return;
        }
        expect(cniCodeOf(out.error)).toBe(CniCode.InvalidEnvironment);
        expect(ENV_NAMES[name]!.some((n) => text.includes(n)), `${name}=${JSON.stringify(env[name])}: ${text}`).toBe(true);
      }),
      10_000,
    );
  });

  it('arbitrary JSON and bytes on stdin: code 6, 7, 2 or 1, never a crash', () => {
    const anyStdin = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((j) => Buffer.from(JSON.stringify(j))),
      fc.dictionary(fc.string({ maxLength: 12 }), hostileValue, { maxKeys: 8 }).map((o) => Buffer.from(JSON.stringify(o))),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
    );
    run(
      fc.property(fc.constantFrom('ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'), anyStdin, (command, stdin) => {
        const out = callInProcess({ ...GOOD_ENV, CNI_COMMAND: command }, stdin);
        if (!out.ok) expectSpecError(out.error, stdin);
      }),
      10_000,
    );
  });
});
