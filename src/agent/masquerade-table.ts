// The masquerade table, pure: what `table inet strait` must hold for a node, the nft
// script that puts it there in one transaction, and the table nft lists (`nft -j`)
// reduced to the same shape, so "already exactly this" is one deep comparison.
import { errors } from '../errors.js';
import { type Family, formatCidr, networkOf, lastOf, parseCidr } from '../ipam/addr.js';

export const TABLE = 'inet strait';
export const CHAIN = 'postrouting';

/** The sets, per family: this node's pod CIDRs (masqueraded sources), every node's (destinations kept). */
const SET = {
  node: { 4: 'node_pods_v4', 6: 'node_pods_v6' },
  cluster: { 4: 'cluster_pods_v4', 6: 'cluster_pods_v6' },
} as const;
const FAMILIES = [4, 6] as const;
const ADDR_TYPE = { 4: 'ipv4_addr', 6: 'ipv6_addr' } as const;
const PROTO = { 4: 'ip', 6: 'ip6' } as const;

export type PrefixSet = Record<Family, string[]>;

export interface MasqueradeSets {
  node: PrefixSet;
  cluster: PrefixSet;
}

/**
 * Canonical prefixes per family, sorted, none inside another: an interval set refuses
 * overlapping elements ("conflicting intervals"), and a prefix inside another adds
 * nothing to what the set matches. `what` names the input in an error.
 */
export function prefixSet(cidrs: readonly string[], what: string): PrefixSet {
  const parsed = cidrs.map((text) => {
    const c = parseCidr(text.trim());
    if (c === null) throw errors.config(`masquerade: ${what} "${text}" is not a CIDR`);
    const first = networkOf(c.family, c.value, c.prefixLen);
    return { family: c.family, first, last: lastOf(c.family, c.value, c.prefixLen), len: c.prefixLen };
  });
  parsed.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : a.len - b.len));
  const out: PrefixSet = { 4: [], 6: [] };
  let kept: (typeof parsed)[number] | undefined;
  for (const p of parsed) {
    // Sorted by start then length, a prefix inside any kept one is inside the last kept one.
    if (kept?.family === p.family && p.last <= kept.last) continue;
    kept = p;
    out[p.family].push(formatCidr(p.family, p.first, p.len));
  }
  return out;
}

/** The cluster's pod CIDRs always include this node's own: a local pod is never masqueraded to. */
export const masqueradeSets = (podCidrs: readonly string[], clusterCidrs: readonly string[]): MasqueradeSets => ({
  node: prefixSet(podCidrs, 'pod CIDR'),
  cluster: prefixSet([...clusterCidrs, ...podCidrs], 'cluster pod CIDR'),
});

function renderSet(name: string, family: Family, elems: readonly string[]): string {
  const elements = elems.length > 0 ? `\n\t\telements = { ${elems.join(', ')} }` : '';
  return `\tset ${name} {\n\t\ttype ${ADDR_TYPE[family]}\n\t\tflags interval${elements}\n\t}\n`;
}

const renderRule = (f: Family): string =>
  `\t\t${PROTO[f]} saddr @${SET.node[f]} ${PROTO[f]} daddr != @${SET.cluster[f]} masquerade\n`;

/**
 * The nft script that replaces the table in one transaction: adding it first makes the
 * delete valid when it does not exist yet, and nft commits all three or none, so no
 * packet ever meets a moment without the rules (nor half of them).
 */
export function renderTable(sets: MasqueradeSets): string {
  const body = FAMILIES.flatMap((f) => [renderSet(SET.node[f], f, sets.node[f]), renderSet(SET.cluster[f], f, sets.cluster[f])]);
  const chain =
    `\tchain ${CHAIN} {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n` +
    FAMILIES.map(renderRule).join('') +
    '\t}\n';
  return `table ${TABLE}\ndelete table ${TABLE}\ntable ${TABLE} {\n${body.join('')}${chain}}\n`;
}

