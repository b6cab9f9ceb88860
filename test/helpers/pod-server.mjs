// Runs inside a pod's network namespace: answers on TCP and UDP ports given as
// arguments ("tcp:80 udp:81 ..."), replying with the pod's name, so a probe knows it
// reached the right pod. Prints "ready" once every socket listens.
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const [name, ...specs] = process.argv.slice(2);
let pending = specs.length;
const ready = () => {
  if (--pending === 0) console.log('ready');
};
for (const spec of specs) {
  const [proto, port] = spec.split(':');
  if (proto === 'tcp') {
    // A prober that gives up resets the connection: that must not end the server.
    createServer((s) => s.on('error', () => {}).end(name)).listen(Number(port), '::', ready);
  } else {
    const sock = createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (_msg, rinfo) => sock.send(name, rinfo.port, rinfo.address));
    sock.bind(Number(port), '::', ready);
  }
}
