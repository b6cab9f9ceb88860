// Polling for conditions that runtimes reach asynchronously (a daemon's socket, a
// CNI config noticed by the CRI plugin, a task's exit), and the commands the e2e
// files need before they can run at all.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Which of `cmds` are not on PATH (the e2e files skip loudly when any is missing). */
export function missingCommands(cmds: string[]): string[] {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  return cmds.filter((c) => !dirs.some((d) => existsSync(`${d}/${c}`)));
}

/**
 * Why an e2e file cannot run here (not root, or a runtime not installed), printed
 * loudly; null when it can. scripts/setup-runtimes.sh installs what is missing.
 */
export function e2eSkipReason(what: string, cmds: string[]): string | null {
  let reason: string | null = null;
  if (process.getuid?.() !== 0) reason = 'needs root (runtimes, namespaces, veth, routes)';
  else {
    const missing = missingCommands(cmds);
    if (!existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
    if (missing.length > 0) reason = `missing ${missing.join(', ')}: run scripts/setup-runtimes.sh`;
  }
  if (reason !== null) console.warn(`\n*** SKIPPING ${what}: ${reason} ***\n`);
  return reason;
}