/** Removes the table, whether it exists or not, in one transaction. */
export const renderDelete = (): string => `table ${TABLE}\ndelete table ${TABLE}\n`;

// ---- what nft lists, reduced ----------------------------------------------------------

type Json = Record<string, unknown>;

/**
 * A table's content as nft lists it, less what the kernel assigns (handles) and what
 * names the table: everything else (flags, comments, set options, rule expressions)
 * stays, so anyone's change to the table makes it differ from the desired one.
 */
export interface TableContent {
  table: Json;
  sets: Record<string, Json>;
  chains: Record<string, Json>;
  rules: Record<string, Json[]>;
  /** objects of any other kind (maps, counters, flowtables…), which strait never makes */
  other: Json[];
}

const without = (o: Json, keys: readonly string[]): Json =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

/** A set element as a canonical CIDR where it is one (nft lists a /32 as a bare address). */
function elemText(e: unknown): string {
  const prefix = (e as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  const text = typeof e === 'string' ? (e.includes(':') ? `${e}/128` : `${e}/32`) : `${String(prefix?.addr)}/${String(prefix?.len)}`;
  const c = parseCidr(text);
  return c === null ? JSON.stringify(e) : formatCidr(c.family, c.value, c.prefixLen);
}

function setContent(o: Json): Json {
  const rest = without(o, ['family', 'table', 'name', 'handle']);
  if (Array.isArray(o.elem)) rest.elem = o.elem.map(elemText).sort();
  return rest;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `nft -j list table inet strait`, reduced to a TableContent. */
export function listedContent(json: string): TableContent {
  const doc = JSON.parse(json) as { nftables?: unknown };
  if (!Array.isArray(doc.nftables)) throw new SyntaxError('no "nftables" array');
  const out: TableContent = { table: {}, sets: {}, chains: {}, rules: {}, other: [] };
  for (const item of doc.nftables as unknown[]) {
    if (!isObject(item)) throw new SyntaxError('an entry is not an object');
    const [kind, value] = Object.entries(item)[0] ?? [];
    if (kind === undefined || kind === 'metainfo') continue;
    if (!isObject(value)) throw new SyntaxError(`"${kind}" is not an object`);
    const name = String(value.name);
    if (kind === 'table') out.table = without(value, ['family', 'name', 'handle']);
    else if (kind === 'set') out.sets[name] = setContent(value);
    else if (kind === 'chain') out.chains[name] = without(value, ['family', 'table', 'name', 'handle']);
    else if (kind === 'rule') (out.rules[String(value.chain)] ??= []).push(without(value, ['family', 'table', 'chain', 'handle']));
    else out.other.push({ [kind]: without(value, ['handle']) });
  }
  return out;
}

const match = (op: '==' | '!=', f: Family, field: 'saddr' | 'daddr', set: string): Json => ({
  match: { op, left: { payload: { protocol: PROTO[f], field } }, right: `@${set}` },
});

/** What listedContent gives for the table renderTable(sets) makes (as nft 1.0 lists it). */
export function desiredContent(sets: MasqueradeSets): TableContent {
  const setOf = (f: Family, elems: readonly string[]): Json => ({
    type: ADDR_TYPE[f],
    flags: ['interval'],
    ...(elems.length > 0 ? { elem: [...elems].sort() } : {}),
  });
  const out: TableContent = { table: {}, sets: {}, chains: {}, rules: {}, other: [] };
  for (const f of FAMILIES) {
    out.sets[SET.node[f]] = setOf(f, sets.node[f]);
    out.sets[SET.cluster[f]] = setOf(f, sets.cluster[f]);
  }
  out.chains[CHAIN] = { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' };
  out.rules[CHAIN] = FAMILIES.map((f) => ({
    expr: [match('==', f, 'saddr', SET.node[f]), match('!=', f, 'daddr', SET.cluster[f]), { masquerade: null }],
  }));
  return out;
}
