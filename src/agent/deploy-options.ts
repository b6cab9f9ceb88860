// The flags of the agent's life on a cluster node (issue #12): the health endpoint the
// kubelet probes and the install step that puts the CNI binary and conflist where the
// runtime looks. Kept apart from options.ts so each concern reads on its own; options.ts
// spreads DEPLOY_OPTIONS into its parseArgs table and calls parseDeployFlags.
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../errors.js';

export const DEPLOY_USAGE = `  --health-addr HOST:PORT
                       serve GET /healthz and /readyz there (default: off)
  --metrics-addr HOST:PORT
                       serve GET /metrics (Prometheus), /healthz and /readyz there
                       (default 127.0.0.1:9962; off: none). The same address as
                       --health-addr: one server for both
  --cni-bin-dir DIR    install bin/strait into DIR (the runtime's CNI bin dir)
  --cni-conf-dir DIR   write the conflist into DIR once the agent is ready
  --cni-conf-name NAME its file name (default 10-strait.conflist)
  --cni-conflist-template PATH
                       the conflist to write (JSON; the agent fills in its socket,
                       state dir and bpf dir); default: a built-in one
  --cni-exclusive      rename other CNIs' configs in the conf dir aside
  --uninstall          remove what the install wrote (recorded in the state dir),
                       put aside configs back, and exit
`;

export const DEPLOY_OPTIONS = {
  'health-addr': { type: 'string' },
  'metrics-addr': { type: 'string' },
  'cni-bin-dir': { type: 'string' },
  'cni-conf-dir': { type: 'string' },
  'cni-conf-name': { type: 'string' },
  'cni-conflist-template': { type: 'string' },
  'cni-exclusive': { type: 'boolean' },
  uninstall: { type: 'boolean' },
} as const;

export interface HealthAddr {
  host: string;
  port: number;
}

export interface InstallFlags {
  binDir: string | null;
  confDir: string | null;
  confName: string;
  template: string | null;
  exclusive: boolean;
}

export interface DeployFlags {
  /** --health-addr; null: no health endpoint */
  health: HealthAddr | null;
  /** --metrics-addr; null: off. `explicit` false: the default, whose bind failing is only a warning */
  metrics: (HealthAddr & { explicit: boolean }) | null;
  /** null when neither --cni-bin-dir nor --cni-conf-dir is given: nothing to install */
  install: InstallFlags | null;
  uninstall: boolean;
}

export const DEFAULT_CONF_NAME = '10-strait.conflist';
/** Cilium's agent port too: a node runs one CNI. */
export const DEFAULT_METRICS_ADDR: HealthAddr = { host: '127.0.0.1', port: 9962 };

type DeployValues = Partial<Record<'health-addr' | 'metrics-addr' | 'cni-bin-dir' | 'cni-conf-dir' | 'cni-conf-name' | 'cni-conflist-template', string>> &
  Partial<Record<'cni-exclusive' | 'uninstall', boolean>>;

export function parseHealthAddr(text: string, flag = 'health-addr'): HealthAddr {
  // [v6]:port or host:port; the port may be 0 (any free one: tests).
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):([0-9]{1,5})$/.exec(text);
  const port = m === null ? -1 : Number(m[3]);
  if (m === null || port > 65535) throw new UsageError(`--${flag} takes HOST:PORT (e.g. 127.0.0.1:9876, [::1]:9876), not "${text}"`);
  return { host: m[1] ?? m[2]!, port };
}

export function parseDeployFlags(values: DeployValues): DeployFlags {
  const dir = (flag: string, v: string | undefined): string | null => {
    if (v === undefined) return null;
    if (v === '') throw new UsageError(`--${flag} is empty`);
    return isAbsolute(v) ? v : resolve(v);
  };
  const binDir = dir('cni-bin-dir', values['cni-bin-dir']);
  const confDir = dir('cni-conf-dir', values['cni-conf-dir']);
  const confName = values['cni-conf-name'] ?? DEFAULT_CONF_NAME;
  // libcni reads *.conf, *.conflist and *.json; a name it skips would never be used.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.(conflist|conf|json)$/.test(confName)) {
    throw new UsageError(`--cni-conf-name takes a file name ending in .conflist, .conf or .json, not "${confName}"`);
  }
  const template = dir('cni-conflist-template', values['cni-conflist-template']);
  const exclusive = values['cni-exclusive'] === true;
  if ((template !== null || exclusive || values['cni-conf-name'] !== undefined) && confDir === null) {
    throw new UsageError('--cni-conf-name, --cni-conflist-template and --cni-exclusive need --cni-conf-dir');
  }
  const install = binDir === null && confDir === null ? null : { binDir, confDir, confName, template, exclusive };
  // --uninstall reads what to undo from the state dir's record, not from these flags.
  const uninstall = values.uninstall === true;
  const health = values['health-addr'] === undefined ? null : parseHealthAddr(values['health-addr']);
  const m = values['metrics-addr'];
  const metrics = m === 'off' ? null : m === undefined ? { ...DEFAULT_METRICS_ADDR, explicit: false } : { ...parseHealthAddr(m, 'metrics-addr'), explicit: true };
  return { health, metrics, install, uninstall };
}
