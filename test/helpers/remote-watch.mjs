// Watches one node's strait_remote_v1 (argument: the node's bpffs dir) from outside
// the agent: prints "ready", then the entries as one sorted JSON array each time
// they differ from the last line printed, polling every 10 ms until killed. A test
// reads every state the map went through, an agent restart included.
// Runs on the build (dist/), as the lab's pod tool does.
import { listRemote } from '../../dist/agent/node-network-effects.js';

const dir = process.argv[2];
let last = '';
const sample = () => {
  let now;
  try {
    now = JSON.stringify([...listRemote(dir)].map(([cidr, ip]) => `${cidr} -> ${ip}`).sort());
  } catch (e) {
    now = JSON.stringify({ error: e instanceof Error ? e.message : String(e) });
  }
  if (now !== last) console.log(now);
  last = now;
};
sample();
console.log('ready');
setInterval(sample, 10);
