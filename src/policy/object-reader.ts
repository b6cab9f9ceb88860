// The JSON walking every object decoder shares: an ObjectError naming object and field,
// the syntax of names and label keys (apimachinery's util/validation), lenient address
// parsing for legacy stored values, and a Reader that fails with the exact JSON path.
import { StraitError } from '../errors.js';
import { type Cidr, formatCidr, networkOf, parseCidr, parseIp, type Ip } from '../ipam/addr.js';
import type { LabelRequirement, LabelSelector, Protocol } from './types.js';

/** An E_OBJECT_INVALID that also says where: the source reports object and field apart. */
export class ObjectError extends StraitError {
  override readonly name = 'ObjectError';
  constructor(
    /** "NetworkPolicy x/deny-all", "Namespace x", or "<unnamed>" */
    readonly object: string,
    /** JSON path of the offending field, e.g. "spec.ingress[0].ports[1].endPort"; "" for the object itself */
    readonly field: string,
    readonly reason: string,
  ) {
    super('E_OBJECT_INVALID', `${object}: ${field === '' ? '(object)' : field}: ${reason}`);
  }
}

export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

// --- syntax of names, label keys and values (apimachinery's util/validation) ---

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function dnsLabelError(v: string): string | null {
  if (v.length > 63) return 'must be no more than 63 characters';
  return DNS_LABEL.test(v) ? null : 'must be a lowercase RFC 1123 label (a-z, 0-9, "-"; alphanumeric at both ends)';
}

export function dnsSubdomainError(v: string): string | null {
  if (v.length > 253) return 'must be no more than 253 characters';
  return DNS_SUBDOMAIN.test(v)
    ? null
    : 'must be a lowercase RFC 1123 subdomain (a-z, 0-9, "-", "."; alphanumeric at both ends)';
}

export function labelKeyError(key: string): string | null {
  const parts = key.split('/');
  if (parts.length > 2) return 'a label key has at most one "/"';
  const name = parts[parts.length - 1] ?? '';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix === '') return 'the prefix of a label key must be non-empty';
    const e = dnsSubdomainError(prefix);
    if (e !== null) return `the prefix of a label key ${e}`;
  }
  if (name === '') return 'the name part of a label key must be non-empty';
  if (name.length > 63) return 'the name part of a label key must be no more than 63 characters';
  return QUALIFIED_NAME.test(name)
    ? null
    : 'the name part of a label key must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
}

export function labelValueError(v: string): string | null {
  if (v.length > 63) return 'a label value must be no more than 63 characters';
  return v === '' || QUALIFIED_NAME.test(v)
    ? null
    : 'a label value must be empty or consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
}

/** IANA_SVC_NAME: what a named port may be called. */
export function portNameError(v: string): string | null {
  if (v.length === 0) return 'must be non-empty';
  if (v.length > 15) return 'must be no more than 15 characters';
  if (!/^[-a-z0-9]+$/.test(v)) return 'must contain only a-z, 0-9 and "-"';
  if (!/[a-z]/.test(v)) return 'must contain at least one letter (a-z)';
  if (v.includes('--')) return 'must not contain consecutive hyphens';
  if (v.startsWith('-') || v.endsWith('-')) return 'must not begin or end with a hyphen';
  return null;
}

// --- addresses: strict canonical output, lenient (legacy) input ---

// Go's legacy parser read "010.001.002.003" as decimal; strip those zeros.
const unpadIp4 = (text: string): string =>
  /^\d+\.\d+\.\d+\.\d+$/.test(text) ? text.split('.').map((o) => String(Number(o))).join('.') : text;

export function parseIpLenient(text: string): Ip | null {
  return parseIp(unpadIp4(text));
}

/** A CIDR as Kubernetes' legacy fields admit it, with its host bits cleared. */
export function parseCidrLenient(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return null;
  const c = parseCidr(`${unpadIp4(text.slice(0, slash))}/${Number(prefix)}`);
  return c === null ? null : { ...c, value: networkOf(c.family, c.value, c.prefixLen) };
}

export const cidrText = (c: Cidr): string => formatCidr(c.family, c.value, c.prefixLen);

// --- JSON walking ---

export type Json = Record<string, unknown>;

export const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
export const index = (path: string, i: number): string => `${path}[${i}]`;
export const keyed = (path: string, key: string): string => `${path}[${key}]`;

