// The CNI_* environment, validated the way libcni's skel does it, plus the leniency
// real runtimes need (docs/runtimes.md): DEL without a netns, VERSION with `dummy` values,
// CNI_ARGS in any order with unknown keys under IgnoreUnknown.

import { errors } from '../errors.js';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

export interface CniArgs {
  /** IP=a,b — kept as strings (optionally with /prefix); IPAM validates them. */
  ips: string[];
  mac?: string;
  k8s: { namespace?: string; name?: string; uid?: string; infraContainerId?: string };
  /** Every pair as given (last one wins), including unknown keys under IgnoreUnknown. */
  raw: Record<string, string>;
}

export interface CniEnv {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  path: string[];
  args: CniArgs;
}

/** Container IDs and network names share this rule in the spec. */
export const CNI_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

// libcni checks only the characters of both; the lengths are limited by where strait
// puts them. The host veth's alias `strait/<network>/<container>/<ifname>` must fit
// IFALIASZ (255 bytes and a NUL): 7 + 100 + 1 + 128 + 1 + 15 = 252. Every file name
// built from them (leases, endpoint records, their temp files) stays far below
// NAME_MAX (255). Runtimes send 64-hex-digit IDs; 128 leaves room for any other.
// CNI_ID_RE admits ASCII only, so characters and bytes are the same here.
export const CONTAINER_ID_MAX_BYTES = 128;
export const NETWORK_NAME_MAX_BYTES = 100;

const isCommand = (c: string): c is CniCommand => (CNI_COMMANDS as readonly string[]).includes(c);

// Variables that must be non-empty, in skel's reporting order. STATUS and GC are
// lenient about CNI_PATH (we never exec anything for them without one being set).
const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  // containerd's second DEL carries CNI_NETNS="" and podman's cleanup may too.
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

const emptyArgs = (): CniArgs => ({ ips: [], k8s: {}, raw: {} });

/** Why `name` cannot be a Linux interface name, or null when it can. */
export function ifnameProblem(name: string): string | null {
  if (name === '') return 'must not be empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > 15) return `is ${bytes} bytes long, at most 15 are allowed`;
  if (name === '.' || name === '..') return `must not be '${name}'`;
  if (name.includes('/')) return "must not contain '/'";
  if (name.includes(':')) return "must not contain ':'";
  if (/\s/.test(name)) return 'must not contain whitespace';
  return null;
}

/**
 * Why `mac` cannot be a pod interface's MAC address (podman --mac-address sends it as
 * CNI_ARGS MAC=, other runtimes as runtimeConfig.mac), or null when it can: six
 * hex octets, unicast, not all zero.
 */
export function macProblem(mac: string): string | null {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) return 'is not a MAC address like 02:42:ac:11:00:02';
  const first = parseInt(mac.slice(0, 2), 16);
  if ((first & 1) !== 0) return 'is a multicast address';
  if (/^00(:00){5}$/.test(mac)) return 'is all zero';
  return null;
}

export const splitPath = (p: string | undefined): string[] => (p ?? '').split(':').filter((d) => d !== '');

