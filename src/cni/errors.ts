// Stable error codes for every layer, and their CNI spec codes at the boundary.
// Each StraitError carries a stable string `code` (for logs, tests and callers that
// branch on it) and the numeric CNI code the plugin prints on stdout.

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

export class StraitError extends Error {
  override readonly name = 'StraitError';
  constructor(
    /** stable machine-readable code, e.g. 'E_POOL_EXHAUSTED' */
    readonly code: string,
    /** a CniCode, or the code a delegated plugin reported, passed through */
    readonly cniCode: CniCodeValue | number,
    message: string,
    readonly details = '',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isStraitError = (e: unknown): e is StraitError => e instanceof StraitError;

/** Shorthands for the errors every module raises. */
export const errors = {
  decode: (msg: string, details = '') => new StraitError('E_DECODE', CniCode.DecodeFailure, msg, details),
  config: (msg: string, details = '') => new StraitError('E_CONFIG', CniCode.InvalidNetworkConfig, msg, details),
  unsupportedField: (msg: string, details = '') =>
    new StraitError('E_UNSUPPORTED_FIELD', CniCode.UnsupportedField, msg, details),
  env: (msg: string, details = '') => new StraitError('E_ENV', CniCode.InvalidEnvironment, msg, details),
  version: (msg: string, details = '') =>
    new StraitError('E_INCOMPATIBLE_VERSION', CniCode.IncompatibleVersion, msg, details),
  io: (msg: string, details = '', cause?: unknown) =>
    new StraitError('E_IO', CniCode.IoFailure, msg, details, { cause }),
  poolExhausted: (msg: string, details = '') =>
    new StraitError('E_POOL_EXHAUSTED', CniCode.PoolExhausted, msg, details),
  addressUnavailable: (msg: string, details = '') =>
    new StraitError('E_ADDRESS_UNAVAILABLE', CniCode.AddressUnavailable, msg, details),
  interfaceExists: (msg: string, details = '') =>
    new StraitError('E_INTERFACE_EXISTS', CniCode.InterfaceExists, msg, details),
  netns: (msg: string, details = '', cause?: unknown) =>
    new StraitError('E_NETNS', CniCode.NetnsInvalid, msg, details, { cause }),
  netlink: (msg: string, details = '', cause?: unknown) =>
    new StraitError('E_NETLINK', CniCode.Netlink, msg, details, { cause }),
  datapathFull: (msg: string, details = '') => new StraitError('E_DATAPATH_FULL', CniCode.DatapathFull, msg, details),
  checkFailed: (msg: string, details = '') =>
    new StraitError('E_CHECK_FAILED', CniCode.CheckFailed, msg, details),
  internal: (msg: string, details = '', cause?: unknown) =>
    new StraitError('E_INTERNAL', CniCode.Internal, msg, details, { cause }),
};
