// A Service backend inside a lab pod: on TCP PORT it answers every line a
// connection sends with "NAME\n" and keeps the connection open (so a test can tell
// which backend each request of one connection reached); on UDP PORT it answers
// every datagram with NAME. Prints "ready" once both listen (IPv4 and IPv6).
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

const [name, portText] = process.argv.slice(2);
const port = Number(portText);
let pending = 2;
const ready = () => {
  if (--pending === 0) console.log('ready');
};
createServer((s) => {
  // a client that gives up, or a connection reset under it, must not end the server
  s.on('error', () => {});
  createInterface({ input: s })
    .on('line', () => s.write(`${name}\n`))
    .on('error', () => {});
}).listen({ host: '::', port, ipv6Only: false }, ready);
const udp = createSocket({ type: 'udp6', ipv6Only: false });
udp.on('message', (_m, rinfo) => udp.send(name, rinfo.port, rinfo.address));
udp.bind(port, '::', ready);
