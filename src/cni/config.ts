// The network configuration on stdin: decoded, checked field by field, and resolved
// into what the commands need. Anything we do not understand is refused (code 2)
// rather than silently ignored, so a typo in a conflist fails loudly at ADD.

import type { CniCommand } from './env.js';
import { CNI_ID_RE, macProblem, NETWORK_NAME_MAX_BYTES } from './env.js';
import { errors } from '../errors.js';
import { asText, isInteger, isObject, typeName, type JsonObject } from './json.js';
import { fromAnyVersion, parseDns, type Dns, type Result } from './result.js';
import { assertCommandAllowed, assertSupported, type CniVersion } from './version.js';


export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Required except for VERSION, where a missing ipam reads as `{type: '', raw: {}}`. */
  ipam: { type: string; raw: Record<string, unknown> };
  mtu: number | null;
  dns: Dns | null;
  paths: { stateDir: string; bpfDir: string; agentSocket: string | null };
  /** how long ADD waits for the agent to make a new endpoint ready (null: the default) */
  agentTimeoutMs: number | null;
  logFile: string | null;
  /** null: the logger's defaults (warn on stderr, info in the log file) */
  logLevel: LogLevel | null;
  /** Keys we use, read case-insensitively; `raw` is the runtimeConfig exactly as given. */
  runtime: { ips: string[]; mac: string | null; raw: Record<string, unknown> };
  prevResult: Result | null;
  /** GC: the attachments to keep (required for GC, [] for other commands when absent). */
  validAttachments: Attachment[];
  /** The whole parsed config, handed unchanged to delegated IPAM plugins. */
  raw: Record<string, unknown>;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_STATE_DIR = '/var/lib/strait';
export const DEFAULT_BPF_DIR = '/sys/fs/bpf/strait';

const KNOWN_KEYS = new Set([
  'cniVersion',
  'cniVersions',
  'name',
  'type',
  'ipam',
  'mtu',
  'stateDir',
  'bpfDir',
  'agentSocket',
  'agentTimeoutMs',
  'logFile',
  'logLevel',
  'dns',
  'args',
  'ipMasq',
  'capabilities',
  'runtimeConfig',
  'prevResult',
  'disableCheck',
  'disableGC',
  // libcni injects both for GC: the older name survives from a spec typo.
  'cni.dev/valid-attachments',
  'cni.dev/attachments',
]);

const wrongType = (field: string, expected: string, got: unknown) =>
  errors.config(`field '${field}' must be ${expected}, got ${typeName(got)}`);

