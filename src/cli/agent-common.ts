// What the straitctl commands that talk to the agent share: the socket (flag, then
// STRAIT_AGENT_SOCKET, then the default) and one way to report failures.
import { isStraitError, UsageError } from '../errors.js';
import { DEFAULT_AGENT_SOCKET } from '../agent/client.js';
import { parseCommon, type CommonOptions, type FlagSpec, type FlagValues } from './options.js';

export interface AgentCliOptions extends CommonOptions {
  socketPath: string;
  values: FlagValues;
}

export function parseAgentCli(argv: string[], extra: FlagSpec = {}): AgentCliOptions {
  let opts;
  try {
    opts = parseCommon(argv, { socket: { type: 'string' }, ...extra });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const flag = opts.values.socket;
  const socketPath = (typeof flag === 'string' ? flag : undefined) ?? (process.env.STRAIT_AGENT_SOCKET || undefined) ?? DEFAULT_AGENT_SOCKET;
  return { ...opts, socketPath };
}

/** Runs a command body; usage errors and agent failures become a line on stderr and exit 2. */
export async function runAgentCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (isStraitError(e)) {
      process.stderr.write(`straitctl ${name}: ${e.message}${e.details ? ` (${e.details})` : ''}\n`);
    } else {
      process.stderr.write(`straitctl ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    return 2;
  }
}
