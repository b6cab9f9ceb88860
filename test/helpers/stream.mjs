// A TCP stream that must survive whatever happens around it, byte for byte:
//   serve PORT            count and hash every connection's bytes; when the client
//                         ends its side, answer "<bytes> <sha256>" and close.
//                         Prints "ready" once listening.
//   send HOST PORT        connect, print "connected", then send 16 KiB every 10 ms
//                         (deterministic bytes) until stdin says "end"; then end the
//                         write side, read the server's answer and print one JSON
//                         line {sent, hash, answer, ok}. A reset or any socket error
//                         prints {error} and exits 1. "mark" on stdin prints
//                         "mark <bytes sent so far>".
// Paced, not bulk: the stream is alive across the whole drill at little CPU.
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';

const CHUNK = 16 * 1024;
const [cmd, a, b] = process.argv.slice(2);

function serve(port) {
  createServer((s) => {
    const hash = createHash('sha256');
    let bytes = 0;
    s.on('data', (d) => {
      bytes += d.length;
      hash.update(d);
    });
    s.on('end', () => s.end(`${bytes} ${hash.digest('hex')}\n`));
    s.on('error', () => {});
  }).listen({ host: '::', port, ipv6Only: false }, () => console.log('ready'));
}

function send(host, port) {
  const hash = createHash('sha256');
  let sent = 0;
  let n = 0;
  let answer = '';
  let timer = null;
  const sock = connect({ host, port });
  sock.setEncoding('utf8');
  sock.on('connect', () => {
    console.log('connected');
    timer = setInterval(() => {
      const chunk = Buffer.alloc(CHUNK, n++ % 251);
      hash.update(chunk);
      sent += chunk.length;
      sock.write(chunk);
    }, 10);
  });
  sock.on('data', (d) => (answer += d));
  sock.on('end', () => {
    const digest = hash.digest('hex');
    console.log(JSON.stringify({ sent, hash: digest, answer: answer.trim(), ok: answer.trim() === `${sent} ${digest}` }));
    process.exit(0);
  });
  sock.on('error', (e) => {
    console.log(JSON.stringify({ error: e.code ?? e.message, sent }));
    process.exit(1);
  });
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'mark') console.log(`mark ${sent}`);
    if (line.trim() !== 'end') return;
    clearInterval(timer);
    sock.end();
  });
}

if (cmd === 'serve' && a !== undefined) serve(Number(a));
else if (cmd === 'send' && a !== undefined && b !== undefined) send(a, Number(b));
else {
  process.stderr.write('usage: stream.mjs serve PORT | send HOST PORT\n');
  process.exit(2);
}
