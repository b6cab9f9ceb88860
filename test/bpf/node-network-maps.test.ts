// The node network's real map effects (src/agent/node-network-effects.ts) on the
// pinned strait_config_v1 and strait_remote_v1 of a datapath as openDatapath makes it.
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRemote, listRemote, readConfig, setRemote, writeConfig } from '../../src/agent/node-network-effects.js';
import { openDatapath } from '../../src/datapath/loader.js';
import { bpffsDir, cleanupAll, isRoot, tempDir, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('node network map effects test');

describe.skipIf(!isRoot)('node network: strait_config_v1 and strait_remote_v1', () => {
  afterAll(() => cleanupAll());

  it('reads back what it writes, both families; a missing map is a clear error', () => {
    const bpfDir = bpffsDir('nnm');
    openDatapath({ bpfDir, stateDir: tempDir('nnm') }).close();
    // ARRAY maps always hold key 0: zero is ROUTING_STACK, no uplink
    expect(readConfig(bpfDir)).toEqual({ routing: 'stack', uplinkIfindex: 0, tunnelIfindex: 0 });
    writeConfig(bpfDir, { routing: 'vxlan', uplinkIfindex: 7, tunnelIfindex: 9 });
    expect(readConfig(bpfDir)).toEqual({ routing: 'vxlan', uplinkIfindex: 7, tunnelIfindex: 9 });

    expect(listRemote(bpfDir)).toEqual(new Map());
    setRemote(bpfDir, '198.18.102.0/24', '198.18.0.12');
    setRemote(bpfDir, 'fd5a:1ab:2::/64', 'fd5a:0:0:1::12');
    setRemote(bpfDir, '198.18.102.0/24', '198.18.0.99');
    expect([...listRemote(bpfDir)].sort()).toEqual([['198.18.102.0/24', '198.18.0.99'], ['fd5a:1ab:2::/64', 'fd5a:0:0:1::12']]);
    deleteRemote(bpfDir, '198.18.102.0/24');
    expect([...listRemote(bpfDir).keys()]).toEqual(['fd5a:1ab:2::/64']);

    expect(() => listRemote(tempDir('nnm-empty'))).toThrow(/pinned map strait_remote_v1 is missing/);
  });
});
