// lb_reject()'s answers taken by a real client stack: a pod's netns wired as the CNI
// wires it (a /32 and a /128 on eth0, the link-local gateway with a permanent
// neighbour), its host veth in this netns with the test-only entry program
// (test/helpers/reject-fixture.ts) on tc ingress, which answers every packet of the
// pod as a Service with no ready backend would. A TCP connect() to the ClusterIP must
// fail with ECONNREFUSED from the first SYN's RST (no retransmission), and a connected
// UDP socket's recv() with ECONNREFUSED from the port unreachable, v4 and v6.
//
// Twice: with the veth's tx checksum offload on, as pods run, the pod's packets leave
// as CHECKSUM_PARTIAL and the answer keeps that state, which the pod's stack trusts;
// with it off they leave with whole checksums (CHECKSUM_NONE) and the pod's stack
// checks every checksum of the answer, dropping it (InCsumErrors) if one were wrong.
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import * as bpf from '../../src/datapath/bpf.js';
import { EP_F_READY } from '../../src/datapath/maps/index.js';
import { countersMovedBy } from '../helpers/bpf-datapath.js';
import { openRejectFixture, type RejectFixture } from '../helpers/reject-fixture.js';
import { cleanupAll, createNetns, isRoot, rand, sh, trackLink, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('test/netns/lb-reject.test.ts (answers for a Service with no backend, on a real veth)');

const POD_MAC = '0a:58:c6:12:63:0a';
const CLIENT = { 4: '198.18.99.10', 6: 'fd5a:13::10' } as const;
const CLUSTER_IP = { 4: '198.18.100.10', 6: 'fd5a:96::10' } as const;
const SERVICE_PORT = { tcp: 80, udp: 53 } as const;
const CLIENT_TIMEOUT_S = 20; // a dropped answer shows as TIMEOUT, never as a pass

// The client, in the pod's netns: one connect() (TCP) or connect(), send() and recv()
// (UDP), printing how it ended. The kernel reports a connected UDP socket's port
// unreachable as the next recv()'s ECONNREFUSED.
const CLIENT_PY = [
  'import errno, socket, sys',
  'kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])',
  's = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)',
  's.settimeout(float(sys.argv[4]))',
  'try:',
  '    s.connect((host, port))',
  '    if kind == "udp":',
  '        s.send(b"strait" * 8)',
  '        s.recv(512)',
  '    print("ANSWERED")',
  'except socket.timeout:',
  '    print("TIMEOUT")',
  'except OSError as e:',
  '    print(errno.errorcode.get(e.errno, str(e.errno)))',
].join('\n');

// ethtool -K <if> tx on|off through the legacy ioctl (no ethtool binary needed); prints the state read back.
const TX_CSUM_PY = [
  'import array, fcntl, socket, struct, sys',
  'sock = socket.socket()',
  'def call(cmd, data=0):',
  '    v = array.array("I", [cmd, data])',
  '    ifr = struct.pack("16sP", sys.argv[1].encode(), v.buffer_info()[0]).ljust(40, b"\\0")',
  '    fcntl.ioctl(sock.fileno(), 0x8946, ifr)  # SIOCETHTOOL',
  '    return v[1]',
  'call(0x17, int(sys.argv[2]))  # ETHTOOL_STXCSUM',
  'print(call(0x16))  # ETHTOOL_GTXCSUM',
].join('\n');

/** The pod netns's SNMP counters (/proc/net/snmp, snmp6) as "Tcp.RetransSegs", "Icmp6InCsumErrors", ... */
function snmp(ns: Netns): Map<string, number> {
  const out = new Map<string, number>();
  const lines = ns.exec('cat', ['/proc/net/snmp']).trim().split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [group = '', ...names] = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/).slice(1);
    names.forEach((n, j) => out.set(`${group.replace(':', '')}.${n}`, Number(values[j])));
  }
  for (const line of ns.exec('cat', ['/proc/net/snmp6']).trim().split('\n')) {
    const [name = '', value = '0'] = line.split(/\s+/);
    out.set(name, Number(value));
  }
  return out;
}

