// What runs inside a lab pod (started by `ip netns exec POD node pod-tool.js …`):
//   serve NAME PORT        answer every TCP connection on PORT with NAME, and print
//                          "ready" once listening (IPv4 and IPv6)
//   probe HOST PORT MS     connect, print who answered; exit 1 on no answer within MS
// No imports beyond node's own: it is the whole workload of a pod.
import { connect, createServer } from 'node:net';

function serve(name: string, port: number): void {
  const server = createServer((sock) => {
    sock.on('error', () => {});
    sock.end(`${name}\n`);
  });
  // '::' with ipv6Only false takes IPv4 too, so one socket serves both families.
  server.listen({ host: '::', port, ipv6Only: false }, () => process.stdout.write('ready\n'));
}

function probe(host: string, port: number, ms: number): void {
  let answer = '';
  const sock = connect({ host, port, timeout: ms });
  const give = (code: number, text: string): void => {
    process.stdout.write(text);
    sock.destroy();
    process.exit(code);
  };
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (answer += d));
  sock.on('end', () => give(answer === '' ? 1 : 0, answer));
  sock.on('timeout', () => give(1, 'timeout\n'));
  sock.on('error', (e) => give(1, `${e.message}\n`));
}

const [cmd, a, b, c] = process.argv.slice(2);
if (cmd === 'serve' && a !== undefined && b !== undefined) serve(a, Number(b));
else if (cmd === 'probe' && a !== undefined && b !== undefined) probe(a, Number(b), Number(c ?? '2000'));
else {
  process.stderr.write('usage: pod-tool serve NAME PORT | probe HOST PORT [MS]\n');
  process.exit(2);
}
