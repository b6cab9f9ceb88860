// straitctl: the operator's CLI. Subcommands load only what they need.
const USAGE = `usage: straitctl <command>

commands:
  lab        the emulated cluster (root): plain \`lab\` runs the main job (3 nodes x
             2 pods, pings, a NetworkPolicy, masquerade, iperf3, then all removed);
             lab up --nodes N --pods M [--routing native|vxlan], lab status, lab down,
             lab bench (pods across nodes vs node to node, ratios)
  endpoints  what the datapath's endpoint map holds, with pod names   [-o json]
  drops      datapath counters: drops by reason, redirects, to stack  [-o json] [-a]
  reload     load the BPF objects again and move every endpoint to them atomically
  status     the agent's state: synced, map fill, counters, and every problem (a
             policy refused because it does not fit, a full ipcache, failing writes)
             (exit 0 healthy, 1 a problem, 2 unreachable)                [-o json]
  doctor [--fix]
             check that leases, records, host veths, routes, tc programs, map
             entries and pins agree; --fix repairs (exit 0 consistent, 1 not)  [-o json]
  wait --synced [--timeout S]
             until the agent has applied everything its source holds (exit 0),
             is not synced in time (1), or cannot be reached (2)
  policy [NS/POD]
             the rules the agent enforces on each local endpoint       [-o json]
  explain SRC DST PROTO/PORT
             the verdict for one packet and why, e.g. 10.0.0.2 10.0.0.3 tcp/80
             (exit 0 allow, 1 deny, 2 error)                           [-o json]
  monitor [filters]
             flow records live as the datapath sees them, until Ctrl-C (exit 0)
             or the agent goes away (exit 1)      [-o json: one record a line]
  flows [--last N] [filters]
             the newest N (default 20) records of the agent's flow buffer,
             oldest first; what was lost, on stderr                    [-o json]
    filters: --pod NS/NAME, --namespace NS, --verdict allowed|denied|dropped,
             --protocol tcp|udp|sctp|icmp|icmpv6|N, --port N; each repeatable
             (any of its values), different ones all must match

  common flags: --bpf-dir DIR (STRAIT_BPF_DIR), --state-dir DIR (STRAIT_STATE_DIR),
                --socket PATH (STRAIT_AGENT_SOCKET, default /run/strait/agent.sock)
  version    print strait's version
`;

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    case 'lab':
      return (await import('./lab.js')).lab(argv.slice(1));
    case 'endpoints':
      return (await import('./endpoints.js')).endpoints(argv.slice(1));
    case 'drops':
      return (await import('./drops.js')).drops(argv.slice(1));
    case 'reload':
      return (await import('./reload.js')).reload(argv.slice(1));
    case 'status':
      return (await import('./status.js')).status(argv.slice(1));
    case 'doctor':
      return (await import('./doctor.js')).doctor(argv.slice(1));
    case 'wait':
      return (await import('./wait.js')).wait(argv.slice(1));
    case 'policy':
      return (await import('./policy.js')).policy(argv.slice(1));
    case 'explain':
      return (await import('./explain.js')).explain(argv.slice(1));
    case 'monitor':
      return (await import('./monitor.js')).monitor(argv.slice(1));
    case 'flows':
      return (await import('./flows.js')).flows(argv.slice(1));
    case 'version': {
      const { readFileSync } = await import('node:fs');
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      console.log(pkg.version);
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`straitctl: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
