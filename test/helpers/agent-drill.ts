// What the agent-path drills (kills, the DEL queue) check after a DEL: everything an
// ADD makes, counted where it lives — leases, host veths, endpoint records, the
// endpoint and link map entries — and the agent's own count of endpoints.
import { spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as bpf from '../../src/datapath/bpf.js';
import { MapName } from '../../src/datapath/maps/names.js';
import { listEndpointRecords } from '../../src/state/endpoint-record.js';
import { leaseCount } from './leases.js';
import { sh } from './sys.js';

const STRAITCTL = fileURLToPath(new URL('../../bin/straitctl', import.meta.url));

export interface Leftovers {
  leases: number;
  veths: number;
  records: number;
  endpoints: number;
  links: number;
}

function mapEntries(bpfDir: string, name: string): number {
  const fd = bpf.getPinned(join(bpfDir, name));
  if (fd === null) return 0; // never pinned: nothing in it
  try {
    return bpf.mapDump(fd).length;
  } finally {
    bpf.closeFd(fd);
  }
}

/** Everything of `network` in (stateDir, bpfDir) and in the host namespace: all zero once every pod is DELed. */
export function leftovers(d: { stateDir: string; bpfDir: string }, network: string): Leftovers {
  return {
    leases: leaseCount(d.stateDir, network),
    veths: sh('ip', ['-o', 'link', 'show']).split('\n').filter((l) => l.includes(`alias strait/${network}/`)).length,
    records: listEndpointRecords(d.stateDir).length,
    endpoints: mapEntries(d.bpfDir, MapName.endpoints),
    links: mapEntries(d.bpfDir, MapName.links),
  };
}

export const NOTHING: Leftovers = { leases: 0, veths: 0, records: 0, endpoints: 0, links: 0 };

/** The endpoints the agent at `socket` holds (straitctl status). */
export function agentEndpoints(socket: string): number {
  const r = spawnSync(STRAITCTL, ['status', '--socket', socket, '-o', 'json'], { encoding: 'utf8' });
  if (r.status === 2 || r.stdout === '') throw new Error(`straitctl status: ${r.status} ${r.stdout}${r.stderr}`);
  return (JSON.parse(r.stdout) as { endpoints: number }).endpoints;
}

/** A running plugin's end: its exit code and stdout, or 'hung' after `boundMs` (it is killed then). */
export function settle(child: ChildProcessWithoutNullStreams, boundMs = 30_000): Promise<{ code: number | null; stdout: string } | 'hung'> {
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.resume();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('hung');
    }, boundMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout });
    });
  });
}
