// Runs inside a pod's network namespace, for tests of address translation: both
// ends say whom they saw, so a test knows which address each side's packets carried.
//   server <name> tcp:<port> udp:<port> ...   answers "<name> <peer address>"; prints "ready"
//   client tcp|udp <host> <port>              prints {"reply", "from"} (from: the
//                                             answer's source address) or {"error"}
import { connect, createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const bare = (a) => a.replace(/^::ffff:/, '');
const [mode, ...args] = process.argv.slice(2);

if (mode === 'server') {
  const [name, ...specs] = args;
  let pending = specs.length;
  const ready = () => {
    if (--pending === 0) console.log('ready');
  };
  for (const spec of specs) {
    const [proto, port] = spec.split(':');
    if (proto === 'tcp') {
      createServer((s) => s.on('error', () => {}).end(`${name} ${bare(s.remoteAddress ?? '')}`)).listen(Number(port), '::', ready);
    } else {
      const sock = createSocket({ type: 'udp6', ipv6Only: false });
      sock.on('message', (_m, r) => sock.send(`${name} ${bare(r.address)}`, r.port, r.address));
      sock.bind(Number(port), '::', ready);
    }
  }
} else {
  const [proto, host, port] = args;
  const done = (v) => {
    console.log(JSON.stringify(v));
    process.exit(0);
  };
  setTimeout(() => done({ error: 'timeout' }), 3000);
  if (proto === 'tcp') {
    const s = connect({ host, port: Number(port) });
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('end', () => done({ reply: data, from: bare(s.remoteAddress ?? '') }));
    s.on('error', (e) => done({ error: e.code }));
  } else {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.on('message', (m, r) => done({ reply: m.toString(), from: bare(r.address) }));
    s.on('error', (e) => done({ error: e.code }));
    s.send('probe', Number(port), host);
  }
}
