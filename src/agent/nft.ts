// The nft binary, as kube-proxy's nftables mode (knftables) drives it: exec'd with an
// argv (never through a shell), a ruleset fed on stdin with `-f -`, state read as JSON.
// nft acts in the network namespace of its caller, so the agent's own netns is the node's.
import { execFile, type ExecFileException } from 'node:child_process';
import { StraitError } from '../errors.js';

/** Where Debian's nftables package puts it (scripts/setup.sh installs it). */
export const NFT_PATH = '/usr/sbin/nft';

/** Runs nft with these arguments (and this stdin); resolves to its stdout, rejects with an E_NFTABLES StraitError. */
export type Nft = (args: readonly string[], input?: string) => Promise<string>;

/**
 * An Nft that execs `argv` followed by nft's own arguments: by default nft itself; a
 * prefix such as `['ip', 'netns', 'exec', NS, NFT_PATH]` runs it in another namespace.
 */
export function nftCommand(argv: readonly string[] = [NFT_PATH]): Nft {
  const [file, ...pre] = argv;
  if (file === undefined) throw new TypeError('nftCommand: empty argv');
  return (args, input = '') =>
    new Promise((resolve, reject) => {
      const child = execFile(file, [...pre, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err === null) resolve(stdout);
        else reject(nftError(file, args, err, stderr));
      });
      // nft may exit before reading all of stdin (a usage error): its own message says why, not EPIPE.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input);
    });
}

function nftError(file: string, args: readonly string[], err: ExecFileException, stderr: string): StraitError {
  const what = `nft ${args.join(' ')}`;
  if (err.code === 'ENOENT') {
    return new StraitError('E_NFTABLES', `${what}: ${file} not found (install Debian's nftables)`, { cause: err });
  }
  // nft's message is the reader's answer: "Error: conflicting intervals specified" and where.
  const message = stderr.trim() || err.message;
  return new StraitError('E_NFTABLES', `${what} failed: ${message}`, { details: `exit ${String(err.code)}`, cause: err });
}