function decode(stdin: string | Buffer): JsonObject {
  let obj: unknown;
  try {
    obj = JSON.parse(asText(stdin));
  } catch (e) {
    throw errors.decode(`network configuration is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(obj)) throw errors.decode(`network configuration must be a JSON object, got ${typeName(obj)}`);
  return obj;
}

/**
 * VERSION's stdin is at most `{"cniVersion": "..."}` and may be absent or junk: never
 * fail on it, just report the version if one is readable.
 */
export function parseVersionRequest(stdin: string | Buffer): { cniVersion: string | null } {
  try {
    const obj: unknown = JSON.parse(asText(stdin));
    if (isObject(obj) && typeof obj.cniVersion === 'string') return { cniVersion: obj.cniVersion };
  } catch {
    // lenient by design
  }
  return { cniVersion: null };
}

function optString(o: JsonObject, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw wrongType(field, 'a string', v);
  return v;
}

function optAbsPath(o: JsonObject, field: string): string | undefined {
  const v = optString(o, field);
  if (v !== undefined && !v.startsWith('/')) throw errors.config(`field '${field}' must be an absolute path, got '${v}'`);
  return v;
}

function optObject(o: JsonObject, field: string): JsonObject | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (!isObject(v)) throw wrongType(field, 'an object', v);
  return v;
}

/** An env override: empty means unset; a relative path is the caller's mistake (code 4). */
function envPath(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (!v) return undefined;
  if (!v.startsWith('/')) throw errors.env(`${name} must be an absolute path, got '${v}'`);
  return v;
}

/**
 * The value under `key` in runtimeConfig, matching the key case-insensitively:
 * containerd sends Go-style `IPs`, `Mac`, `PortMappings`. Several spellings with
 * different values are ambiguous (code 7).
 */
export function runtimeConfigValue(rc: JsonObject, key: string): unknown {
  const want = key.toLowerCase();
  const hits = Object.keys(rc).filter((k) => k.toLowerCase() === want);
  const first = hits[0];
  if (first === undefined) return undefined;
  const json = JSON.stringify(rc[first]);
  const clash = hits.find((k) => JSON.stringify(rc[k]) !== json);
  if (clash !== undefined) {
    throw errors.config(`runtimeConfig has conflicting keys '${first}' and '${clash}'`);
  }
  return rc[first];
}

function parseRuntime(rc: JsonObject | undefined): NetConf['runtime'] {
  const runtime: NetConf['runtime'] = { ips: [], mac: null, raw: rc ?? {} };
  if (!rc) return runtime;
  const ips = runtimeConfigValue(rc, 'ips');
  if (ips !== undefined && ips !== null) {
    if (!Array.isArray(ips) || !ips.every((x) => typeof x === 'string')) {
      throw wrongType('runtimeConfig.ips', 'an array of strings', ips);
    }
    runtime.ips = [...ips];
  }
  const mac = runtimeConfigValue(rc, 'mac');
  if (mac !== undefined && mac !== null && mac !== '') {
    if (typeof mac !== 'string') throw wrongType('runtimeConfig.mac', 'a string', mac);
    const problem = macProblem(mac);
    if (problem) throw errors.config(`runtimeConfig.mac '${mac}' ${problem}`);
    runtime.mac = mac.toLowerCase();
  }
  return runtime;
}

function parseAttachments(v: unknown, field: string): Attachment[] {
  if (!Array.isArray(v)) throw wrongType(field, 'an array', v);
  return v.map((a, i) => {
    const where = `${field}[${i}]`;
    if (!isObject(a)) throw wrongType(where, 'an object', a);
    const { containerID, ifname } = a;
    if (typeof containerID !== 'string' || containerID === '') {
      throw wrongType(`${where}.containerID`, 'a non-empty string', containerID);
    }
    if (typeof ifname !== 'string' || ifname === '') throw wrongType(`${where}.ifname`, 'a non-empty string', ifname);
    return { containerId: containerID, ifname };
  });
}

function parseIpam(v: unknown, command: CniCommand): NetConf['ipam'] {
  if (v === undefined && command === 'VERSION') return { type: '', raw: {} };
  if (v === undefined) throw errors.config(`field 'ipam' is required for ${command}`);
  if (!isObject(v)) throw wrongType('ipam', 'an object', v);
  const type = v.type;
  if (type === undefined) throw errors.config("field 'ipam.type' is required");
  if (typeof type !== 'string') throw wrongType('ipam.type', 'a string', type);
  if (type === '') throw errors.config("field 'ipam.type' must not be empty");
  return { type, raw: v };
}

/** Parse stdin for `command`. `env` supplies the STRAIT_* path overrides (config wins). */
export function parseConfig(stdin: string | Buffer, command: CniCommand, env: NodeJS.ProcessEnv): NetConf {
  const obj = decode(stdin);

  const cniVersion = obj.cniVersion;
  if (cniVersion === undefined || cniVersion === '') throw errors.config("field 'cniVersion' is required");
  if (typeof cniVersion !== 'string') throw wrongType('cniVersion', 'a string', cniVersion);
  assertSupported(cniVersion);
  assertCommandAllowed(cniVersion, command);

  const unknown = Object.keys(obj).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) {
    throw errors.unsupportedField(
      `unsupported field${unknown.length > 1 ? 's' : ''} in network configuration: ${unknown.map((k) => `'${k}'`).join(', ')}`,
    );
  }

  const name = obj.name;
  if (name === undefined) throw errors.config("field 'name' is required");
  if (typeof name !== 'string') throw wrongType('name', 'a string', name);
  if (!CNI_ID_RE.test(name)) {
    throw errors.config(
      `invalid network name '${name}'`,
      'a network name starts with a letter or digit, followed by letters, digits, _ . or -',
    );
  }
  if (name.length > NETWORK_NAME_MAX_BYTES) {
    throw errors.config(`field 'name' is ${name.length} bytes long, at most ${NETWORK_NAME_MAX_BYTES} are allowed`);
  }

  const type = obj.type;
  if (type === undefined) throw errors.config("field 'type' is required");
  if (typeof type !== 'string') throw wrongType('type', 'a string', type);
  if (type === '') throw errors.config("field 'type' must not be empty");

  const ipam = parseIpam(obj.ipam, command);

  let mtu: number | null = null;
  if (obj.mtu !== undefined) {
    if (!isInteger(obj.mtu)) throw wrongType('mtu', 'an integer', obj.mtu);
    if (obj.mtu < 68 || obj.mtu > 65535) throw errors.config(`field 'mtu' must be in 68..65535, got ${obj.mtu}`);
    mtu = obj.mtu;
  }

  const paths = {
    stateDir: optAbsPath(obj, 'stateDir') ?? envPath(env, 'STRAIT_STATE_DIR') ?? DEFAULT_STATE_DIR,
    bpfDir: optAbsPath(obj, 'bpfDir') ?? envPath(env, 'STRAIT_BPF_DIR') ?? DEFAULT_BPF_DIR,
    agentSocket: optAbsPath(obj, 'agentSocket') ?? envPath(env, 'STRAIT_AGENT_SOCKET') ?? null,
  };
  const logFile = optAbsPath(obj, 'logFile') ?? null;

  let agentTimeoutMs: number | null = null;
  if (obj.agentTimeoutMs !== undefined) {
    if (!isInteger(obj.agentTimeoutMs)) throw wrongType('agentTimeoutMs', 'an integer', obj.agentTimeoutMs);
    if (obj.agentTimeoutMs < 1 || obj.agentTimeoutMs > 600_000) {
      throw errors.config(`field 'agentTimeoutMs' must be in 1..600000, got ${obj.agentTimeoutMs}`);
    }
    agentTimeoutMs = obj.agentTimeoutMs;
  }

  const logLevel = optString(obj, 'logLevel') ?? null;
  if (logLevel !== null && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw errors.config(`field 'logLevel' must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  }

  const dns = obj.dns === undefined ? null : parseDns(obj.dns, 'dns');
  optObject(obj, 'args');
  optObject(obj, 'capabilities');

  if (obj.ipMasq !== undefined) {
    if (typeof obj.ipMasq !== 'boolean') throw wrongType('ipMasq', 'a boolean', obj.ipMasq);
    if (obj.ipMasq) throw errors.unsupportedField('ipMasq is not supported by strait', 'strait routes pod traffic natively and does not masquerade');
  }
  for (const flag of ['disableCheck', 'disableGC'] as const) {
    if (obj[flag] !== undefined && typeof obj[flag] !== 'boolean') throw wrongType(flag, 'a boolean', obj[flag]);
  }

  const runtime = parseRuntime(optObject(obj, 'runtimeConfig'));

  let prevResult: Result | null = null;
  if (obj.prevResult !== undefined && obj.prevResult !== null) {
    if (!isObject(obj.prevResult)) throw wrongType('prevResult', 'an object', obj.prevResult);
    prevResult = fromAnyVersion(obj.prevResult, { fallbackVersion: cniVersion, what: 'prevResult' });
  }

  let validAttachments: Attachment[] | undefined;
  for (const field of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    if (obj[field] === undefined || obj[field] === null) continue;
    const parsed = parseAttachments(obj[field], field);
    validAttachments ??= parsed; // the current name wins when both are present
  }
  // libcni always sends the list (possibly empty). Without one, GC would read as
  // "nothing is valid" and wipe every lease of the network: refuse instead.
  if (command === 'GC' && validAttachments === undefined) {
    throw errors.config("GC needs 'cni.dev/valid-attachments' in the network configuration");
  }

  return {
    cniVersion,
    name,
    type,
    ipam,
    mtu,
    dns,
    paths,
    agentTimeoutMs,
    logFile,
    logLevel: logLevel as LogLevel | null,
    runtime,
    prevResult,
    validAttachments: validAttachments ?? [],
    raw: obj,
  };
}
