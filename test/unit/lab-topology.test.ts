// The emulated cluster's addressing and objects, as the contract in the README fixes
// them: tests, benches and other parts' code rely on these exact values.
import { describe, expect, it } from 'vitest';
import { parseManifests } from '../../src/cluster/manifests.js';
import { nodeObject, podObject } from '../../src/lab/manifests.js';
import { nodeAddresses, nodeNetns, OUTSIDE, podCidrs, podMtu, podName } from '../../src/lab/topology.js';

describe('emulated cluster contract', () => {
  it('addresses node i, its pod CIDRs and the outside host', () => {
    expect(nodeAddresses(1)).toEqual({ v4: '198.18.0.11', v6: 'fd5a:0:0:1::11' });
    expect(nodeAddresses(3)).toEqual({ v4: '198.18.0.13', v6: 'fd5a:0:0:1::13' });
    expect(podCidrs(2, true)).toEqual({ v4: '198.18.102.0/24', v6: 'fd5a:1ab:2::/64' });
    expect(podCidrs(2, false).v6).toBeNull();
    expect(OUTSIDE).toEqual({ v4: '198.18.0.254', v6: 'fd5a:0:0:1::fe' });
    expect(nodeNetns('strait-lab', 2)).toBe('strait-lab-n2');
    expect([podName(1, 0), podName(1, 1), podName(2, 27)]).toEqual(['n1-a', 'n1-b', 'n2-b1']);
    expect(() => nodeAddresses(0)).toThrow(RangeError);
    expect(() => nodeAddresses(151)).toThrow(RangeError);
  });

  it('leaves room for the VXLAN header in the pod MTU', () => {
    expect(podMtu('native')).toBe(1500);
    expect(podMtu('vxlan')).toBe(1450);
  });

  it('writes Node and Pod objects the manifest parser accepts', () => {
    const parsed = parseManifests(
      'lab.json',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [nodeObject(2, true), podObject({ name: 'n2-a', node: 2, labels: { pod: 'n2-a' }, ips: ['198.18.102.2', 'fd5a:1ab:2::2'] }, 8080)],
      }),
    );
    expect(parsed.errors).toEqual([]);
    const [node, pod] = parsed.objects.map((o) => o.obj);
    expect(node).toMatchObject({ kind: 'Node', value: { name: 'n2', addresses: ['198.18.0.12', 'fd5a:0:0:1::12'] } });
    expect(pod).toMatchObject({ kind: 'Pod', value: { name: 'n2-a', nodeName: 'n2', ips: ['198.18.102.2', 'fd5a:1ab:2::2'], labels: { pod: 'n2-a' } } });
  });
});
