// The API client as a command, for the lab's synchronous steps (EmulatedCluster
// writes a manifest and waits for the agents in line, as it does with files):
//   client-main.js apply SOCKET     stdin {"previous":TEXT|null,"next":TEXT|null}; prints the Written map
//   client-main.js wait WRITTEN AGENT_SOCKET...   exit 0 once every agent has caught up, 1 if not in 30 s
import { readFileSync } from 'node:fs';
import { agentsCaughtUp, applyManifest, type Written } from './client.js';

const [cmd, first, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'apply' && first !== undefined) {
    const { previous, next } = JSON.parse(readFileSync(0, 'utf8')) as { previous: string | null; next: string | null };
    process.stdout.write(JSON.stringify(await applyManifest(first, previous, next)));
  } else if (cmd === 'wait' && first !== undefined) {
    if (!(await agentsCaughtUp(rest, JSON.parse(first) as Written))) {
      process.stderr.write(`the agents did not catch up with the API (${first})\n`);
      process.exitCode = 1;
    }
  } else {
    process.stderr.write('usage: client-main.js apply SOCKET | wait WRITTEN AGENT_SOCKET...\n');
    process.exitCode = 2;
  }
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
}
