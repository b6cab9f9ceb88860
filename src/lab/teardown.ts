// Removing a lab from its state file alone, whether `lab up` finished, crashed or is
// long gone: DEL every pod while its node's agent still answers, stop every process
// by PID, then delete the namespaces, unmount the bpffs mounts and remove the files.
// Each step goes on after a failure; what failed is returned, never hidden.
import { existsSync, rmSync } from 'node:fs';
import { stopProcess } from './agent.js';
import { cni } from './cni.js';
import { mountsBelow, netnsExists, processMatches, run, POD_TOOL } from './run.js';
import { removeState, type LabNode, type LabPod, type LabState } from './state.js';

/** DELs one pod and stops its server; the netns is removed by the caller. */
export async function releasePod(s: LabState, pod: LabPod, problems: string[]): Promise<void> {
  const node = s.nodes.find((n) => n.index === pod.node);
  if (node !== undefined && netnsExists(pod.netns) && netnsExists(node.netns) && existsSync(node.conflist)) {
    try {
      cni('DEL', node, pod);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (!(await stopProcess(pod.serverPid, POD_TOOL))) problems.push(`the server of ${pod.name} (pid ${pod.serverPid}) did not stop`);
}

export async function stopAgent(node: LabNode, problems: string[]): Promise<void> {
  if (!(await stopProcess(node.agentPid, node.socket))) problems.push(`the agent of ${node.name} (pid ${node.agentPid}) did not stop`);
  node.agentPid = null;
}

/** Ends whatever still runs inside a lab netns (an iperf3 of a crashed run): they are the lab's. */
async function killInside(netns: string, problems: string[]): Promise<void> {
  const pids = run('ip', ['netns', 'pids', netns]).stdout.split(/\s+/).filter((p) => p !== '').map(Number);
  for (const pid of pids) {
    // Marker '': any live process; it is in a namespace only the lab made.
    if (!(await stopProcess(pid, ''))) problems.push(`pid ${pid} in ${netns} did not stop`);
  }
}

export async function removeNetns(names: string[], problems: string[]): Promise<void> {
  for (const ns of names) {
    if (!netnsExists(ns)) continue;
    await killInside(ns, problems);
    const r = run('ip', ['netns', 'del', ns]);
    if (r.status !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
  }
}

export function unmount(points: string[], problems: string[]): void {
  for (const m of points) {
    if (mountsBelow(m).length === 0) continue;
    const r = run('umount', ['-l', m]);
    if (r.status !== 0) problems.push(`umount ${m}: ${r.stderr.trim()}`);
  }
}

export async function teardown(labDir: string, s: LabState): Promise<string[]> {
  const problems: string[] = [];
  for (const pod of [...s.pods].reverse()) await releasePod(s, pod, problems);
  for (const node of s.nodes) await stopAgent(node, problems);
  if (s.api !== undefined && !(await stopProcess(s.api.pid, s.api.socket))) problems.push(`the API emulation (pid ${s.api.pid}) did not stop`);
  // Pods first: their veths' host ends live in the node namespaces.
  const podNs = new Set(s.pods.map((p) => p.netns));
  await removeNetns([...s.netns.filter((n) => podNs.has(n)), ...s.netns.filter((n) => !podNs.has(n)).reverse()], problems);
  // Whatever the state file missed below the lab's directory goes too, deepest first.
  unmount([...new Set([...s.mounts, ...mountsBelow(s.dir)])].sort((a, b) => b.length - a.length), problems);
  if (mountsBelow(s.dir).length === 0) rmSync(s.dir, { recursive: true, force: true });
  else problems.push(`${s.dir} still has mounts; left in place`);
  if (problems.length === 0) removeState(labDir, s.name);
  return problems;
}

export const leftovers = (s: LabState): string[] => [
  ...s.netns.filter(netnsExists).map((n) => `netns ${n}`),
  ...mountsBelow(s.dir).map((m) => `mount ${m}`),
  ...s.nodes.filter((n) => n.agentPid !== null && processMatches(n.agentPid, n.socket)).map((n) => `agent of ${n.name}`),
  ...(s.api?.pid != null && processMatches(s.api.pid, s.api.socket) ? [`API emulation (pid ${s.api.pid})`] : []),
  ...(existsSync(s.dir) ? [`dir ${s.dir}`] : []),
];
