// SETUP for the tests of lb_reject() (bpf/include/reject.h), the answer to a packet for
// a Service with no ready backend: the test-only entry program
// test/bpf/fixtures/lb_reject_fixture.bpf.c, compiled here against bpf/include as the
// Makefile compiles the datapath, and loaded into a private bpffs. It treats every IP
// packet an endpoint sends as one to such a Service, so the tests need no lb.h and
// no Service maps. The bpffs and the temp dir go with cleanupAll().
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as bpf from '../../src/datapath/bpf.js';
import {
  counterKey,
  encodeEndpointKey,
  encodeEndpointValue,
  MapName,
  sumPerCpu,
  type EndpointValue,
  type MapNameValue,
  type TrafficCounter,
} from '../../src/datapath/maps/index.js';
import { type CounterSource } from './bpf-datapath.js';
import { bpffsDir, sh, tempDir } from './sys.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE = join(repo, 'test/bpf/fixtures/lb_reject_fixture.bpf.c');
const PROGRAM = 'lb_reject_fixture';

/** The fixture as an object file at `out`, with the datapath's flags (bpf/Makefile). */
export function compileRejectFixture(out: string): void {
  const multiarch = sh('clang', ['-print-multiarch']).trim();
  sh('clang', [
    ...['-O2', '-g', '-target', 'bpf', '-std=gnu11', '-Wall', '-Wextra', '-Werror'],
    ...[`-I/usr/include/${multiarch}`, `-I${join(repo, 'bpf/include')}`],
    ...['-c', SOURCE, '-o', out],
  ]);
}

export interface RejectFixture extends CounterSource {
  /** the tc program's fd */
  prog: number;
  /** a client endpoint: its packets are answered (strait_endpoints_v1) */
  setEndpoint(ip: string, value: EndpointValue): void;
  close(): void;
}

export function openRejectFixture(): RejectFixture {
  const object = join(tempDir('reject'), `${PROGRAM}.bpf.o`);
  compileRejectFixture(object);
  const o = bpf.loadObject(object, { pinRoot: bpffsDir('reject') });
  const fd = (kind: 'programs' | 'maps', name: string): number => {
    const v = o[kind][name];
    if (v === undefined) {
      o.close();
      throw new Error(`${PROGRAM}.bpf.o has no ${kind.slice(0, -1)} ${name}`);
    }
    return v;
  };
  const prog = fd('programs', PROGRAM);
  const ncpus = bpf.numPossibleCpus();
  const counter = (map: MapNameValue, index: number): TrafficCounter => {
    const buf = bpf.mapLookup(fd('maps', map), counterKey(index));
    if (buf === null) throw new Error(`${map}[${index}] is missing`);
    return sumPerCpu(buf, ncpus);
  };
  return {
    prog,
    setEndpoint: (ip, value) =>
      bpf.mapUpdate(fd('maps', MapName.endpoints), encodeEndpointKey({ family: ip.includes(':') ? 6 : 4, ip }), encodeEndpointValue(value)),
    drops: (reason) => counter(MapName.drops, reason),
    stats: (id) => counter(MapName.stats, id),
    fib: (slot) => counter(MapName.fib, slot),
    close: () => o.close(),
  };
}
