// Runs inside a pod's network namespace, for tests of address translation: one
// request to a server (test/helpers/pod-server.mjs --peer answers whom it saw), and
// the answer with its source address, so a test knows which address each side's
// packets carried.
//   ask-once.mjs tcp|udp <host> <port>   prints {"reply", "from"} (from: the answer's
//                                        source address) or {"error"}
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

const bare = (a) => a.replace(/^::ffff:/, '');
const [proto, host, port] = process.argv.slice(2);
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
