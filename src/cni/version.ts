// CNI spec versions strait speaks, and which commands each of them allows.
// Results are converted to the caller's version (result.ts); 0.1.0/0.2.0 are not
// supported because their result shape (ip4/ip6) cannot carry what we return.

import type { CniCommand } from './env.js';
import { errors } from '../errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const CURRENT_VERSION: CniVersion = '1.1.0';

/** The reply to VERSION. libcni only needs cniVersion + supportedVersions. */
export interface VersionReply {
  cniVersion: CniVersion;
  supportedVersions: CniVersion[];
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** [major, minor, patch], or null when `v` is not a plain X.Y.Z version. */
export function parseVersion(v: string): [number, number, number] | null {
  const m = SEMVER.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** Negative, zero or positive like a sort comparator. Throws code 1 on a malformed version. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) throw errors.version(`invalid CNI version '${pa ? b : a}'`);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const isSupported = (v: unknown): v is CniVersion =>
  typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);

/** Code 1 unless `v` is one of SUPPORTED_VERSIONS; `where` names the field it came from. */
export function assertSupported(v: unknown, where?: string): asserts v is CniVersion {
  if (!isSupported(v)) {
    const shown = typeof v === 'string' ? `'${v}'` : String(v);
    throw errors.version(
      `${where === undefined ? '' : `${where}: `}incompatible CNI version ${shown}: strait supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
}

/** The first spec version that defines each command. */
const INTRODUCED_IN: Record<CniCommand, CniVersion> = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  VERSION: '0.3.0',
  CHECK: '0.4.0',
  STATUS: '1.1.0',
  GC: '1.1.0',
};

export const commandAllowed = (version: CniVersion, command: CniCommand): boolean =>
  compareVersions(version, INTRODUCED_IN[command]) >= 0;

/** Code 1 when the config's version predates the command (e.g. CHECK under 0.3.1). */
export function assertCommandAllowed(version: CniVersion, command: CniCommand): void {
  if (!commandAllowed(version, command)) {
    throw errors.version(
      `config version ${version} does not allow ${command} (needs ${INTRODUCED_IN[command]} or later)`,
    );
  }
}

export const versionReply = (): VersionReply => ({
  cniVersion: CURRENT_VERSION,
  supportedVersions: [...SUPPORTED_VERSIONS],
});
