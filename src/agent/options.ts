// strait-agent's flags. Every path is a flag or an environment setting (flag first),
// so several emulated nodes can run side by side on one machine.
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import type { RoutingMode } from '../cluster/nodes.js';
import type { MapSizes } from '../datapath/loader.js';
import { DEFAULT_AGENT_SOCKET } from './client.js';
import { DEPLOY_OPTIONS, DEPLOY_USAGE, parseDeployFlags, type DeployFlags } from './deploy-options.js';

export const DEFAULT_VXLAN_PORT = 8472;
export const DEFAULT_FLOW_RATE = 50_000;
export const DEFAULT_FLOW_BUFFER = 8192;
export const MAX_FLOW_BUFFER = 1_000_000;

export const AGENT_USAGE = `usage: strait-agent [flags]

  --node NAME          this node's name (env STRAIT_NODE_NAME, default: the host name)
  --source dir:PATH    where the cluster comes from: a directory of manifests
                       (YAML or JSON; Namespaces, Pods, NetworkPolicies, Nodes)
  --source kube        or the Kubernetes API: with --kubeconfig PATH, else the
                       pod's service account (KUBERNETES_SERVICE_HOST set)
  --kubeconfig PATH    the kubeconfig of --source kube (env KUBECONFIG)
  --state-dir DIR      env STRAIT_STATE_DIR, default /var/lib/strait
  --bpf-dir DIR        bpffs pin directory (env STRAIT_BPF_DIR, default /sys/fs/bpf/strait)
  --socket PATH        local API socket (env STRAIT_AGENT_SOCKET, default ${DEFAULT_AGENT_SOCKET})
  --log-level LEVEL    fatal, error, warn, info (default), debug, trace or silent
  --routing MODE       how pods of other nodes are reached (env STRAIT_ROUTING):
                       native (default: a route per node's pod CIDRs via its
                       InternalIP) or vxlan (a collect_md tunnel, strait_vxlan)
  --uplink IFACE       the interface toward the other nodes (env STRAIT_UPLINK,
                       default: the one holding this node's InternalIP)
  --vxlan-port N       UDP port of the VXLAN tunnel (default ${DEFAULT_VXLAN_PORT})
  --masquerade BOOL    pods' traffic to outside every pod CIDR leaves with the
                       node's address: true (default) or false
  --max-entries MAP=N[,MAP=N]
                       plan with at most N entries in a map (policy, ipcache, cidr),
                       fewer than it holds: a policy that does not fit is refused
                       (default: each map's max_entries); and the size of the
                       Service maps (service, backend, flow, affinity): a pinned
                       map of another size is replaced (its connections lost);
                       without it a pinned map keeps its size
  --flow-events on|off whether the datapath sends flow events (default on); off,
                       the agent still reports what the datapath counted
  --flow-events-rate N records a second each CPU may send, and its burst
                       (default ${DEFAULT_FLOW_RATE}; 0: no limit)
  --flow-buffer N      flow records kept for straitctl flows (default
                       ${DEFAULT_FLOW_BUFFER}, 1-${MAX_FLOW_BUFFER})
${DEPLOY_USAGE}`;

export type SourceSpec = { kind: 'dir'; path: string } | { kind: 'kube'; kubeconfig: string | null };

export type MapLimits = Partial<Record<'policy' | 'ipcache' | 'cidr', number>>;

const LIMITS = ['policy', 'ipcache', 'cidr'] as const;
const SIZES = ['service', 'backend', 'flow', 'affinity'] as const;

export interface AgentFlags {
  nodeName: string;
  source: SourceSpec;
  stateDir: string;
  bpfDir: string;
  socketPath: string;
  logLevel: string;
  maxEntries: MapLimits;
  /** the Service maps' sizes (--max-entries service=, backend=, flow=, affinity=) */
  mapSizes: MapSizes;
  routing: RoutingMode;
  /** --uplink; null: the interface holding this node's InternalIP */
  uplink: string | null;
  vxlanPort: number;
  masquerade: boolean;
  /** flow events (docs/observability.md) */
  flows: FlowFlags;
  /** health endpoint and CNI install (deploy-options.ts) */
  deploy: DeployFlags;
}

