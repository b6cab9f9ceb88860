// The agent's side of bin/strait (docs/cni-agent.md): a forwarded call runs through
// the same command code as the standalone plugin (src/cni/call.ts), in this process,
// with the core as the agent that makes new endpoints ready. Calls of one attachment
// run one at a time; a closing agent takes no new ones and lets those in flight end.
import { resolve } from 'node:path';
import { callBindings, runCniCall, type CallHost, type CallOutcome } from '../cni/call.js';
import type { AgentLink } from '../cni/context.js';
import { notReady, readyWaitMs } from '../cni/agent-handshake.js';
import { errors } from '../errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { AgentCore } from './core.js';
import { ApiError } from './api-error.js';

/** A forwarded call: the shim's CNI_* and STRAIT_* variables and its stdin (the DEL queue holds the same). */
export interface ForwardedCall {
  env: Record<string, string>;
  stdin: string;
}

export interface CniServiceOptions {
  core: AgentCore;
  /** the agent's own: a call naming other ones is refused */
  stateDir: string;
  bpfDir: string;
  log: Logger;
  /** told each call's command, result code (0, or the CNI error's) and duration (metrics) */
  onCall?: (command: string, code: number, seconds: number) => void;
}

export interface CniService {
  /** runs one call; ApiError 503 once closing */
  handle(call: ForwardedCall): Promise<CallOutcome & { durationUs: number }>;
  /** stops taking calls and waits (at most `ms`) for those in flight */
  close(ms: number): Promise<void>;
}

const ENV_NAME = /^(CNI|STRAIT)_[A-Z0-9_]*$/;
const bad = (message: string) => new ApiError(400, 'E_BAD_REQUEST', message);

/** The body of POST /v1/cni (or a queued DEL), checked field by field. */
export function parseForwardedCall(raw: unknown): ForwardedCall {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('a CNI call must be a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'env' && k !== 'stdin') throw bad(`CNI call: unknown field "${k}"`);
  if (typeof o.stdin !== 'string') throw bad('CNI call: stdin must be a string');
  const env = o.env;
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw bad('CNI call: env must be an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env as Record<string, unknown>)) {
    if (!ENV_NAME.test(k)) throw bad(`CNI call: env may hold CNI_* and STRAIT_* variables only, not "${k}"`);
    if (typeof v !== 'string') throw bad(`CNI call: env.${k} must be a string`);
    out[k] = v;
  }
  return { env: out, stdin: o.stdin };
}

export function createCniService(opts: CniServiceOptions): CniService {
  const { core, log } = opts;
  const stateDir = resolve(opts.stateDir);
  const bpfDir = resolve(opts.bpfDir);
  const attachments = new KeyedMutex();
  const inFlight = new Set<Promise<unknown>>();
  const fileLoggers = new Map<string, Promise<Logger>>();
  let closing = false;

  const baseLogger = (file: string | null, level: string | null): Promise<Logger> => {
    if (file === null) return Promise.resolve(log);
    // A network's logFile gets the calls the agent runs for it, as it did from the plugin.
    const key = `${level ?? ''}\0${file}`;
    let l = fileLoggers.get(key);
    if (l === undefined) {
      l = createLogger({ level, file, bindings: { component: 'cni' } });
      fileLoggers.set(key, l);
    }
    return l;
  };

  const host: CallHost = {
    async logger(conf, env) {
      return (await baseLogger(conf.logFile, conf.logLevel)).child(callBindings(conf, env));
    },
    agent: (conf, processEnv) => coreLink(core, readyWaitMs(conf, processEnv)),
    admit(conf) {
      // The core marks endpoints ready in its own pinned maps and adopts the records of
      // its own state dir: any other pair would leave the pod dark, at once or after a restart.
      for (const [field, mine] of [['stateDir', stateDir], ['bpfDir', bpfDir]] as const) {
        const theirs = resolve(conf.paths[field]);
        if (theirs !== mine) {
          throw errors.config(
            `network ${conf.name}: ${field} ${theirs} is not this agent's (${mine})`,
            `a network served by strait-agent must use the agent's --${field === 'stateDir' ? 'state-dir' : 'bpf-dir'}`,
          );
        }
      }
    },
    around(env, conf, run) {
      if (env.containerId === undefined) return run(); // STATUS and GC are per network
      return attachments.run(`${conf.name}\0${env.containerId}\0${env.ifname ?? ''}`, run);
    },
  };

  return {
    async handle(call) {
      if (closing) throw new ApiError(503, 'E_AGENT_CLOSING', 'strait-agent is shutting down and takes no new CNI calls');
      const t0 = process.hrtime.bigint();
      const p = runCniCall(call.env, call.stdin, host);
      inFlight.add(p);
      try {
        const out = await p;
        const durationUs = Number((process.hrtime.bigint() - t0) / 1000n);
        opts.onCall?.(call.env.CNI_COMMAND ?? '', resultCode(out), durationUs / 1e6);
        return { ...out, durationUs };
      } finally {
        inFlight.delete(p);
      }
    },
    async close(ms) {
      closing = true;
      if (inFlight.size === 0) return;
      log.info({ calls: inFlight.size }, 'waiting for CNI calls in flight');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise<void>((r) => (timer = setTimeout(r, ms))),
      ]);
      clearTimeout(timer);
    },
  };
}

/** 0 for a success, else the code of the CNI error on stdout (999 if it names none). */
export function resultCode(out: CallOutcome): number {
  if (out.exitCode === 0) return 0;
  try {
    const code = (JSON.parse(out.stdout) as { code?: unknown }).code;
    return typeof code === 'number' && Number.isInteger(code) ? code : 999;
  } catch {
    return 999;
  }
}

/** The core as ADD's agent: the endpoint's policy written and READY, within the wait. */
function coreLink(core: AgentCore, ms: number): AgentLink {
  return {
    where: 'this strait-agent',
    async ready(ep) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(notReady(ep, ms, 'its reconcile pass has not written the policy yet')), ms);
      });
      try {
        await Promise.race([core.registerEndpoint(ep), timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
    async gone(id) {
      await core.removeEndpoint(id).catch(() => undefined);
    },
    refusal() {
      const { lastError } = core.status();
      return Promise.resolve(lastError === null ? null : `its last reconcile pass failed: ${lastError}`);
    },
    nodePodCidrs: () => Promise.resolve(core.nodePodCidrs()),
  };
}
