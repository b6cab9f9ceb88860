// `straitctl monitor` shows what the network did, live (issue #14, "Done when"): the
// real agent on a manifest directory, three pods through bin/strait and a
// NetworkPolicy that lets only `client` reach `web`. With `straitctl monitor -o json`
// running as a child process, a connection from `other` is denied while it watches:
// its line arrives, with both pods' names, the reason and the port, before the test
// looks anywhere else; an allowed connection names the policy that allowed it; the
// table shows the same; `straitctl flows` has them afterwards; and filters keep out
// what they should.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FlowRecord } from '../../src/flows/types.js';
import { BIN } from '../../src/lab/run.js';
import { Cluster } from '../helpers/cluster.js';
import { cleanupAll, isRoot, warnIfNotRoot } from '../helpers/sys.js';
import { NAMESPACE_X, PODS, WEB_FROM_CLIENT } from '../helpers/web-client-other.js';

warnIfNotRoot('straitctl monitor against a real agent');

/** straitctl as a child process, its stdout lines as they come. */
class Straitctl {
  readonly lines: string[] = [];
  err = '';
  private readonly waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const w of [...this.waiters]) {
        if (w.pred(line)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.exited = new Promise((resolve) => child.once('exit', resolve));
  }

  /** The first line (already printed or still to come) that pred accepts, or a timeout's error. */
  next(pred: (l: string) => boolean, what: string, ms = 15_000): Promise<string> {
    const seen = this.lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line ${what} within ${ms} ms; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.err}`)), ms);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    return this.exited;
  }
}

describe.skipIf(!isRoot)('straitctl monitor, live against the real agent', () => {
  const c = isRoot ? new Cluster('198.18.94.0/24') : (null as unknown as Cluster);
  const running: Straitctl[] = [];
  const straitctl = (args: string[]): Straitctl => {
    const s = new Straitctl(spawn(BIN('straitctl'), [...args, '--socket', c.socket], { stdio: ['ignore', 'pipe', 'pipe'] }));
    running.push(s);
    return s;
  };
  const json = (line: string): FlowRecord => JSON.parse(line) as FlowRecord;

  beforeAll(async () => {
    c.write('namespaces.yaml', NAMESPACE_X);
    c.write('pods.yaml', PODS);
    await c.startAgent([]);
    for (const name of ['web', 'client', 'other']) await c.addPod({ namespace: 'x', name, labels: {} }, ['tcp:80']);
    c.write('policy.yaml', WEB_FROM_CLIENT);
    await c.waitSynced();
  }, 120_000);

  afterAll(async () => {
    for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await c?.stop();
    cleanupAll();
  });

  it('shows a denied connection as it happens, with both pods, the reason and the port', async () => {
    const [web, other] = [c.pod('x/web'), c.pod('x/other')];
    const mon = straitctl(['monitor', '-o', 'json']);
    // Attached once the agent has answered the stream: the agent's flows of the pods'
    // own start (ARP, ND) may already flow; a probe of our own proves it is live.
    await new Promise((r) => setTimeout(r, 1000));
    expect(mon.child.exitCode).toBeNull();
    const linesBefore = mon.lines.length;
    expect(await c.probe([{ from: other, to: web, proto: 'tcp', port: 80 }])).toEqual([false]);
    const line = await mon.next((l) => {
      const r = json(l);
      return r.verdict === 'denied' && r.dst.ip === web.ip && r.dst.port === 80;
    }, 'for the denied connection to x/web');
    expect(mon.lines.indexOf(line)).toBeGreaterThanOrEqual(linesBefore);
    const r = json(line);
    expect(r).toMatchObject({
      verdict: 'denied',
      reason: 'policy-ingress',
      event: 'drop',
      protocol: 'tcp',
      src: { ip: other.ip, pod: 'x/other' },
      dst: { ip: web.ip, port: 80, pod: 'x/web' },
    });
    expect(typeof r.src.port).toBe('number');
    expect(r.tcpFlags).toEqual(['SYN']);
    expect(Date.parse(r.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(await mon.stop()).toBe(0);
    // stdout is records only: every line a FlowRecord with the stable fields
    for (const l of mon.lines) expect(Object.keys(json(l))).toEqual(expect.arrayContaining(['time', 'verdict', 'reason', 'protocol', 'src', 'dst']));
  });

  it('an allowed connection is a new one, allowed by the policy it names; the table says the same', async () => {
    const [web, client, other] = [c.pod('x/web'), c.pod('x/client'), c.pod('x/other')];
    const mon = straitctl(['monitor', '-o', 'json', '--pod', 'x/web', '--verdict', 'allowed']);
    const table = straitctl(['monitor', '--namespace', 'x', '--port', '80']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await c.probe([{ from: client, to: web, proto: 'tcp', port: 80 }])).toEqual([true]);
    expect(await c.probe([{ from: other, to: web, proto: 'tcp', port: 80 }])).toEqual([false]);
    const line = await mon.next((l) => json(l).event === 'new' && json(l).src.pod === 'x/client', 'for the allowed connection');
    expect(json(line)).toMatchObject({ verdict: 'allowed', reason: 'policy', policies: ['x/web-from-client'], protocol: 'tcp', dst: { pod: 'x/web', port: 80 } });
    // The denied one happened after, and the filter kept it out.
    await table.next((l) => l.includes('DENIED') && l.includes('x/other'), 'in the table for the denial');
    expect(mon.lines.map(json).every((x) => x.verdict === 'allowed' && (x.src.pod === 'x/web' || x.dst.pod === 'x/web'))).toBe(true);
    const denied = table.lines.find((l) => l.includes('DENIED') && l.includes('x/other'))!;
    expect(denied).toContain('x/web');
    expect(denied).toContain('policy-ingress');
    expect(await mon.stop()).toBe(0);
    expect(await table.stop()).toBe(0);
  });

  it('straitctl flows has them afterwards, from the agent buffer', async () => {
    const flows = straitctl(['flows', '--last', '1000', '-o', 'json', '--verdict', 'denied']);
    expect(await flows.exited).toBe(0);
    const records = flows.lines.map(json);
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(records.every((r) => r.verdict === 'denied')).toBe(true);
    expect(records.some((r) => r.src.pod === 'x/other' && r.dst.pod === 'x/web' && r.reason === 'policy-ingress')).toBe(true);
    // oldest first
    const times = records.map((r) => r.time);
    expect([...times].sort()).toEqual(times);
  });
});
