// The CNI boundary of the error model (src/errors.ts): the one place that knows CNI
// spec codes and which stable code prints which.
import { fromAddon, StraitError, type ErrorCode } from '../errors.js';

/** Numeric error codes from the CNI spec (SPEC.md "Error"), plus ours from 100 on. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginLimitedConnectivity: 51,
  // strait's own (100+ is reserved for plugins by the spec)
  Internal: 100,
  PoolExhausted: 101,
  AddressUnavailable: 102,
  InterfaceExists: 103,
  NetnsInvalid: 104,
  Netlink: 105,
  Delegate: 106,
  CheckFailed: 107,
  /** a datapath map has no room for a new endpoint (strait_endpoints_v1 at capacity) */
  DatapathFull: 108,
} as const;
export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

const C = CniCode;

/**
 * What each stable code prints. A Record over every ErrorCode, so a new code does not
 * compile until it has its CNI code. Codes the plugin never raises (the agent API's,
 * command lines') are 100: should one ever reach here, it is a bug.
 */
export const CNI_CODE_OF: Readonly<Record<ErrorCode, CniCodeValue>> = {
  E_INCOMPATIBLE_VERSION: C.IncompatibleVersion,
  E_UNSUPPORTED_FIELD: C.UnsupportedField,
  E_ENV: C.InvalidEnvironment,
  E_DECODE: C.DecodeFailure,
  E_CONFIG: C.InvalidNetworkConfig,
  E_IO: C.IoFailure,
  E_POOL_EXHAUSTED: C.PoolExhausted,
  E_ADDRESS_UNAVAILABLE: C.AddressUnavailable,
  E_INTERFACE_EXISTS: C.InterfaceExists,
  E_NETNS: C.NetnsInvalid,
  E_CHECK_FAILED: C.CheckFailed,
  E_NETLINK: C.Netlink,
  E_SYSCALL: C.Internal,
  E_BPF_OBJECT: C.IoFailure,
  E_BPF_MAP: C.IoFailure,
  E_BPF_PIN: C.IoFailure,
  E_BPFFS: C.IoFailure,
  E_DATAPATH_FULL: C.DatapathFull,
  E_NATIVE_LOAD: C.Internal,
  E_STORE_UNUSABLE: C.PluginNotAvailable,
  E_STATUS_POOL_EXHAUSTED: C.PluginNotAvailable,
  E_STATUS_DATAPATH_FULL: C.PluginNotAvailable,
  E_AGENT_DOWN: C.PluginNotAvailable,
  E_STATUS_NO_POD_CIDRS: C.PluginNotAvailable,
  // the runtime should retry: the agent may come (back) up
  E_AGENT_NOT_RUNNING: C.TryAgainLater,
  E_AGENT_PERMISSION: C.TryAgainLater,
  E_AGENT_TIMEOUT: C.TryAgainLater,
  E_AGENT_IO: C.TryAgainLater,
  E_AGENT_NOT_READY: C.TryAgainLater,
  E_NODE_POD_CIDRS: C.TryAgainLater,
  E_AGENT_FAILED: C.TryAgainLater,
  E_AGENT_PROTOCOL: C.Internal,
  E_AGENT_REFUSED: C.Internal,
  E_BAD_REQUEST: C.Internal,
  E_AGENT_CLOSING: C.TryAgainLater,
  E_FLOWS_UNAVAILABLE: C.Internal,
  E_NOT_FOUND: C.Internal,
  E_METHOD_NOT_ALLOWED: C.Internal,
  E_TOO_LARGE: C.Internal,
  E_SOCKET_IN_USE: C.Internal,
  E_SOURCE: C.Internal,
  E_OBJECT_INVALID: C.Internal,
  E_IDENTITY_EXHAUSTED: C.Internal,
  E_NFTABLES: C.Internal,
  E_USAGE: C.Internal,
  E_COMMAND: C.Internal,
  E_DELEGATE: C.Delegate,
  E_INTERNAL: C.Internal,
};

/** A delegated plugin's error, with the CNI code it printed passed through unchanged. */
export class DelegateError extends StraitError {
  override readonly name = 'DelegateError';
  constructor(
    /** what the delegate printed; 106 when it printed no code */
    readonly reportedCode: number,
    message: string,
    details: string,
  ) {
    super('E_DELEGATE', message, { details });
  }
}

/**
 * The CNI code anything thrown prints: a StraitError's by its code, a delegate's as it
 * reported it, a failed addon call that escaped its wrapper as that wrapper would have
 * mapped it, anything else 100.
 */
export function cniCodeOf(err: unknown): number {
  const e = fromAddon(err);
  if (e instanceof DelegateError) return e.reportedCode;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- total for the codes the types know; an unknown code at run time still maps to 100
  if (e instanceof StraitError) return CNI_CODE_OF[e.code] ?? C.Internal;
  return C.Internal;
}
