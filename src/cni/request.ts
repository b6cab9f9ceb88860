// Everything the plugin decides from its input alone, before any effect: the
// environment, the network configuration and the version rules. main.ts runs it and
// then the command; the fuzz tests run it in-process on generated input, so what
// they prove holds for the binary.
import { parseConfig, parseVersionRequest, type NetConf } from './config.js';
import { parseEnv, type CniEnv } from './env.js';
import { assertCommandAllowed, versionReply, type VersionReply } from './version.js';

export type Request = { kind: 'version'; reply: VersionReply } | { kind: 'command'; env: CniEnv; conf: NetConf };

/** Throws a StraitError (env code 4, decode 6, config 7, field 2, version 1) on bad input. */
export function parseRequest(processEnv: NodeJS.ProcessEnv, stdin: string | Buffer): Request {
  if (processEnv.CNI_COMMAND === 'VERSION') {
    parseVersionRequest(stdin);
    return { kind: 'version', reply: versionReply() };
  }
  const env = parseEnv(processEnv);
  const conf = parseConfig(stdin, env.command, processEnv);
  assertCommandAllowed(conf.cniVersion, env.command);
  return { kind: 'command', env, conf };
}

/** The version errors are reported in, when the config cannot be fully parsed. */
export function sniffVersion(stdin: string | Buffer): string {
  try {
    const v = (JSON.parse(typeof stdin === 'string' ? stdin : stdin.toString('utf8')) as { cniVersion?: unknown } | null)
      ?.cniVersion;
    if (typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v)) return v;
  } catch {
    // fall through
  }
  return '1.1.0';
}
