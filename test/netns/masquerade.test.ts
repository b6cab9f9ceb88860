// Masquerade to the outside through the agent's nftables table, in real namespaces: a
// node with a pod (bin/strait, standalone) and an "outside" host on the node's uplink
// that has no route to any pod CIDR, so only the node's address can get an answer.
// applyMasquerade runs nft inside the node's namespace. A third namespace plays
// another node, on a link of its own: it holds addresses of another cluster pod CIDR
// and routes this node's pod CIDRs back, as nodes do; those see the pod's own address.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMasquerade, NFT_PATH, nftCommand, type MasqueradeConfig } from '../../src/agent/masquerade.js';
import { Node, type NodePod } from '../helpers/node.js';
import { cleanupAll, createNetns, isRoot, sh, warnIfNotRoot, type Netns } from '../helpers/sys.js';

warnIfNotRoot('masquerade (nftables) integration tests');

const NODE = { v4: '198.18.0.11', v6: 'fd5a:0:0:1::11' };
const OUTSIDE = { v4: '198.18.0.254', v6: 'fd5a:0:0:1::fe' };
/** the link to the other node, and addresses of that node's pods (in the cluster's pod CIDRs) */
const LINK2 = { node: { v4: '198.18.1.11', v6: 'fd5a:0:0:2::11' }, remote: { v4: '198.18.1.12', v6: 'fd5a:0:0:2::12' } };
const REMOTE_POD = { v4: '198.18.102.10', v6: 'fd5a:1ab:2::10' };
const PORT = 8080;
const CONFIG: MasqueradeConfig = {
  podCidrs: ['198.18.101.0/24', 'fd5a:1ab:1::/64'],
  clusterCidrs: ['198.18.101.0/24', '198.18.102.0/24', 'fd5a:1ab:1::/64', 'fd5a:1ab:2::/64'],
  enabled: true,
};
// What must survive every apply: another program's table, and a table of strait's name in another family.
const FOREIGN = `
table inet foreign {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp dport 9 accept
  }
}
table ip strait {
  chain c {
    ip daddr 192.0.2.1 drop
  }
}
`;

// Answers each connection with the address it came from, as the server sees it.
// And on PORT + 1 echoes what it gets, for a connection that lives across a table replace.
// A peer that resets a connection must not take the server down with it (an
// unhandled socket error would end the process, and every later probe be refused).
const PEER_SERVER =
  `const net = require('net'); const quiet = (s) => (s.on('error', () => {}), s);` +
  ` net.createServer((s) => quiet(s).pipe(s)).listen(${PORT + 1}, '::', () =>` +
  ` net.createServer((s) => quiet(s).end(s.remoteAddress.replace(/^::ffff:/, ''))).listen(${PORT}, '::', () => console.log('ready')));`;
// Joins stdin and a connection to PORT + 1: each line written comes back on stdout.
const ECHO_CLIENT = (host: string) =>
  `const s = require('net').connect(${PORT + 1}, '${host}'); process.stdin.pipe(s); s.pipe(process.stdout); s.on('close', () => process.exit(0));`;
// Connects once and prints the answer, or TIMEOUT / ERR <code>; bounded, never hangs. An answer
// comes at once when there is one; the bound is long enough for a loaded machine's SYN retransmit.
const CLIENT = (host: string, ms = 4000) =>
  `const s = require('net').connect(${PORT}, '${host}'); let d = ''; s.on('data', (x) => (d += x)); s.on('end', () => { console.log(d); process.exit(0); });` +
  ` s.on('error', (e) => { console.log('ERR ' + e.code); process.exit(0); }); setTimeout(() => { console.log('TIMEOUT'); process.exit(0); }, ${ms});`;

