// The loader's upgrade (src/datapath/loader.ts install): a newer build of the
// objects replaces from_uplink on the uplink strait_config_v1 names, in place,
// and leaves alone whatever else is attached (another interface's from_uplink,
// another program at the uplink's slot). Veths in a private bpffs; no traffic.
import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';

import * as bpf from '../../src/datapath/bpf.js';
import { openDatapath, type Datapath } from '../../src/datapath/loader.js';
import { CONFIG_KEY, encodeConfigValue } from '../../src/datapath/maps/index.js';
import { createHostVeth } from '../helpers/bpf-datapath.js';
import { bpffsDir, cleanupAll, isRoot, sh, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/loader-uplink.test.ts (loads and attaches programs, veth pairs, a private bpffs)');

const BPF_SRC = fileURLToPath(new URL('../../bpf', import.meta.url));

const attachedId = (ifindex: number): number | undefined => bpf.tcQuery(ifindex, 'ingress')?.progId;
const idOf = (fd: number): number => bpf.progInfo(fd).id;

describe.skipIf(!isRoot)('loader: from_uplink on the configured uplink', () => {
  const opened: Datapath[] = [];
  afterAll(() => {
    for (const dp of opened) dp.close();
    cleanupAll();
  });

  it('a newer build replaces from_uplink there and nowhere else', () => {
    const stateDir = tempDir('ldu');
    const bpfDir = bpffsDir('ldu');
    const old = openDatapath({ bpfDir, stateDir });
    opened.push(old);
    const [uplink, elsewhere, foreign] = [createHostVeth(), createHostVeth(), createHostVeth()];
    bpf.tcAttach(uplink.ifindex, 'ingress', old.programs.fromUplink);
    bpf.tcAttach(elsewhere.ifindex, 'ingress', old.programs.fromUplink);
    bpf.mapUpdate(old.maps.config, CONFIG_KEY, encodeConfigValue({ routing: 'native', uplinkIfindex: uplink.ifindex, tunnelIfindex: 0 }));

    // A newer build: the same sources compiled with other debug info, so other bytes.
    const newerObjects = tempDir('ldu-obj');
    sh('make', ['-s', '-C', BPF_SRC, `OUT=${newerObjects}`, 'CLANG=clang -gdwarf-4']);
    const newer = openDatapath({ bpfDir, stateDir, objectDir: newerObjects });
    opened.push(newer);
    expect(newer.buildId).not.toBe(old.buildId);

    expect(attachedId(uplink.ifindex)).toBe(idOf(newer.programs.fromUplink));
    expect(attachedId(elsewhere.ifindex)).toBe(idOf(old.programs.fromUplink));

    // Another program at the uplink's slot is not strait's from_uplink: kept.
    bpf.tcAttach(foreign.ifindex, 'ingress', old.programs.toPod);
    bpf.mapUpdate(old.maps.config, CONFIG_KEY, encodeConfigValue({ routing: 'native', uplinkIfindex: foreign.ifindex, tunnelIfindex: 0 }));
    const newest = tempDir('ldu-obj2');
    sh('make', ['-s', '-C', BPF_SRC, `OUT=${newest}`, 'CLANG=clang -gdwarf-4 -gno-column-info']);
    const third = openDatapath({ bpfDir, stateDir, objectDir: newest });
    opened.push(third);
    expect(third.buildId).not.toBe(newer.buildId);
    expect(attachedId(foreign.ifindex)).toBe(idOf(old.programs.toPod));
  });
});