export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND;
  if (!command) throw errors.env('required env variables [CNI_COMMAND] missing');
  if (!isCommand(command)) {
    throw errors.env(`unknown CNI_COMMAND '${command}'`, `expected one of ${CNI_COMMANDS.join(', ')}`);
  }
  // VERSION reads nothing else: podman sets CNI_NETNS/CNI_IFNAME/CNI_PATH to `dummy`.
  if (command === 'VERSION') return { command, path: [], args: emptyArgs() };

  const missing = REQUIRED[command].filter((name) => !env[name]);
  if (missing.length > 0) throw errors.env(`required env variables [${missing.join(',')}] missing`);

  const path = splitPath(env.CNI_PATH);
  // STATUS and GC are per network, not per container: any container variables a
  // runtime happens to leave set are not ours to judge.
  if (command === 'STATUS' || command === 'GC') return { command, path, args: emptyArgs() };

  const containerId = env.CNI_CONTAINERID ?? '';
  if (!CNI_ID_RE.test(containerId)) {
    throw errors.env(
      `invalid characters in containerID '${containerId}'`,
      'a container ID starts with a letter or digit, followed by letters, digits, _ . or -',
    );
  }
  if (containerId.length > CONTAINER_ID_MAX_BYTES) {
    throw errors.env(
      `CNI_CONTAINERID is ${containerId.length} bytes long, at most ${CONTAINER_ID_MAX_BYTES} are allowed`,
      'strait names the host veth alias and state files after the container ID',
    );
  }
  const ifname = env.CNI_IFNAME ?? '';
  const problem = ifnameProblem(ifname);
  if (problem) throw errors.env(`invalid interface name '${ifname}' in CNI_IFNAME: ${problem}`);

  const netns = env.CNI_NETNS || undefined;
  // Existence is the native layer's business; here only the form.
  if (netns !== undefined && !netns.startsWith('/')) {
    throw errors.env(`CNI_NETNS '${netns}' is not an absolute path`);
  }

  const out: CniEnv = { command, containerId, ifname, path, args: parseCniArgs(env.CNI_ARGS ?? '') };
  if (netns !== undefined) out.netns = netns;
  return out;
}

const KNOWN_ARGS = new Set([
  'IgnoreUnknown',
  'IP',
  'MAC',
  'K8S_POD_NAMESPACE',
  'K8S_POD_NAME',
  'K8S_POD_UID',
  'K8S_POD_INFRA_CONTAINER_ID',
]);

function parseBool(key: string, value: string): boolean {
  if (value === '1' || value === 'true' || value === 'True') return true;
  if (value === '0' || value === 'false' || value === 'False') return false;
  throw errors.env(`CNI_ARGS ${key}='${value}' is not a boolean (use 1/true/True or 0/false/False)`);
}

/** `K=V;K2=V2`, any order, whitespace around keys and values tolerated. */
export function parseCniArgs(s: string): CniArgs {
  const entries = new Map<string, string>();
  for (const part of s.split(';')) {
    const pair = part.trim();
    if (pair === '') continue; // tolerate "A=1;" and ";;"
    const eq = pair.indexOf('=');
    if (eq < 0) throw errors.env(`invalid CNI_ARGS pair '${pair}': expected KEY=VALUE`);
    const key = pair.slice(0, eq).trim();
    if (key === '') throw errors.env(`invalid CNI_ARGS pair '${pair}': empty key`);
    entries.set(key, pair.slice(eq + 1).trim());
  }

  // Decided before looking at any other key: IgnoreUnknown may come last.
  const ignoreRaw = entries.get('IgnoreUnknown');
  const ignoreUnknown = ignoreRaw !== undefined && parseBool('IgnoreUnknown', ignoreRaw);
  const unknown = [...entries.keys()].filter((k) => !KNOWN_ARGS.has(k));
  if (unknown.length > 0 && !ignoreUnknown) {
    const list = unknown.map((k) => `'${k}'`).join(', ');
    throw errors.env(
      `unknown CNI_ARGS key${unknown.length > 1 ? 's' : ''} ${list}`,
      'set IgnoreUnknown=1 to allow keys meant for other plugins',
    );
  }

  const args: CniArgs = { ips: [], k8s: {}, raw: Object.fromEntries(entries) };
  const ip = entries.get('IP');
  if (ip !== undefined) args.ips = ip.split(',').map((a) => a.trim()).filter((a) => a !== '');
  const mac = entries.get('MAC');
  if (mac) {
    const problem = macProblem(mac);
    if (problem) throw errors.env(`CNI_ARGS MAC='${mac}' ${problem}`);
    args.mac = mac.toLowerCase();
  }
  const k8s: [keyof CniArgs['k8s'], string][] = [
    ['namespace', 'K8S_POD_NAMESPACE'],
    ['name', 'K8S_POD_NAME'],
    ['uid', 'K8S_POD_UID'],
    ['infraContainerId', 'K8S_POD_INFRA_CONTAINER_ID'],
  ];
  for (const [field, key] of k8s) {
    const v = entries.get(key);
    if (v) args.k8s[field] = v;
  }
  return args;
}