export interface FlowFlags {
  /** --flow-events on|off */
  enabled: boolean;
  /** --flow-events-rate: records a second per CPU (and the burst); 0: no limit */
  rate: number;
  /** --flow-buffer: records kept */
  buffer: number;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseSource(text: string, kubeconfig?: string, env: NodeJS.ProcessEnv = {}): SourceSpec {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const arg = colon < 0 ? '' : text.slice(colon + 1);
  if (kind === 'dir') {
    if (arg === '') throw new UsageError('--source dir:PATH needs a directory');
    return { kind: 'dir', path: resolve(arg) };
  }
  if (kind === 'kube' && colon < 0) {
    const path = kubeconfig ?? (env.KUBECONFIG || undefined);
    if (path !== undefined) return { kind: 'kube', kubeconfig: resolve(path) };
    if (env.KUBERNETES_SERVICE_HOST) return { kind: 'kube', kubeconfig: null };
    throw new UsageError('--source kube needs --kubeconfig PATH (or KUBECONFIG), or to run in a pod (KUBERNETES_SERVICE_HOST is not set)');
  }
  throw new UsageError(`--source takes dir:PATH or kube, not "${text}"`);
}

/** --max-entries: planning limits of the policy maps, sizes of the Service maps. */
export function parseMapLimits(text: string): { limits: MapLimits; sizes: MapSizes } {
  const limits: MapLimits = {};
  const sizes: MapSizes = {};
  for (const part of text.split(',')) {
    const m = /^([a-z]+)=([1-9][0-9]{0,8})$/.exec(part.trim());
    const name = m?.[1] ?? '';
    if ((LIMITS as readonly string[]).includes(name)) limits[name as keyof MapLimits] = Number(m![2]);
    else if ((SIZES as readonly string[]).includes(name)) sizes[name as keyof MapSizes] = Number(m![2]);
    else throw new UsageError(`--max-entries takes MAP=N[,MAP=N] with MAP ${[...LIMITS, ...SIZES].join(', ')} and N a positive integer, not "${part}"`);
  }
  return { limits, sizes };
}

/** Returns null for --help. */
export function parseAgentFlags(argv: string[], env: NodeJS.ProcessEnv): AgentFlags | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        node: { type: 'string' },
        source: { type: 'string' },
        kubeconfig: { type: 'string' },
        'state-dir': { type: 'string' },
        'bpf-dir': { type: 'string' },
        socket: { type: 'string' },
        'log-level': { type: 'string' },
        'max-entries': { type: 'string' },
        routing: { type: 'string' },
        uplink: { type: 'string' },
        'vxlan-port': { type: 'string' },
        masquerade: { type: 'string' },
        'flow-events': { type: 'string' },
        'flow-events-rate': { type: 'string' },
        'flow-buffer': { type: 'string' },
        ...DEPLOY_OPTIONS,
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help === true) return null;
  const path = (flag: string, v: string | undefined, envName: string, def: string): string => {
    const p = v ?? (env[envName] || undefined) ?? def;
    if (p === '') throw new UsageError(`--${flag} is empty`);
    return isAbsolute(p) ? p : resolve(p);
  };
  const nodeName = values.node ?? (env.STRAIT_NODE_NAME || undefined) ?? hostname();
  if (nodeName === '') throw new UsageError('--node is empty (and so is the host name)');
  if (values.source === undefined) throw new UsageError('--source is required (dir:PATH or kube)');
  if (values.kubeconfig !== undefined && values.source !== 'kube') throw new UsageError('--kubeconfig goes with --source kube');
  const logLevel = values['log-level'] ?? 'info';
  if (!LEVELS.includes(logLevel)) throw new UsageError(`--log-level takes ${LEVELS.join(', ')}, not "${logLevel}"`);
  return {
    nodeName,
    source: parseSource(values.source, values.kubeconfig, env),
    stateDir: path('state-dir', values['state-dir'], 'STRAIT_STATE_DIR', '/var/lib/strait'),
    bpfDir: path('bpf-dir', values['bpf-dir'], 'STRAIT_BPF_DIR', '/sys/fs/bpf/strait'),
    socketPath: path('socket', values.socket, 'STRAIT_AGENT_SOCKET', DEFAULT_AGENT_SOCKET),
    logLevel,
    ...maxEntriesFlags(values['max-entries']),
    ...nodeNetworkFlags(values, env),
    flows: flowFlags(values),
    deploy: parseDeployFlags(values),
  };
}

function maxEntriesFlags(text: string | undefined): Pick<AgentFlags, 'maxEntries' | 'mapSizes'> {
  if (text === undefined) return { maxEntries: {}, mapSizes: {} };
  const { limits, sizes } = parseMapLimits(text);
  return { maxEntries: limits, mapSizes: sizes };
}

function flowFlags(values: { 'flow-events'?: string; 'flow-events-rate'?: string; 'flow-buffer'?: string }): FlowFlags {
  const on = values['flow-events'] ?? 'on';
  if (on !== 'on' && on !== 'off') throw new UsageError(`--flow-events takes on or off, not "${on}"`);
  const count = (flag: string, text: string | undefined, def: number, min: number, max: number): number => {
    if (text === undefined) return def;
    const n = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
    if (!(n >= min && n <= max)) throw new UsageError(`--${flag} takes an integer ${min}-${max}, not "${text}"`);
    return n;
  };
  return {
    enabled: on === 'on',
    // a u32 in strait_event_config_v1
    rate: count('flow-events-rate', values['flow-events-rate'], DEFAULT_FLOW_RATE, 0, 0xffffffff),
    buffer: count('flow-buffer', values['flow-buffer'], DEFAULT_FLOW_BUFFER, 1, MAX_FLOW_BUFFER),
  };
}

type NodeNetworkFlags = Pick<AgentFlags, 'routing' | 'uplink' | 'vxlanPort' | 'masquerade'>;

function nodeNetworkFlags(
  values: { routing?: string; uplink?: string; 'vxlan-port'?: string; masquerade?: string },
  env: NodeJS.ProcessEnv,
): NodeNetworkFlags {
  const routing = values.routing ?? (env.STRAIT_ROUTING || undefined) ?? 'native';
  if (routing !== 'native' && routing !== 'vxlan') throw new UsageError(`--routing takes native or vxlan, not "${routing}"`);
  const uplink = values.uplink ?? (env.STRAIT_UPLINK || undefined) ?? null;
  // IFNAMSIZ: 15 bytes; the kernel refuses "/", ":" and whitespace.
  if (uplink !== null && (Buffer.byteLength(uplink) < 1 || Buffer.byteLength(uplink) > 15 || /[/:\s]/.test(uplink))) {
    throw new UsageError(`--uplink takes an interface name (1-15 bytes, no "/", ":" or whitespace), not "${uplink}"`);
  }
  const portText = values['vxlan-port'] ?? String(DEFAULT_VXLAN_PORT);
  const port = /^[1-9][0-9]{0,4}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) throw new UsageError(`--vxlan-port takes a UDP port (1-65535), not "${portText}"`);
  const masq = values.masquerade ?? 'true';
  if (masq !== 'true' && masq !== 'false') throw new UsageError(`--masquerade takes true or false, not "${masq}"`);
  return { routing, uplink, vxlanPort: port, masquerade: masq === 'true' };
}
