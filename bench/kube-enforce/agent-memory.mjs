// Runs inside a lab node's netns, where the agent (NODE_OPTIONS=--expose-gc
// --inspect=127.0.0.1:PORT) listens for the inspector on the node's own loopback:
// through the inspector protocol, two full GCs in the agent, then its
// process.memoryUsage(), printed as one JSON line.
//   usage: node agent-memory.mjs PORT
const port = Number(process.argv[2]);
let targets = null;
for (let i = 0; i < 100 && targets === null; i++) {
  targets = await fetch(`http://127.0.0.1:${port}/json/list`).then((r) => r.json()).catch(() => null);
  if (targets === null) await new Promise((r) => setTimeout(r, 50));
}
if (targets === null || targets.length === 0) {
  console.error(`agent-memory: no inspector on 127.0.0.1:${port}`);
  process.exit(1);
}
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = () => reject(new Error('agent-memory: the inspector refused the connection'));
});
const answer = await new Promise((resolve) => {
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data));
    if (msg.id === 1) resolve(msg);
  };
  ws.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: 'gc(), gc(), JSON.stringify(process.memoryUsage())', returnByValue: true } }));
});
ws.close();
if (answer.result?.result?.type !== 'string') {
  console.error(`agent-memory: ${JSON.stringify(answer)}`);
  process.exit(1);
}
console.log(answer.result.result.value);
