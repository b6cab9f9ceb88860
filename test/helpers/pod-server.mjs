// Runs inside a pod's network namespace: answers on TCP and UDP ports given as
// arguments ("tcp:80 udp:81 ..."), replying with the pod's name, so a probe knows it
// reached the right pod; with --peer first, "<name> <peer address>" (an IPv4 peer
// without its ::ffff: prefix), so a test of address translation also knows whom the
// pod saw (test/helpers/ask-once.mjs asks). Prints "ready" once every socket listens.
//   pod-server.mjs [--peer] <name> tcp:<port> udp:<port> ...
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const args = process.argv.slice(2);
const withPeer = args[0] === '--peer';
const [name, ...specs] = withPeer ? args.slice(1) : args;
const answer = (peer) => (withPeer ? `${name} ${(peer ?? '').replace(/^::ffff:/, '')}` : name);
let pending = specs.length;
const ready = () => {
  if (--pending === 0) console.log('ready');
};
for (const spec of specs) {
  const [proto, port] = spec.split(':');
  if (proto === 'tcp') {
    // A prober that gives up resets the connection: that must not end the server.
    createServer((s) => s.on('error', () => {}).end(answer(s.remoteAddress))).listen(Number(port), '::', ready);
  } else {
    const sock = createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (_msg, rinfo) => sock.send(answer(rinfo.address), rinfo.port, rinfo.address));
    sock.bind(Number(port), '::', ready);
  }
}
