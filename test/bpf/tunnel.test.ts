// The VXLAN programs through BPF_PROG_TEST_RUN: from_pod in VXLAN mode (tunnel.h:
// into the device, or the host stack when the packet cannot go), to_tunnel keying
// what the host stack routes into the device, and from_tunnel refusing a packet
// that carries no tunnel metadata. A test run performs no redirect and carries no
// received tunnel key, so what a real tunnel does is test/netns/vxlan-datapath.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import {
  CONFIG_KEY,
  encodeCidrKey,
  encodeConfigValue,
  encodeRemoteValue,
  EP_F_READY,
  MapName,
  type ConfigValue,
} from '../../src/datapath/maps/index.js';
import {
  createHostVeth,
  openTestDatapath,
  runCounted,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  type HostVeth,
  type TestDatapath,
} from '../helpers/bpf-datapath.js';
import { arpRequest, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, ethFrame, ipv4, ipv6, routedFrame, udp } from '../helpers/pktgen.js';
import { cleanupAll, isRoot, sh, warnIfNotRoot } from '../helpers/sys.js';

warnIfNotRoot('test/bpf/tunnel.test.ts (BPF_PROG_TEST_RUN on from_pod, to_tunnel and from_tunnel)');

const A = { v4: '10.244.1.10', v6: 'fd00:244:1::10', podMac: '0a:58:0a:f4:01:0a', hostMac: 'ee:00:00:00:01:0a', identity: 300 };
const REMOTE = { v4: '10.244.2.0/24', v6: 'fd00:244:2::/64', podV4: '10.244.2.20', podV6: 'fd00:244:2::20', node: '192.0.2.12' };
const TUNNEL_MTU = 1450;

const one = (frame: Uint8Array) => ({ packets: 1, bytes: frame.length });