export class Reader {
  constructor(readonly object: string) {}

  fail(field: string, reason: string): never {
    throw new ObjectError(this.object, field, reason);
  }

  isObject(v: unknown): v is Json {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }

  obj(v: unknown, path: string): Json {
    if (!this.isObject(v)) this.fail(path, 'must be an object');
    return v;
  }

  /** absent or null → null */
  optObj(v: unknown, path: string): Json | null {
    return v === undefined || v === null ? null : this.obj(v, path);
  }

  /** absent or null → [] */
  arr(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, 'must be an array');
    return v;
  }

  optStr(v: unknown, path: string): string | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    return v;
  }

  optBool(v: unknown, path: string): boolean | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'boolean') this.fail(path, 'must be a boolean');
    return v;
  }

  port(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(path, 'must be an integer');
    if (v < 1 || v > 65535) this.fail(path, 'must be between 1 and 65535, inclusive');
    return v;
  }

  protocol(v: unknown, path: string): Protocol {
    const p = this.optStr(v, path);
    if (p === null) return 'TCP';
    if (!(PROTOCOLS as readonly string[]).includes(p)) this.fail(path, 'supported values: "TCP", "UDP", "SCTP"');
    return p as Protocol;
  }

  labels(v: unknown, path: string): Record<string, string> {
    const raw = this.optObj(v, path);
    const out: Record<string, string> = {};
    if (raw === null) return out;
    for (const [k, val] of Object.entries(raw)) {
      const at = keyed(path, k);
      const ke = labelKeyError(k);
      if (ke !== null) this.fail(at, ke);
      if (typeof val !== 'string') this.fail(at, 'a label value must be a string');
      const ve = labelValueError(val);
      if (ve !== null) this.fail(at, ve);
      out[k] = val;
    }
    return out;
  }

  selector(v: unknown, path: string): LabelSelector {
    const raw = this.obj(v, path);
    const matchLabels = this.labels(raw.matchLabels, child(path, 'matchLabels'));
    const exprPath = child(path, 'matchExpressions');
    const matchExpressions = this.arr(raw.matchExpressions, exprPath).map((e, i) =>
      this.requirement(e, index(exprPath, i)),
    );
    return { matchLabels, matchExpressions };
  }

  requirement(v: unknown, path: string): LabelRequirement {
    const raw = this.obj(v, path);
    const op = this.optStr(raw.operator, child(path, 'operator'));
    const valuesPath = child(path, 'values');
    const values = this.arr(raw.values, valuesPath).map((x, j) => {
      if (typeof x !== 'string') this.fail(index(valuesPath, j), 'must be a string');
      return x;
    });
    switch (op) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) this.fail(valuesPath, "must be specified when `operator` is 'In' or 'NotIn'");
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) this.fail(valuesPath, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        break;
      default:
        this.fail(child(path, 'operator'), 'not a valid selector operator (In, NotIn, Exists, DoesNotExist)');
    }
    const key = this.optStr(raw.key, child(path, 'key')) ?? '';
    const ke = labelKeyError(key);
    if (ke !== null) this.fail(child(path, 'key'), ke);
    values.forEach((x, j) => {
      const ve = labelValueError(x);
      if (ve !== null) this.fail(index(valuesPath, j), ve);
    });
    return { key, operator: op, values };
  }
}

export interface Meta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

/** metadata.name (a DNS label when `nameIsLabel`, else a subdomain), metadata.namespace when namespaced, labels. */
export function readMeta(r: Reader, raw: Json, namespaced: boolean, nameIsLabel = false): Meta {
  const meta = r.obj(raw.metadata, 'metadata');
  const name = r.optStr(meta.name, 'metadata.name') ?? '';
  if (name === '') r.fail('metadata.name', 'name is required');
  const nameError = nameIsLabel ? dnsLabelError(name) : dnsSubdomainError(name);
  if (nameError !== null) r.fail('metadata.name', nameError);
  let namespace = '';
  if (namespaced) {
    namespace = r.optStr(meta.namespace, 'metadata.namespace') ?? '';
    if (namespace === '') r.fail('metadata.namespace', 'namespace is required');
    const e = dnsLabelError(namespace);
    if (e !== null) r.fail('metadata.namespace', e);
  }
  return { name, namespace, labels: r.labels(meta.labels, 'metadata.labels') };
}
