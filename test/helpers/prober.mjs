// Runs inside a pod's network namespace and probes on request: reads one JSON line
// per batch ({id, probes: [{host, port, proto}]}) from stdin and answers with
// {id, results: [reply text or null]}; every probe of a batch runs at once, each
// bounded by the timeout given as the first argument (ms).
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const timeoutMs = Number(process.argv[2] ?? 400);

function tcp(host, port) {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let data = '';
    const done = (v) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on('data', (d) => (data += d));
    s.on('end', () => done(data));
    s.on('error', () => done(null));
  });
}

function udp(host, port) {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const done = (v) => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on('message', (m) => done(m.toString()));
    s.on('error', () => done(null));
    s.send('probe', port, host);
  });
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, probes } = JSON.parse(line);
  const results = await Promise.all(probes.map((p) => (p.proto === 'tcp' ? tcp(p.host, p.port) : udp(p.host, p.port))));
  process.stdout.write(JSON.stringify({ id, results }) + '\n');
});
console.log(JSON.stringify({ ready: true }));
