// The standalone CNI plugin's entry, which bin/strait execs when the node runs no
// agent: read the environment and stdin, run the call (call.ts), print its output,
// exit with its code.
import { readFileSync } from 'node:fs';
import { writeAll } from './output.js';
import { callBindings, runCniCall } from './call.js';
import { httpAgentLink, readyWaitMs } from './agent-handshake.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return ''; // no stdin at all (closed or a terminal that went away)
  }
}

const outcome = await runCniCall(process.env, readStdin(), {
  async logger(conf, env) {
    const { createLogger } = await import('../util/log.js');
    return createLogger({
      level: conf.logLevel,
      file: conf.logFile,
      bindings: callBindings(conf, env),
    });
  },
  // A config that names an agent, run by this process directly (bin/strait itself
  // forwards such calls to the agent): the agent is asked over its socket.
  agent(conf, processEnv) {
    return conf.paths.agentSocket === null ? null : httpAgentLink(conf.paths.agentSocket, readyWaitMs(conf, processEnv));
  },
});
if (outcome.stdout !== '') writeAll(outcome.stdout);
process.exitCode = outcome.exitCode;