describe.skipIf(!isRoot)('VXLAN in BPF', () => {
  let dp: TestDatapath;
  let veth: HostVeth;
  let tunnel: HostVeth;

  const setConfig = (value: ConfigValue): void => bpf.mapUpdate(dp.mapFd(MapName.config), CONFIG_KEY, encodeConfigValue(value));
  const vxlanMode = (): void => setConfig({ routing: 'vxlan', uplinkIfindex: 0, tunnelIfindex: tunnel.ifindex });

  beforeAll(() => {
    dp = openTestDatapath();
    veth = createHostVeth();
    // Stands in for the VXLAN device: from_pod only needs an ifindex with an MTU.
    tunnel = createHostVeth();
    sh('ip', ['link', 'set', tunnel.name, 'mtu', String(TUNNEL_MTU)]);
    for (const [family, ip] of [[4, A.v4], [6, A.v6]] as const)
      dp.setEndpoint(family, ip, { ifindex: veth.ifindex, flags: EP_F_READY, podMac: A.podMac, hostMac: A.hostMac, identity: A.identity });
    for (const cidr of [REMOTE.v4, REMOTE.v6])
      bpf.mapUpdate(dp.mapFd(MapName.remote), encodeCidrKey(cidr), encodeRemoteValue({ nodeIp: REMOTE.node }));
  });

  afterAll(() => {
    dp?.close();
    cleanupAll();
  });

  describe.each([4, 6] as const)('from_pod, IPv%i, to another node’s pod', (family) => {
    const src = family === 4 ? A.v4 : A.v6;
    const dst = family === 4 ? REMOTE.podV4 : REMOTE.podV6;
    let port = 41000 + family * 100;
    /** A frame of a flow of its own, so that no test sees another's conntrack entry. */
    const frame = (opts: { ttl?: number; payload?: number } = {}): Uint8Array => {
      const l4 = udp(port++, 8080, new Uint8Array(opts.payload ?? 8));
      const eth = { src: A.podMac, dst: A.hostMac };
      return family === 4
        ? ethFrame(eth, ETH_P_IP, ipv4({ src, dst, ttl: opts.ttl ?? 64 }, l4))
        : ethFrame(eth, ETH_P_IPV6, ipv6({ src, dst, hopLimit: opts.ttl ?? 64 }, l4));
    };
    const send = (f: Uint8Array) => runCounted(dp, dp.fromPod, veth.ifindex, f);

    it('VXLAN mode: into the tunnel device, one hop spent, the inner frame from and to the gateway MAC', () => {
      vxlanMode();
      const f = frame();
      const r = send(f);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect([...r.data]).toEqual(routedFrame(f, { dst: A.hostMac, src: A.hostMac }));
      expect(r.moved).toEqual({ STAT_TUNNEL_TX: one(f) });
    });

    it('with no hop left: the host stack, untouched (it answers time exceeded)', () => {
      vxlanMode();
      const f = frame({ ttl: 1 });
      const r = send(f);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...f]);
      expect(r.moved).toEqual({ STAT_TTL_EXPIRED: one(f) });
    });

    it('too big for the tunnel: the host stack, untouched (it answers frag needed / packet too big)', () => {
      vxlanMode();
      const header = family === 4 ? 20 : 40;
      const fits = frame({ payload: TUNNEL_MTU - header - 8 });
      expect(send(fits).retval).toBe(TC_ACT_REDIRECT);
      const big = frame({ payload: TUNNEL_MTU - header - 8 + 1 });
      const r = send(big);
      expect(r.retval).toBe(TC_ACT_OK);
      expect([...r.data]).toEqual([...big]);
      expect(r.moved).toEqual({ STAT_TO_STACK: one(big) });
    });

    it('VXLAN mode without a tunnel device, or another mode: the host stack', () => {
      for (const value of [
        { routing: 'vxlan', uplinkIfindex: 0, tunnelIfindex: 0 },
        { routing: 'stack', uplinkIfindex: 0, tunnelIfindex: tunnel.ifindex },
      ] as const) {
        setConfig(value);
        const f = frame();
        const r = send(f);
        expect(r.retval, value.routing).toBe(TC_ACT_OK);
        expect(r.moved, value.routing).toEqual({ STAT_TO_STACK: one(f) });
      }
    });

    it('native mode never takes the tunnel, though a tunnel device is configured', () => {
      setConfig({ routing: 'native', uplinkIfindex: 0, tunnelIfindex: tunnel.ifindex });
      const r = send(frame());
      expect(r.moved.STAT_TUNNEL_TX).toBeUndefined();
      expect(r.retval).not.toBe(TC_ACT_REDIRECT);
    });

    it('a tunnel device that is gone: DROP_REDIRECT_FAILED, not a redirect into nothing', () => {
      const gone = createHostVeth();
      sh('ip', ['link', 'del', gone.name]);
      setConfig({ routing: 'vxlan', uplinkIfindex: 0, tunnelIfindex: gone.ifindex });
      const f = frame();
      const r = send(f);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.moved).toEqual({ DROP_REDIRECT_FAILED: one(f) });
    });
  });

  describe('to_tunnel (tc egress of the device): what the host stack routes in', () => {
    const send = (f: Uint8Array) => runCounted(dp, dp.toTunnel, tunnel.ifindex, f);
    const eth = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:01' };

    it('for another node’s pod: keyed and passed, from the node or from one of its pods', () => {
      for (const f of [
        ethFrame(eth, ETH_P_IP, ipv4({ src: '192.0.2.11', dst: REMOTE.podV4 })),
        ethFrame(eth, ETH_P_IP, ipv4({ src: A.v4, dst: REMOTE.podV4 })),
        ethFrame(eth, ETH_P_IPV6, ipv6({ src: A.v6, dst: REMOTE.podV6 })),
      ]) {
        const r = send(f);
        expect(r.retval).toBe(TC_ACT_OK);
        expect([...r.data]).toEqual([...f]);
        expect(r.moved).toEqual({});
      }
    });

    it('for an address no node holds, link-local and multicast noise, ARP: DROP_TUNNEL_NO_REMOTE', () => {
      for (const f of [
        ethFrame(eth, ETH_P_IP, ipv4({ src: '192.0.2.11', dst: '198.51.100.7' })),
        ethFrame(eth, ETH_P_IPV6, ipv6({ src: 'fe80::1', dst: 'ff02::16' })),
        ethFrame(eth, ETH_P_IPV6, ipv6({ src: 'fe80::1', dst: 'fe80::2' })),
        ethFrame({ src: eth.src, dst: 'ff:ff:ff:ff:ff:ff' }, ETH_P_ARP, arpRequest(eth.src, '192.0.2.11', REMOTE.podV4)),
      ]) {
        const r = send(f);
        expect(r.retval).toBe(TC_ACT_SHOT);
        expect(r.moved).toEqual({ DROP_TUNNEL_NO_REMOTE: one(f) });
      }
    });
  });

  it('from_tunnel: a packet with no tunnel metadata (the device is not collect_md) is DROP_TUNNEL_KEY', () => {
    const f = ethFrame({ src: '02:00:00:00:00:02', dst: '02:00:00:00:00:01' }, ETH_P_IP, ipv4({ src: REMOTE.podV4, dst: A.v4 }));
    const r = runCounted(dp, dp.fromTunnel, tunnel.ifindex, f);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.moved).toEqual({ DROP_TUNNEL_KEY: one(f) });
  });
});
