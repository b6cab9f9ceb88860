// The CNI plugin's entry: read the environment and stdin, run one command, print
// its result (or a spec error object) on stdout, exit. Modules are loaded per
// command so that VERSION and early errors stay cheap.
import { readFileSync } from 'node:fs';
import { errorReply, writeJson } from './output.js';
import type { CommandContext } from './context.js';
import type { Result } from './result.js';

async function main(): Promise<number> {
  const stdin = readStdin();
  const { parseRequest, sniffVersion } = await import('./request.js');
  let version = sniffVersion(stdin);
  try {
    const request = parseRequest(process.env, stdin);
    if (request.kind === 'version') {
      writeJson(request.reply);
      return 0;
    }
    const { env, conf } = request;
    version = conf.cniVersion;
    const { createLogger } = await import('../util/log.js');
    const log = await createLogger({
      level: conf.logLevel,
      file: conf.logFile,
      bindings: { cmd: env.command, containerId: env.containerId, ifname: env.ifname, network: conf.name },
    });
    // One line per call with what the runtime sent: runtimes differ (docs/runtimes.md), and
    // the log file is where an operator finds out how theirs calls us.
    log.info(
      { netns: env.netns ?? null, args: env.args.raw, runtimeConfig: conf.runtime.raw, prevResult: conf.prevResult !== null },
      'request',
    );
    const ctx: CommandContext = { env, conf, log, processEnv: process.env };
    try {
      const result = await run(ctx);
      if (result !== undefined) {
        const { toVersion } = await import('./result.js');
        writeJson(toVersion(result, conf.cniVersion));
      }
      return 0;
    } catch (err) {
      log.error({ err }, `${env.command} failed`);
      throw err;
    }
  } catch (err) {
    writeJson(errorReply(err, version));
    return 1;
  }
}

async function run(ctx: CommandContext): Promise<Result | undefined> {
  switch (ctx.env.command) {
    case 'ADD':
      return (await import('./cmd-add.js')).cmdAdd(ctx);
    case 'DEL':
      await (await import('./cmd-del.js')).cmdDel(ctx);
      return undefined;
    case 'CHECK':
      await (await import('./cmd-check.js')).cmdCheck(ctx);
      return undefined;
    case 'GC':
      await (await import('./cmd-gc.js')).cmdGc(ctx);
      return undefined;
    case 'STATUS':
      await (await import('./cmd-status.js')).cmdStatus(ctx);
      return undefined;
    case 'VERSION':
      return undefined;
  }
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return ''; // no stdin at all (closed or a terminal that went away)
  }
}

process.exitCode = await main();
