// Runs inside a lab namespace: answers every TCP connection on the port given with
// the address the connection came from, as this host sees it (an IPv4 peer without
// its ::ffff: prefix), so a test can tell a masqueraded source from a pod's own.
// Prints "ready" once it listens (IPv4 and IPv6 on one socket).
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
createServer((s) => {
  s.on('error', () => {});
  s.end(`${(s.remoteAddress ?? '').replace(/^::ffff:/, '')}\n`);
}).listen({ host: '::', port, ipv6Only: false }, () => console.log('ready'));
