// Services and EndpointSlices -> the Service entries of a node (src/lb/compile.ts):
// every case docs/services.md "What is translated" names.
import { describe, expect, it } from 'vitest';
import { LB_SVC_F_AFFINITY } from '../../src/datapath/maps/lb.js';
import { compileServices, type CompileMemo } from '../../src/lb/compile.js';
import type { EndpointSlice, Service } from '../../src/policy/types.js';
import { service, slice } from '../helpers/lb-builders.js';
import { cluster } from '../helpers/policy-builders.js';

const compile = (services: Service[], endpointSlices: EndpointSlice[], node = 'node-a') => compileServices(cluster({ services, endpointSlices }), node);
const web = service('web', { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
const webSlice = (eps: Parameters<typeof slice>[3], name = 'web-1') => slice(name, 'web', 'IPv4', eps, [[null, 8080]]);

describe('compileServices', () => {
  it('one entry per ClusterIP and port, backends from the slices, ready ones ready, sorted by address', () => {
    const out = compile([web], [webSlice([{ ip: '10.244.1.10' }, { ip: '10.244.1.9', ready: true }])]);
    expect(out.skipped).toEqual([]);
    expect(out.services).toEqual([
      {
        name: 'x/web',
        entries: [
          {
            key: { family: 4, addr: '10.96.0.10', port: 80, protocol: 6 },
            flags: 0,
            affinityTimeoutS: 0,
            backends: [
              { addr: '10.244.1.9', port: 8080, ready: true },
              { addr: '10.244.1.10', port: 8080, ready: true },
            ],
          },
        ],
      },
    ]);
  });

  it('not ready and terminating endpoints are backends that are not ready', () => {
    const out = compile([web], [webSlice([{ ip: '10.244.1.1', ready: false }, { ip: '10.244.1.2', ready: false, terminating: true }, { ip: '10.244.1.3' }])]);
    expect(out.services[0]!.entries[0]!.backends).toEqual([
      { addr: '10.244.1.1', port: 8080, ready: false },
      { addr: '10.244.1.2', port: 8080, ready: false },
      { addr: '10.244.1.3', port: 8080, ready: true },
    ]);
  });

  it('dual-stack: each ClusterIP gets the backends of its own family', () => {
    const ds = service('web', { clusterIPs: ['10.96.0.10', 'fd00:96::10'], ipFamilyPolicy: 'RequireDualStack', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
    const out = compile([ds], [webSlice([{ ip: '10.244.1.10' }]), slice('web-6', 'web', 'IPv6', [{ ip: 'fd00:244::10' }], [[null, 8080]])]);
    expect(out.services[0]!.entries.map((e) => [e.key.family, e.key.addr, e.backends.map((b) => b.addr)])).toEqual([
      [4, '10.96.0.10', ['10.244.1.10']],
      [6, 'fd00:96::10', ['fd00:244::10']],
    ]);
  });

  it('named targetPorts resolve by the slice port of the same name and protocol; a port with none gets no backends', () => {
    const multi = service('web', {
      clusterIP: '10.96.0.10',
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 'web' },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        { name: 'metrics', port: 9090, targetPort: 'metrics' },
      ],
    });
    const s = slice('web-1', 'web', 'IPv4', [{ ip: '10.244.1.10' }], [['http', 8080], ['dns', 5353, 'UDP'], ['metrics', 9100, 'UDP']]);
    const entries = compile([multi], [s]).services[0]!.entries;
    expect(entries.map((e) => [e.key.port, e.key.protocol, e.backends.map((b) => `${b.addr}:${b.port}`)])).toEqual([
      [80, 6, ['10.244.1.10:8080']],
      [53, 17, ['10.244.1.10:5353']],
      [9090, 6, []], // the slice's "metrics" is UDP: nothing for TCP 9090
    ]);
  });

  it('internalTrafficPolicy Local keeps only endpoints of this node', () => {
    const local = service('web', { clusterIP: '10.96.0.10', selector: { app: 'web' }, internalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080 }] });
    const s = webSlice([{ ip: '10.244.1.10', node: 'node-a' }, { ip: '10.244.2.10', node: 'node-b' }, { ip: '10.244.3.10' }]);
    expect(compile([local], [s]).services[0]!.entries[0]!.backends.map((b) => b.addr)).toEqual(['10.244.1.10']);
    expect(compile([local], [s], 'node-b').services[0]!.entries[0]!.backends.map((b) => b.addr)).toEqual(['10.244.2.10']);
    expect(compile([web], [s]).services[0]!.entries[0]!.backends).toHaveLength(3);
  });

  it('sessionAffinity ClientIP sets LB_SVC_F_AFFINITY and its timeout', () => {
    const sticky = service('web', { clusterIP: '10.96.0.10', selector: { app: 'web' }, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ port: 80 }] });
    const e = compile([sticky], []).services[0]!.entries[0]!;
    expect([e.flags, e.affinityTimeoutS]).toEqual([LB_SVC_F_AFFINITY, 600]);
    const dflt = service('web', { clusterIP: '10.96.0.10', selector: { app: 'web' }, sessionAffinity: 'ClientIP', ports: [{ port: 80 }] });
    expect(compile([dflt], []).services[0]!.entries[0]!.affinityTimeoutS).toBe(10800);
  });

  it('a Service without a selector takes hand-written slices (same namespace, by the service-name label)', () => {
    const ext = service('ext', { clusterIP: '10.96.0.20', ports: [{ port: 443 }] });
    const out = compile(
      [ext],
      [
        slice('ext-1', 'ext', 'IPv4', [{ ip: '192.0.2.10' }], [[null, 443]]),
        slice('ext-other-ns', 'ext', 'IPv4', [{ ip: '192.0.2.11' }], [[null, 443]], 'y'),
        slice('unlabelled', null, 'IPv4', [{ ip: '192.0.2.12' }], [[null, 443]]),
      ],
    );
    expect(out.services[0]!.entries[0]!.backends).toEqual([{ addr: '192.0.2.10', port: 443, ready: true }]);
  });

  it('an endpoint listed by two slices is one backend, ready when either says so', () => {
    const out = compile([web], [webSlice([{ ip: '10.244.1.10', ready: false }], 'a'), webSlice([{ ip: '10.244.1.10' }, { ip: '10.244.1.11' }], 'b')]);
    expect(out.services[0]!.entries[0]!.backends).toEqual([
      { addr: '10.244.1.10', port: 8080, ready: true },
      { addr: '10.244.1.11', port: 8080, ready: true },
    ]);
  });

  it('headless and ExternalName Services have nothing to translate; a Service without slices has no backends', () => {
    const headless = service('h', { clusterIP: 'None', selector: { app: 'web' } });
    const external = service('e', { type: 'ExternalName', externalName: 'example.com' });
    const out = compile([headless, external, web], []);
    expect(out.services.map((s) => s.name)).toEqual(['x/web']);
    expect(out.services[0]!.entries[0]!.backends).toEqual([]);
  });

  it('SCTP is written when its ports stay; a targetPort that differs is skipped and reported', () => {
    const sctp = service('s', {
      clusterIP: '10.96.0.30',
      selector: { app: 's' },
      ports: [
        { name: 'same', port: 3868, protocol: 'SCTP' },
        { name: 'moved', port: 2905, protocol: 'SCTP', targetPort: 2906 },
      ],
    });
    const out = compile([sctp], [slice('s-1', 's', 'IPv4', [{ ip: '10.244.1.10' }], [['same', 3868, 'SCTP'], ['moved', 2906, 'SCTP']])]);
    expect(out.services[0]!.entries.map((e) => [e.key.port, e.key.protocol, e.backends.length])).toEqual([[3868, 132, 1]]);
    expect(out.skipped).toEqual([{ service: 'x/s', reason: expect.stringContaining('SCTP port 2905') as string }]);
  });

  it('the same cluster in any order compiles to the same entries', () => {
    const other = service('a', { clusterIP: '10.96.0.1', selector: { app: 'a' }, ports: [{ port: 80 }] });
    const slices = [webSlice([{ ip: '10.244.1.3' }, { ip: '10.244.1.1' }], 'w1'), webSlice([{ ip: '10.244.1.2' }], 'w2'), slice('a-1', 'a', 'IPv4', [{ ip: '10.244.9.1' }], [[null, 80]])];
    const one = compile([web, other], slices);
    expect(compile([other, web], [...slices].reverse())).toEqual(one);
    expect(one.services.map((s) => s.name)).toEqual(['x/a', 'x/web']);
  });

  it('with a memo, unchanged objects give back the very same output, a changed slice a new one', () => {
    const memo: CompileMemo = new WeakMap();
    const other = service('a', { clusterIP: '10.96.0.1', selector: { app: 'a' }, ports: [{ port: 80 }] });
    const s1 = webSlice([{ ip: '10.244.1.1' }]);
    const a1 = slice('a-1', 'a', 'IPv4', [{ ip: '10.244.9.1' }], [[null, 80]]);
    const first = compileServices(cluster({ services: [web, other], endpointSlices: [s1, a1] }), 'node-a', memo);
    const same = compileServices(cluster({ services: [web, other], endpointSlices: [s1, a1] }), 'node-a', memo);
    expect(same.services[0]).toBe(first.services[0]);
    expect(same.services[1]).toBe(first.services[1]);
    const edited = compileServices(cluster({ services: [web, other], endpointSlices: [webSlice([{ ip: '10.244.1.2' }]), a1] }), 'node-a', memo);
    expect(edited.services[0]).toBe(first.services[0]); // x/a
    expect(edited.services[1]).not.toBe(first.services[1]);
    expect(edited.services[1]!.entries[0]!.backends.map((b) => b.addr)).toEqual(['10.244.1.2']);
  });
});
