// strait's one error model, below every layer (the shape of undici's lib/core/errors.js):
// every failure strait raises is a StraitError whose `code` is a stable string naming
// its kind. Callers, logs and tests branch on `code`; nothing here knows how a kind is
// reported outside. The boundaries translate: src/cni/errors.ts maps each code to a CNI
// spec code once, the agent API (src/agent/api.ts) gives its errors an HTTP status.
//
// Kinds that carry more than a message are subclasses: UsageError and SyscallError
// here; at their boundaries ApiError (agent/api.ts: the HTTP status), AgentReplyError
// (agent/client.ts: the agent's own code), DelegateError (cni/errors.ts: the CNI code a
// delegate printed); ObjectError (policy/model.ts: the object and field at fault).
//
// Deliberately outside the model: InvalidArgError and BufferLengthError below stay a
// TypeError and a RangeError with Node-style ERR_* codes. They are programmer errors (a
// caller passed a value the typed wrapper refuses), not operational failures, and code
// that calls the datapath wrappers expects a bad argument to be a TypeError/RangeError,
// as Node's own APIs throw. At the CNI boundary they are 100, like any other bug.

/** Every stable code, grouped by the layer that raises it. */
export const ErrorCodes = [
  // request and configuration (src/cni, src/ipam)
  'E_INCOMPATIBLE_VERSION',
  'E_UNSUPPORTED_FIELD',
  'E_ENV',
  'E_DECODE',
  'E_CONFIG',
  'E_IO',
  // addresses (src/ipam)
  'E_POOL_EXHAUSTED',
  'E_ADDRESS_UNAVAILABLE',
  // the pod's interfaces and namespace
  'E_INTERFACE_EXISTS',
  'E_NETNS',
  'E_CHECK_FAILED',
  // the datapath (src/datapath); a failed addon call is a SyscallError of E_NETLINK or E_SYSCALL
  'E_NETLINK',
  'E_SYSCALL',
  'E_BPF_OBJECT',
  'E_BPF_MAP',
  'E_BPF_PIN',
  'E_BPFFS',
  'E_DATAPATH_FULL',
  'E_NATIVE_LOAD',
  // STATUS answers: the plugin cannot take an ADD now
  'E_STORE_UNUSABLE',
  'E_STATUS_POOL_EXHAUSTED',
  'E_STATUS_DATAPATH_FULL',
  'E_AGENT_DOWN',
  /** Kubernetes IPAM mode: this node has no spec.podCIDRs to allocate from yet */
  'E_STATUS_NO_POD_CIDRS',
  // talking to the agent (src/agent/client.ts)
  'E_AGENT_NOT_RUNNING',
  'E_AGENT_PERMISSION',
  'E_AGENT_TIMEOUT',
  'E_AGENT_IO',
  'E_AGENT_NOT_READY',
  /** Kubernetes IPAM mode: the agent knows no Node object for this node, or it has no spec.podCIDRs yet */
  'E_NODE_POD_CIDRS',
  'E_AGENT_PROTOCOL',
  /** the agent answered 5xx: its `agentCode` says why */
  'E_AGENT_FAILED',
  /** the agent answered 4xx: the request was wrong */
  'E_AGENT_REFUSED',
  // the agent's API (src/agent/api.ts, ApiError)
  'E_BAD_REQUEST',
  'E_NOT_FOUND',
  'E_METHOD_NOT_ALLOWED',
  'E_TOO_LARGE',
  'E_SOCKET_IN_USE',
  /** the agent is shutting down: no new CNI calls (the shim takes it as unreachable) */
  'E_AGENT_CLOSING',
  /** GET /v1/flows of an agent that keeps no flow records */
  'E_FLOWS_UNAVAILABLE',
  // the agent's sources and policy model
  'E_SOURCE',
  'E_OBJECT_INVALID',
  'E_IDENTITY_EXHAUSTED',
  /** nft failed (the agent's masquerade table, src/agent/nft.ts): nft's own message */
  'E_NFTABLES',
  // command lines (strait-agent, straitctl)
  'E_USAGE',
  /** a command straitctl lab runs failed */
  'E_COMMAND',
  /** a delegated plugin failed; src/cni's DelegateError carries the code it reported */
  'E_DELEGATE',
  'E_INTERNAL',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

export interface ErrorOptions {
  /** more words for the reader, printed as the CNI error's `details` */
  details?: string;
  cause?: unknown;
}

export class StraitError extends Error {
  override readonly name: string = 'StraitError';
  readonly details: string;
  constructor(
    /** stable machine-readable code, e.g. 'E_POOL_EXHAUSTED' */
    readonly code: ErrorCode,
    message: string,
    opts: ErrorOptions = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.details = opts.details ?? '';
  }
}

export const isStraitError = (e: unknown): e is StraitError => e instanceof StraitError;

/** A StraitError of this code? */
export const hasCode = (e: unknown, code: ErrorCode): e is StraitError => e instanceof StraitError && e.code === code;

type Factory = (msg: string, details?: string, cause?: unknown) => StraitError;
const kind =
  (code: ErrorCode): Factory =>
  (msg, details = '', cause) =>
    new StraitError(code, msg, { details, cause });

/** Shorthands for the kinds every module raises. */
export const errors = {
  version: kind('E_INCOMPATIBLE_VERSION'),
  unsupportedField: kind('E_UNSUPPORTED_FIELD'),
  env: kind('E_ENV'),
  decode: kind('E_DECODE'),
  config: kind('E_CONFIG'),
  io: kind('E_IO'),
  poolExhausted: kind('E_POOL_EXHAUSTED'),
  addressUnavailable: kind('E_ADDRESS_UNAVAILABLE'),
  interfaceExists: kind('E_INTERFACE_EXISTS'),
  netns: kind('E_NETNS'),
  checkFailed: kind('E_CHECK_FAILED'),
  netlink: kind('E_NETLINK'),
  datapathFull: kind('E_DATAPATH_FULL'),
  internal: kind('E_INTERNAL'),
};

/** A mistake on a command line (strait-agent's flags, straitctl's arguments): exit 2 with a message. */
export class UsageError extends StraitError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** What the addon throws (native/errors.cc): a Node-style system error. */
export interface AddonError extends Error {
  /** errno name, 'EEXIST'; or a libbpf/libnl code without an errno */
  code: string;
  errno?: number;
  /** the operation, as the addon names it: 'rtnl_route_add', 'bpf_map_update_elem' */
  syscall?: string;
  /** a failed bpf_object__load: libbpf's whole log */
  log?: string;
}

// ERR_INVALID_ARG is the addon's TypeError for an argument the wrapper should have refused.
export const isAddonError = (e: unknown): e is AddonError => {
  const code = (e as Partial<AddonError> | null)?.code;
  return e instanceof Error && !(e instanceof StraitError) && typeof code === 'string' && !code.startsWith('ERR_');
};

/**
 * A failed kernel or library call of the addon, as the datapath wrappers rethrow it:
 * E_NETLINK for netlink (libnl's rtnl_*, libbpf's tc and XDP attachment, which talk
 * netlink too), E_SYSCALL for the others (bpf(2), open, setns, flock). The errno and the operation stay.
 */
export class SyscallError extends StraitError {
  override readonly name = 'SyscallError';
  /** errno name: 'EEXIST', 'ENODEV' */
  readonly errnoName: string;
  readonly errno: number | undefined;
  readonly syscall: string;
  /** the addon's own message: the operation, its object and strerror */
  readonly nativeMessage: string;
  /** a failed load's libbpf log */
  readonly log: string | undefined;
  constructor(code: 'E_NETLINK' | 'E_SYSCALL', e: AddonError) {
    const syscall = e.syscall ?? 'addon';
    super(code, code === 'E_NETLINK' ? `netlink: ${e.message}` : e.message, {
      details: `${syscall} failed with ${e.code}`,
      cause: e,
    });
    this.errnoName = e.code;
    this.errno = e.errno;
    this.syscall = syscall;
    this.nativeMessage = e.message;
    this.log = e.log;
  }
}

/** Addon operations that talk netlink. */
const NETLINK_OPS = /^(rtnl_|nl_|bpf_tc_|bpf_xdp_)/;

/**
 * The model's error for whatever an addon call threw: an AddonError becomes a
 * SyscallError of its kind; anything else (InvalidArgError, a StraitError) is returned
 * as it is.
 */
export function fromAddon(e: unknown): unknown {
  if (!isAddonError(e)) return e;
  return new SyscallError(NETLINK_OPS.test(e.syscall ?? '') ? 'E_NETLINK' : 'E_SYSCALL', e);
}

/** Runs one addon call, rethrowing its failure in the model's terms. */
export function syscall<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw fromAddon(e);
  }
}

/** The errno name of a failed addon call ('ENOENT'), or undefined for any other error. */
export const errnoOf = (e: unknown): string | undefined => (e instanceof SyscallError ? e.errnoName : undefined);

/** A bad argument to a datapath wrapper (see the top of this file). */
export class InvalidArgError extends TypeError {
  override readonly name = 'InvalidArgError';
  readonly code = 'ERR_INVALID_ARG';
}

/** A key or value whose length does not match its map. */
export class BufferLengthError extends RangeError {
  override readonly name = 'BufferLengthError';
  readonly code = 'ERR_OUT_OF_RANGE';
}
