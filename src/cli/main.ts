// straitctl: the operator's CLI. Subcommands load only what they need.
const USAGE = `usage: straitctl <command>

commands:
  lab        run three pods in network namespaces on this machine through bin/strait,
             ping between them, run a short iperf3, and remove everything (root)
  endpoints  what the datapath's endpoint map holds, with pod names   [-o json]
  drops      datapath counters: drops by reason, redirects, to stack  [-o json] [-a]
  reload     load the BPF objects again and move every endpoint to them atomically

  common flags: --bpf-dir DIR (STRAIT_BPF_DIR), --state-dir DIR (STRAIT_STATE_DIR)
  version    print strait's version
`;

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    case 'lab':
      return (await import('./lab.js')).lab();
    case 'endpoints':
      return (await import('./endpoints.js')).endpoints(argv.slice(1));
    case 'drops':
      return (await import('./drops.js')).drops(argv.slice(1));
    case 'reload':
      return (await import('./reload.js')).reload(argv.slice(1));
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
