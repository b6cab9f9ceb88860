// A Service client inside a lab pod, driven by one JSON line per request on stdin
// ({id, op, ...}), each answered by one JSON line {id, ...} on stdout:
//   {op: "open", host, port}   a TCP connection: {conn} once connected, else {error}
//   {op: "ask", conn}          one line out, one line back: {answer} (who answered),
//                              else {error}: the socket's code (ECONNRESET,
//                              ECONNREFUSED, ...), "EOF", or "TIMEOUT"
//   {op: "close", conn}        {closed: true}
//   {op: "once", host, port}   open, ask, close: {answer} or {error}
//   {op: "udp", host, port}    a connected UDP socket (only datagrams from host:port
//                              reach it): {conn}
//   {op: "uask", conn}         a datagram, sent again every 200 ms until an answer,
//                              an error (ECONNREFUSED: ICMP port unreachable) or the
//                              timeout: {answer} or {error}
// Every wait is bounded by the timeout (ms) given as the first argument. Prints
// "ready" first.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const timeoutMs = Number(process.argv[2] ?? 1500);
const conns = new Map();
let next = 1;

function tcpOpen(host, port) {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const lines = createInterface({ input: s });
    const c = { kind: 'tcp', s, waiting: [], error: null };
    const fail = (error) => {
      c.error ??= error;
      for (const w of c.waiting.splice(0)) w({ error: c.error });
    };
    lines.on('line', (l) => c.waiting.shift()?.({ answer: l }));
    // readline passes the socket's error on: it is handled below, on the socket
    lines.on('error', () => {});
    s.on('end', () => fail('EOF'));
    s.on('error', (e) => fail(e.code ?? e.message));
    const t = setTimeout(() => {
      s.destroy();
      resolve({ error: 'TIMEOUT' });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      const id = next++;
      conns.set(id, c);
      resolve({ conn: id });
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve({ error: e.code ?? e.message });
    });
  });
}

function ask(id) {
  const c = conns.get(id);
  if (c === undefined) return { error: `no connection ${id}` };
  if (c.error !== null) return { error: c.error };
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.waiting = c.waiting.filter((w) => w !== done);
      resolve({ error: 'TIMEOUT' });
    }, timeoutMs);
    const done = (r) => {
      clearTimeout(t);
      resolve(r);
    };
    c.waiting.push(done);
    c.s.write('?\n');
  });
}

function close(id) {
  const c = conns.get(id);
  conns.delete(id);
  if (c?.kind === 'tcp') c.s.destroy();
  if (c?.kind === 'udp') c.s.close();
  return { closed: c !== undefined };
}

async function once(host, port) {
  const o = await tcpOpen(host, port);
  if (o.conn === undefined) return o;
  const r = await ask(o.conn);
  close(o.conn);
  return r;
}

function udpOpen(host, port) {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const c = { kind: 'udp', s, waiting: null };
    s.on('message', (m) => c.waiting?.({ answer: m.toString() }));
    s.on('error', (e) => c.waiting?.({ error: e.code ?? e.message }));
    s.connect(port, host, () => {
      const id = next++;
      conns.set(id, c);
      resolve({ conn: id });
    });
  });
}

function uask(id) {
  const c = conns.get(id);
  if (c?.kind !== 'udp') return { error: `no UDP socket ${id}` };
  return new Promise((resolve) => {
    const send = () => c.s.send('?', (e) => e && done({ error: e.code ?? e.message }));
    const again = setInterval(send, 200);
    const t = setTimeout(() => done({ error: 'TIMEOUT' }), timeoutMs);
    const done = (r) => {
      clearInterval(again);
      clearTimeout(t);
      c.waiting = null;
      resolve(r);
    };
    c.waiting = done;
    send();
  });
}

const ops = {
  open: (m) => tcpOpen(m.host, m.port),
  ask: (m) => ask(m.conn),
  close: (m) => close(m.conn),
  once: (m) => once(m.host, m.port),
  udp: (m) => udpOpen(m.host, m.port),
  uask: (m) => uask(m.conn),
};

createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  const op = ops[m.op];
  const r = op === undefined ? { error: `unknown op ${m.op}` } : await op(m);
  process.stdout.write(`${JSON.stringify({ id: m.id, ...r })}\n`);
});
console.log('ready');
