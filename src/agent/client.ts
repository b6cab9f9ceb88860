// A client for the agent's unix socket, for straitctl and the CNI plugin. Every
// failure names the socket and says what it most likely means.
import { StraitError } from '../errors.js';

// Not `import { request } from 'node:http'`: on Node.js 22+ an ESM import of
// node:http reads every export to build its namespace, and two of them are getters
// that load undici, some 30 ms of CPU in every ADD and DEL (nodejs/node#59686).
const { request } = process.getBuiltinModule('node:http');

export const DEFAULT_AGENT_SOCKET = '/run/strait/agent.sock';

export interface AgentResponse {
  status: number;
  json: unknown;
}

export interface AgentRequestOptions {
  /** for the whole exchange, connect to last byte; default 10 s */
  timeoutMs?: number;
}

/**
 * One request. Resolves with whatever status the agent answered (4xx/5xx included);
 * rejects with a StraitError when there is no answer: E_AGENT_NOT_RUNNING (no socket
 * file, or nobody listening), E_AGENT_PERMISSION, E_AGENT_TIMEOUT, E_AGENT_PROTOCOL,
 * E_AGENT_IO. At the CNI boundary all but the protocol error are 11: the runtime
 * should retry.
 */
export function agentRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  opts: AgentRequestOptions = {},
): Promise<AgentResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: StraitError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(e);
    };
    const req = request({
      socketPath,
      method,
      path,
      agent: false, // no keep-alive pool: a CLI or the plugin must exit right after
      headers: {
        accept: 'application/json',
        ...(payload === null ? {} : { 'content-type': 'application/json', 'content-length': payload.length }),
      },
    });
    const timer = setTimeout(
      () => fail(new StraitError('E_AGENT_TIMEOUT', `no answer from strait-agent on ${socketPath} within ${timeoutMs} ms (${method} ${path})`)),
      timeoutMs,
    );
    req.on('error', (e: NodeJS.ErrnoException) => fail(connectError(socketPath, e)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e: NodeJS.ErrnoException) => fail(connectError(socketPath, e)));
      res.on('end', () => {
        if (settled) return;
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? null : (JSON.parse(text) as unknown);
        } catch {
          fail(
            new StraitError('E_AGENT_PROTOCOL', `strait-agent on ${socketPath} answered ${method} ${path} with something that is not JSON (status ${res.statusCode})`, { details: text.slice(0, 200) }),
          );
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.end(payload ?? undefined);
  });
}

/** What a failed connection to the agent most likely means, as the stable codes above. */
export function connectError(socketPath: string, e: NodeJS.ErrnoException): StraitError {
  const cause = { cause: e };
  switch (e.code) {
    case 'ENOENT':
      return new StraitError('E_AGENT_NOT_RUNNING', `strait-agent is not running: no socket at ${socketPath}`, cause);
    case 'ECONNREFUSED':
      return new StraitError('E_AGENT_NOT_RUNNING', `strait-agent is not running: ${socketPath} refuses connections (a stale socket?)`, cause);
    case 'EACCES':
    case 'EPERM':
      return new StraitError('E_AGENT_PERMISSION', `permission denied on ${socketPath} (the agent's socket is root's only)`, cause);
    case 'ENOTSOCK':
      return new StraitError('E_AGENT_NOT_RUNNING', `${socketPath} is not a socket`, cause);
    default:
      return new StraitError('E_AGENT_IO', `talking to strait-agent on ${socketPath}: ${e.message}`, cause);
  }
}

/** The agent's {error: {code, message}} of a failed request, or a description of the status. */
export function agentError(res: AgentResponse): { code: string; message: string } {
  const err = (res.json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return {
    code: typeof err?.code === 'string' ? err.code : `HTTP_${res.status}`,
    message: typeof err?.message === 'string' ? err.message : `strait-agent answered status ${res.status}`,
  };
}

/** The agent's answer to a failed request: E_AGENT_FAILED for 5xx, E_AGENT_REFUSED for 4xx. */
export class AgentReplyError extends StraitError {
  override readonly name = 'AgentReplyError';
  constructor(
    readonly status: number,
    /** the agent's own stable code, e.g. 'E_NOT_SYNCED' (or HTTP_<status> when it sent none) */
    readonly agentCode: string,
    message: string,
  ) {
    super(status >= 500 ? 'E_AGENT_FAILED' : 'E_AGENT_REFUSED', message);
  }
}

/** The body of a 2xx answer; otherwise an AgentReplyError with the agent's code and message. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the reply's shape the agent API documents
export function expectOk<T>(res: AgentResponse): T {
  if (res.status >= 200 && res.status < 300) return res.json as T;
  const { code, message } = agentError(res);
  throw new AgentReplyError(res.status, code, message);
}
