// pino is loaded only when a command has parsed its config: VERSION and early
// errors never pay for it (it costs tens of milliseconds per CNI call to import).
import type { Level, Logger, StreamEntry } from 'pino';

export type { Logger };

export interface LogOptions {
  /** level for both outputs; null: stderr gets 'warn' and the log file 'info' */
  level: string | null;
  file: string | null;
  bindings?: Record<string, unknown>;
}

const LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

export async function createLogger(opts: LogOptions): Promise<Logger> {
  const { default: pino } = await import('pino');
  if (opts.level === 'silent') return pino({ level: 'silent' });
  const level = opts.level !== null && LEVELS.has(opts.level) ? (opts.level as Level) : null;
  // Runtimes copy a plugin's stderr into their own log: keep it quiet by default.
  // Synchronous destinations: the plugin is a short-lived process and must not
  // exit with log lines still buffered.
  const streams: (StreamEntry & { level: Level })[] = [
    { level: level ?? 'warn', stream: pino.destination({ dest: 2, sync: true }) },
  ];
  if (opts.file !== null) {
    streams.push({
      level: level ?? 'info',
      stream: pino.destination({ dest: opts.file, sync: true, append: true, mkdir: true }),
    });
  }
  const lowest = streams.reduce((a, b) => (pino.levels.values[a.level]! <= pino.levels.values[b.level]! ? a : b));
  return pino({ level: lowest.level, base: { pid: process.pid, ...opts.bindings } }, pino.multistream(streams));
}
