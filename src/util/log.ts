// pino is loaded only when a command has parsed its config: VERSION and early
// errors never pay for it (it costs tens of milliseconds per CNI call to import).
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  /** level for the log file; stderr gets at least 'warn' unless a level is set explicitly */
  level: string | null;
  file: string | null;
  bindings?: Record<string, unknown>;
}

const LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export async function createLogger(opts: LogOptions): Promise<Logger> {
  const { default: pino } = await import('pino');
  const level = (opts.level !== null && LEVELS.has(opts.level) ? opts.level : null) as LevelWithSilent | null;
  // Runtimes copy a plugin's stderr into their own log: keep it quiet by default.
  const stderrLevel: LevelWithSilent = level ?? 'warn';
  const fileLevel: LevelWithSilent = level ?? 'info';
  // Synchronous destinations: the plugin is a short-lived process and must not
  // exit with log lines still buffered.
  const streams: { level: LevelWithSilent; stream: NodeJS.WritableStream }[] = [
    { level: stderrLevel, stream: pino.destination({ dest: 2, sync: true }) },
  ];
  if (opts.file !== null) {
    streams.push({ level: fileLevel, stream: pino.destination({ dest: opts.file, sync: true, append: true, mkdir: true }) });
  }
  const min = streams.map((s) => s.level).reduce((a, b) => (pino.levels.values[a]! <= pino.levels.values[b]! ? a : b));
  return pino({ level: min, base: { pid: process.pid, ...opts.bindings } }, pino.multistream(streams));
}

/** A logger that drops everything, for tests and for paths that run before config is known. */
export async function silentLogger(): Promise<Logger> {
  const { default: pino } = await import('pino');
  return pino({ level: 'silent' });
}
