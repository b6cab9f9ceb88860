// The lab's state file: everything `down` needs to remove a lab, written before each
// thing it names is created. So `straitctl lab down` from another process finds a
// running lab, and one whose `lab up` crashed half-way is removed all the same.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StraitError, UsageError } from '../errors.js';
import type { Routing } from './topology.js';

export const DEFAULT_LAB_DIR = '/run/strait/lab';

export interface LabNode {
  index: number;
  name: string;
  netns: string;
  /** the node's own directory: state dir, bpffs, socket, conflist, agent log */
  dir: string;
  stateDir: string;
  bpfDir: string;
  socket: string;
  conflist: string;
  agentLog: string;
  agentPid: number | null;
}

export interface LabPod {
  name: string;
  /** the node's index */
  node: number;
  netns: string;
  containerId: string;
  labels: Record<string, string>;
  /** empty until ADD answered */
  ips: string[];
  serverPid: number | null;
}

/** The API emulation of a lab on --source kube (src/lab/api.ts). */
export interface LabApiState {
  pid: number | null;
  /** its unix socket (the lab's writes) */
  socket: string;
  /** what the agents are given (--kubeconfig) */
  kubeconfig: string;
  log: string;
  /** last written resourceVersion by plural: what the agents must have seen to be caught up */
  written: Record<string, number>;
}

export type LabSource = 'dir' | 'kube';

export interface LabState {
  name: string;
  /** netns names start with it */
  prefix: string;
  routing: Routing;
  dualStack: boolean;
  /** <labDir>/<name>: every file and mount of the lab lives below it */
  dir: string;
  /** where the agents' cluster state comes from (absent in older state files: dir) */
  source?: LabSource;
  /** the shared manifest directory: the API server on dir, the record of the lab's writes on kube */
  manifests: string;
  /** on kube: the API emulation */
  api?: LabApiState;
  /** every netns it made or is about to make */
  netns: string[];
  /** every mount point, in mount order */
  mounts: string[];
  nodes: LabNode[];
  pods: LabPod[];
}

const NAME = /^[a-z][a-z0-9]{0,11}$/;

export function checkLabName(name: string): string {
  if (!NAME.test(name)) throw new UsageError(`a lab name is 1-12 lower-case letters and digits, starting with a letter, not "${name}"`);
  return name;
}

export const statePath = (labDir: string, name: string): string => join(labDir, `${name}.json`);

export function readState(labDir: string, name: string): LabState | null {
  let text: string;
  try {
    text = readFileSync(statePath(labDir, name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return JSON.parse(text) as LabState;
  } catch (e) {
    throw new StraitError('E_DECODE', `${statePath(labDir, name)} is not a lab state file: ${(e as Error).message}`);
  }
}

/** write + rename: a reader never sees half a file, a crash leaves the last whole one. */
export function writeState(labDir: string, s: LabState): void {
  mkdirSync(labDir, { recursive: true });
  const path = statePath(labDir, s.name);
  writeFileSync(`${path}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${path}.tmp`, path);
}

export function removeState(labDir: string, name: string): void {
  rmSync(statePath(labDir, name), { force: true });
}
