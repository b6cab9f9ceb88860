// Runs inside a lab pod: a TCP connect to HOST:PORT every INTERVAL ms, each given up
// after TIMEOUT ms (a denied SYN is dropped, so a refusal is a connect that never
// completes). Results are taken in the order the connects were sent; each time the
// verdict changes a line {"ok":bool,"t":"<send time>"} is printed, t being the
// process.hrtime.bigint() (CLOCK_MONOTONIC, the same clock in every process of the
// machine) of the first connect of the new verdict. Nothing but node's own modules.
//   usage: node flip-probe.mjs HOST PORT INTERVAL_MS TIMEOUT_MS
import { connect } from 'node:net';

const [host, port, interval, timeout] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const sent = []; // send time of each connect, by sequence number
const result = []; // true/false once answered
let cursor = 0;
let state = null;

function advance() {
  while (result[cursor] !== undefined) {
    if (result[cursor] !== state) {
      state = result[cursor];
      process.stdout.write(`${JSON.stringify({ ok: state, t: String(sent[cursor]) })}\n`);
    }
    delete result[cursor];
    delete sent[cursor];
    cursor++;
  }
}

function probe() {
  const seq = sent.length;
  sent[seq] = process.hrtime.bigint();
  const s = connect({ host, port });
  let done = false;
  const finish = (ok) => {
    if (done) return;
    done = true;
    clearTimeout(t);
    s.destroy();
    result[seq] = ok;
    advance();
  };
  const t = setTimeout(() => finish(false), timeout);
  s.once('connect', () => finish(true));
  s.once('error', () => finish(false));
}

setInterval(probe, interval);
