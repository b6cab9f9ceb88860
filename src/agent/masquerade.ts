// Masquerade to the outside (`--masquerade`, on by default): traffic from this node's
// pods to any address outside every node's pod CIDRs leaves with the node's address.
// from_pod hands such traffic to the host stack (it is in no strait_remote_v1 entry),
// so netfilter's masquerade does it: the host's conntrack then owns port allocation,
// ICMP errors and every protocol, shared with the node's own connections, which a
// BPF SNAT would have to re-implement.
//
// The agent owns one table, `inet strait`, and nothing else of the ruleset: it reads
// the table, and writes only when it differs from the desired one, so a restarted
// agent adopts the table it left (no write, no moment without the rule).
//
// API for the agent (src/agent/main.ts wires it):
//   await applyMasquerade({ podCidrs, clusterCidrs, enabled })   // at start, and after any Node change
//   → 'created' | 'replaced' | 'unchanged' | 'removed' | 'absent'
// Throws StraitError E_CONFIG for a CIDR that is none (before nft runs), E_NFTABLES
// when nft fails (its own message; the table is then as it was: nft applies all or nothing).
import { isDeepStrictEqual } from 'node:util';
import { StraitError } from '../errors.js';
import { desiredContent, listedContent, masqueradeSets, renderDelete, renderTable, TABLE, type TableContent } from './masquerade-table.js';
import { nftCommand, type Nft } from './nft.js';

export { nftCommand, NFT_PATH, type Nft } from './nft.js';

export interface MasqueradeConfig {
  /** this node's pod CIDRs, v4 and v6: the sources that are masqueraded */
  podCidrs: readonly string[];
  /** every node's pod CIDRs (this node's are added anyway): destinations that keep the pod's address */
  clusterCidrs: readonly string[];
  /** false: the table is removed (`--masquerade false`) */
  enabled: boolean;
}

/** What applyMasquerade did: only 'created', 'replaced' and 'removed' wrote anything. */
export type MasqueradeOutcome = 'created' | 'replaced' | 'unchanged' | 'removed' | 'absent';

const [FAMILY, NAME] = TABLE.split(' ') as [string, string];

/** The table as it is now, or null when there is none. */
export async function readMasquerade(nft: Nft = nftCommand()): Promise<TableContent | null> {
  // Listing the family's tables first tells "absent" from a failure without reading nft's error text.
  const tables = await nft(['-j', 'list', 'tables', FAMILY]);
  if (!parse(tables, (json) => tableNames(json).includes(NAME))) return null;
  return parse(await nft(['-j', 'list', 'table', FAMILY, NAME]), listedContent);
}

function tableNames(json: string): string[] {
  const doc = JSON.parse(json) as { nftables?: { table?: { name?: unknown } }[] };
  return (doc.nftables ?? []).flatMap((o) => (typeof o.table?.name === 'string' ? [o.table.name] : []));
}

function parse<T>(json: string, read: (json: string) => T): T {
  try {
    return read(json);
  } catch (e) {
    throw new StraitError('E_NFTABLES', `nft printed JSON strait cannot read: ${(e as Error).message}`, { cause: e });
  }
}

// One apply at a time, in call order: two overlapping read-then-write rounds could
// otherwise leave the older desired table last.
let queue: Promise<unknown> = Promise.resolve();

/** Makes `table inet strait` what `cfg` says (see the file's header). */
export function applyMasquerade(cfg: MasqueradeConfig, nft: Nft = nftCommand()): Promise<MasqueradeOutcome> {
  const run = queue.then(() => apply(cfg, nft));
  queue = run.catch(() => undefined);
  return run;
}

async function apply(cfg: MasqueradeConfig, nft: Nft): Promise<MasqueradeOutcome> {
  const sets = cfg.enabled ? masqueradeSets(cfg.podCidrs, cfg.clusterCidrs) : null;
  const current = await readMasquerade(nft);
  if (sets === null) {
    if (current === null) return 'absent';
    await nft(['-f', '-'], renderDelete());
    return 'removed';
  }
  if (current !== null && isDeepStrictEqual(current, desiredContent(sets))) return 'unchanged';
  await nft(['-f', '-'], renderTable(sets));
  return current === null ? 'created' : 'replaced';
}