describe.skipIf(!isRoot)('masquerade to the outside (nftables)', () => {
  let node: Node;
  let pod: NodePod;
  let outside: Netns;
  let remote: Netns;
  /** every process the tests start, killed by PID at the end */
  const servers: ChildProcess[] = [];
  let foreignBefore = '';
  const nft = () => nftCommand(['ip', 'netns', 'exec', node.ns.name, NFT_PATH]);
  const apply = (cfg: MasqueradeConfig = CONFIG) => applyMasquerade(cfg, nft());
  const list = (...what: string[]) => node.ns.exec('nft', ['-a', 'list', ...what], { allowFail: true });
  /** What the server in the outside saw as the peer of a connection from the pod. */
  const peerSeen = (host: string, ms?: number) =>
    spawnSync('ip', ['netns', 'exec', pod.ns.name, process.execPath, '-e', CLIENT(host, ms)], { encoding: 'utf8' }).stdout.trim();
  /** No answer can come (no route back): a short bound is enough to see none came. */
  const unanswered = (host: string) => peerSeen(host, 1500);

  beforeAll(async () => {
    node = new Node('masq', { v4: '198.18.101.0/24', v6: 'fd5a:1ab:1::/64' });
    pod = await node.addPod('masqp');
    outside = createNetns('masqout');
    node.ip(['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    node.ip(['addr', 'add', `${NODE.v4}/24`, 'dev', 'up0']);
    node.ip(['addr', 'add', `${NODE.v6}/64`, 'dev', 'up0', 'nodad']);
    node.ip(['link', 'set', 'up0', 'up']);
    outside.exec('ip', ['addr', 'add', `${OUTSIDE.v4}/24`, 'dev', 'eth0']);
    outside.exec('ip', ['addr', 'add', `${OUTSIDE.v6}/64`, 'dev', 'eth0', 'nodad']);
    outside.exec('ip', ['link', 'set', 'eth0', 'up']);
    // The other node: the cluster's pod CIDRs are routed between nodes, both ways.
    remote = createNetns('masqrem');
    node.ip(['link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', remote.name]);
    node.ip(['addr', 'add', `${LINK2.node.v4}/24`, 'dev', 'up1']);
    node.ip(['addr', 'add', `${LINK2.node.v6}/64`, 'dev', 'up1', 'nodad']);
    node.ip(['link', 'set', 'up1', 'up']);
    remote.exec('ip', ['addr', 'add', `${LINK2.remote.v4}/24`, 'dev', 'eth0']);
    remote.exec('ip', ['addr', 'add', `${LINK2.remote.v6}/64`, 'dev', 'eth0', 'nodad']);
    remote.exec('ip', ['addr', 'add', `${REMOTE_POD.v4}/32`, 'dev', 'lo']);
    remote.exec('ip', ['addr', 'add', `${REMOTE_POD.v6}/128`, 'dev', 'lo']);
    remote.exec('ip', ['link', 'set', 'eth0', 'up']);
    remote.exec('ip', ['route', 'add', '198.18.101.0/24', 'via', LINK2.node.v4]);
    remote.exec('ip', ['-6', 'route', 'add', 'fd5a:1ab:1::/64', 'via', LINK2.node.v6]);
    node.ip(['route', 'add', '198.18.102.0/24', 'via', LINK2.remote.v4]);
    node.ip(['-6', 'route', 'add', 'fd5a:1ab:2::/64', 'via', LINK2.remote.v6]);
    node.sysctl('net.ipv4.ip_forward', '1');
    node.sysctl('net.ipv6.conf.all.forwarding', '1');
    sh('ip', ['netns', 'exec', node.ns.name, 'nft', '-f', '-'], { input: FOREIGN });
    foreignBefore = list('table', 'inet', 'foreign') + list('table', 'ip', 'strait');
    expect(foreignBefore).toContain('tcp dport 9 accept');
    for (const ns of [outside, remote]) {
      const server = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', PEER_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(server);
      await new Promise((r) => server.stdout.once('data', r));
    }
  });

  afterAll(() => {
    for (const s of servers) if (s.pid !== undefined && s.exitCode === null) process.kill(s.pid, 'SIGKILL');
    cleanupAll();
  });

  it('without the table the outside cannot answer a pod: it has no route to the pod CIDR', () => {
    expect(list('table', 'inet', 'strait')).toBe('');
    expect(unanswered(OUTSIDE.v4)).toBe('TIMEOUT');
    expect(unanswered(OUTSIDE.v6)).toBe('TIMEOUT');
    // The node itself reaches it, and another node's pods answer the pod: the network is there.
    expect(node.ns.exec(process.execPath, ['-e', CLIENT(OUTSIDE.v4)]).trim()).toBe(NODE.v4);
    expect(peerSeen(REMOTE_POD.v4)).toBe(pod.v4);
  });

  it('with the table the pod reaches the outside as the node, over IPv4 and IPv6', async () => {
    expect(await apply()).toBe('created');
    expect(peerSeen(OUTSIDE.v4)).toBe(NODE.v4);
    expect(peerSeen(OUTSIDE.v6)).toBe(NODE.v6);
  });

  it('keeps the pod\'s own address for another cluster pod CIDR', () => {
    expect(peerSeen(REMOTE_POD.v4)).toBe(pod.v4);
    expect(peerSeen(REMOTE_POD.v6)).toBe(pod.v6);
  });

  it('applying the same again writes nothing (the table and its rules keep their handles)', async () => {
    const before = list('table', 'inet', 'strait');
    expect(before).toMatch(/ip6 saddr @node_pods_v6 ip6 daddr != @cluster_pods_v6 masquerade # handle \d+/);
    expect(await apply()).toBe('unchanged');
    expect(list('table', 'inet', 'strait')).toBe(before);
  });

  it('replaces the table whole when the cluster changes, keeping masqueraded connections; anyone\'s edit to it is undone', async () => {
    // A connection masqueraded before the replace: its NAT lives in the host's conntrack, not in the table.
    const client = spawn('ip', ['netns', 'exec', pod.ns.name, process.execPath, '-e', ECHO_CLIENT(OUTSIDE.v4)], { stdio: ['pipe', 'pipe', 'inherit'] });
    servers.push(client);
    const echoed = (line: string) =>
      new Promise<string>((resolve) => {
        const bound = setTimeout(() => resolve('no echo'), 4000);
        client.stdout.once('data', (d: Buffer) => {
          clearTimeout(bound);
          resolve(d.toString().trim());
        });
        client.stdin.write(`${line}\n`);
      });
    expect(await echoed('before')).toBe('before');
    const grown = { ...CONFIG, clusterCidrs: [...CONFIG.clusterCidrs, '198.18.103.0/24'] };
    expect(await apply(grown)).toBe('replaced');
    expect(list('set', 'inet', 'strait', 'cluster_pods_v4')).toContain('198.18.103.0/24');
    expect(await echoed('after')).toBe('after');
    client.stdin.end();
    node.ns.exec('nft', ['flush', 'chain', 'inet', 'strait', 'postrouting']);
    expect(unanswered(OUTSIDE.v4)).toBe('TIMEOUT');
    expect(await apply(grown)).toBe('replaced');
    expect(peerSeen(OUTSIDE.v4)).toBe(NODE.v4);
  });

  it('enabled: false removes the table, and nothing else of the ruleset ever changed', async () => {
    expect(await apply({ ...CONFIG, enabled: false })).toBe('removed');
    expect(list('table', 'inet', 'strait')).toBe('');
    expect(await apply({ ...CONFIG, enabled: false })).toBe('absent');
    expect(unanswered(OUTSIDE.v4)).toBe('TIMEOUT');
    expect(list('table', 'inet', 'foreign') + list('table', 'ip', 'strait')).toBe(foreignBefore);
  });
});
