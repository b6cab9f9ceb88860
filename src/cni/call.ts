// One CNI call from its environment and stdin to what the plugin prints and its exit
// code. The standalone plugin (main.ts) and the agent's CNI service
// (src/agent/cni-service.ts) both run calls through here, so the two entry points
// share every rule: parsing, the version of error objects, the per-call log line.
// Modules are loaded per command so that VERSION and early errors stay cheap.
import { errorReply, jsonLine } from './output.js';
import type { AgentLink, CommandContext } from './context.js';
import type { CniEnv } from './env.js';
import type { NetConf } from './config.js';
import type { Result } from './result.js';
import type { Logger } from '../util/log.js';

export interface CallOutcome {
  exitCode: 0 | 1;
  /** exactly what goes to stdout: one JSON line, or '' (DEL, CHECK, GC, STATUS succeeded) */
  stdout: string;
}

export interface CallHost {
  /** the logger of one call, bound to its command and attachment */
  logger(conf: NetConf, env: CniEnv): Promise<Logger>;
  /** who makes this call's endpoints ready: null, none (no policy applies) */
  agent(conf: NetConf, processEnv: NodeJS.ProcessEnv): AgentLink | null;
  /** refuses a parsed call this host must not run (throws a StraitError) */
  admit?(conf: NetConf, env: CniEnv): void;
  /** runs the command; the agent serialises the calls of one attachment here */
  around?<T>(env: CniEnv, conf: NetConf, run: () => Promise<T>): Promise<T>;
}

/** What every log line of a call carries, from the plugin process or the agent. */
export const callBindings = (conf: NetConf, env: CniEnv): Record<string, unknown> => ({
  cmd: env.command,
  containerId: env.containerId,
  ifname: env.ifname,
  network: conf.name,
});

/** A module loaded on first use and kept: the agent runs many calls, and each import() costs a loader round even when cached. */
const lazy = <T>(load: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= load());
};
const requestModule = lazy(() => import('./request.js'));
const resultModule = lazy(() => import('./result.js'));
const commands = {
  ADD: lazy(() => import('./cmd-add.js')),
  DEL: lazy(() => import('./cmd-del.js')),
  CHECK: lazy(() => import('./cmd-check.js')),
  GC: lazy(() => import('./cmd-gc.js')),
  STATUS: lazy(() => import('./cmd-status.js')),
};

export async function runCniCall(processEnv: NodeJS.ProcessEnv, stdin: string, host: CallHost): Promise<CallOutcome> {
  const { parseRequest, sniffVersion } = await requestModule();
  let version = sniffVersion(stdin);
  try {
    const request = parseRequest(processEnv, stdin);
    if (request.kind === 'version') return { exitCode: 0, stdout: jsonLine(request.reply) };
    const { env, conf } = request;
    version = conf.cniVersion;
    host.admit?.(conf, env);
    const log = await host.logger(conf, env);
    // One line per call with what the runtime sent: runtimes differ (docs/runtimes.md), and
    // the log file is where an operator finds out how theirs calls us.
    log.info(
      { netns: env.netns ?? null, args: env.args.raw, runtimeConfig: conf.runtime.raw, prevResult: conf.prevResult !== null },
      'request',
    );
    const ctx: CommandContext = { env, conf, log, processEnv, agent: host.agent(conf, processEnv) };
    try {
      const result = await (host.around ? host.around(env, conf, () => run(ctx)) : run(ctx));
      if (result === undefined) return { exitCode: 0, stdout: '' };
      const { toVersion } = await resultModule();
      return { exitCode: 0, stdout: jsonLine(toVersion(result, conf.cniVersion)) };
    } catch (err) {
      log.error({ err }, `${env.command} failed`);
      throw err;
    }
  } catch (err) {
    return { exitCode: 1, stdout: jsonLine(errorReply(err, version)) };
  }
}

async function run(ctx: CommandContext): Promise<Result | undefined> {
  switch (ctx.env.command) {
    case 'ADD':
      return (await commands.ADD()).cmdAdd(ctx);
    case 'DEL':
      await (await commands.DEL()).cmdDel(ctx);
      return undefined;
    case 'CHECK':
      await (await commands.CHECK()).cmdCheck(ctx);
      return undefined;
    case 'GC':
      await (await commands.GC()).cmdGc(ctx);
      return undefined;
    case 'STATUS':
      await (await commands.STATUS()).cmdStatus(ctx);
      return undefined;
    case 'VERSION':
      return undefined;
  }
}