describe.skipIf(!isRoot)('lb_reject() on a real veth: the client stack takes the answers', () => {
  let fx: RejectFixture;
  let pod: Netns;
  const host = `stb${rand(4)}`;

  /** Runs the client once; how it ended, the SNMP counters it moved, and the datapath counters. */
  const connect = (kind: 'tcp' | 'udp', family: 4 | 6) => {
    const before = snmp(pod);
    let result = '';
    const moved = countersMovedBy(fx, () => {
      result = pod.exec('python3', ['-c', CLIENT_PY, kind, CLUSTER_IP[family], String(SERVICE_PORT[kind]), String(CLIENT_TIMEOUT_S)]).trim();
    });
    const after = snmp(pod);
    const delta = (name: string): number => (after.get(name) ?? NaN) - (before.get(name) ?? NaN);
    return { result, moved, delta };
  };

  beforeAll(() => {
    fx = openRejectFixture();
    pod = createNetns('lbrej');
    trackLink(host);
    sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', `${host}p`]);
    sh('ip', ['link', 'set', `${host}p`, 'netns', pod.name]);
    sh('ip', ['link', 'set', host, 'up']);
    pod.exec('ip', ['link', 'set', `${host}p`, 'name', 'eth0']);
    pod.exec('ip', ['link', 'set', 'eth0', 'address', POD_MAC, 'up']);
    const hostMac = readFileSync(`/sys/class/net/${host}/address`, 'utf8').trim();
    const ifindex = Number(readFileSync(`/sys/class/net/${host}/ifindex`, 'utf8').trim());

    pod.exec('ip', ['addr', 'add', `${CLIENT[4]}/32`, 'dev', 'eth0']);
    pod.exec('ip', ['-6', 'addr', 'add', `${CLIENT[6]}/128`, 'dev', 'eth0', 'nodad']);
    pod.exec('ip', ['route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    pod.exec('ip', ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    pod.exec('ip', ['-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0']);
    for (const gw of ['169.254.1.1', 'fe80::1']) pod.exec('ip', ['neigh', 'replace', gw, 'lladdr', hostMac, 'dev', 'eth0', 'nud', 'permanent']);

    const client = { ifindex, flags: EP_F_READY, podMac: POD_MAC, hostMac, identity: 0 };
    fx.setEndpoint(CLIENT[4], client);
    fx.setEndpoint(CLIENT[6], client);
    bpf.tcAttach(ifindex, 'ingress', fx.prog);
  });

  afterAll(() => {
    fx?.close();
    cleanupAll(); // the netns, the veth pair with its filter, the bpffs and the temp dir
  });

  describe.each([
    ['on', 1],
    ['off', 0],
  ] as const)('tx checksum offload %s', (_state, on) => {
    beforeAll(() => {
      expect(pod.exec('python3', ['-c', TX_CSUM_PY, 'eth0', String(on)]).trim()).toBe(String(on));
    });

    it.each([4, 6] as const)('IPv%i TCP connect() to the ClusterIP: ECONNREFUSED from the first SYN\'s RST', (family) => {
      const { result, moved, delta } = connect('tcp', family);
      expect(result).toBe('ECONNREFUSED');
      expect(delta('Tcp.RetransSegs')).toBe(0); // the first SYN was answered
      expect(delta('Tcp.AttemptFails')).toBe(1);
      expect(delta('Tcp.InCsumErrors')).toBe(0);
      expect(Object.keys(moved)).toEqual(['STAT_LB_REJECTED']);
      expect(moved.STAT_LB_REJECTED?.packets).toBe(1);
    });

    it.each([4, 6] as const)('IPv%i UDP send and recv on a connected socket: ECONNREFUSED from the port unreachable', (family) => {
      const { result, moved, delta } = connect('udp', family);
      expect(result).toBe('ECONNREFUSED');
      if (family === 4) {
        expect(delta('Icmp.InDestUnreachs')).toBe(1);
        expect(delta('Icmp.InCsumErrors')).toBe(0);
      } else {
        expect(delta('Icmp6InDestUnreachs')).toBe(1);
        expect(delta('Icmp6InCsumErrors')).toBe(0);
      }
      expect(moved).toEqual({ STAT_LB_REJECTED: { packets: 1, bytes: (family === 4 ? 20 : 40) + 8 + 48 + 14 } });
    });
  });
});
