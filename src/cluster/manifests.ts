// Kubernetes manifests as text (what `kubectl get -o yaml` prints, or what a person
// writes by hand) into validated objects of the policy model: YAML or JSON, many
// documents a file, `kind: List` and the API server's *List kinds. Whatever cannot be
// read is reported with where it sits (file, document, List item, field), never
// thrown: one bad object leaves the rest of the file usable. Sources (the manifest
// directory today, the Kubernetes API next) read through this.
import { parseAllDocuments } from 'yaml';
import { ObjectError, parseObject, type ParsedObject } from '../policy/model.js';

export type { ParsedObject };

/** Something a source holds that was not applied, and where. */
export interface ManifestError {
  /** the file's name inside the directory; null for the directory itself */
  file: string | null;
  /** 0-based index of the YAML document in the file; null for the whole file */
  document: number | null;
  /** index in a List's items; null outside a List */
  item: number | null;
  /** "NetworkPolicy x/deny-all"; null when the document did not name one */
  object: string | null;
  /** JSON path inside the object, e.g. "spec.ingress[0].ports[1].port" */
  field: string | null;
  message: string;
}

/** An object and where in its file it was. */
export interface LocatedObject {
  obj: ParsedObject;
  document: number;
  item: number | null;
}

/** "NetworkPolicy x/deny-all", "Namespace x". */
export function describeObject(o: ParsedObject): string {
  return o.kind === 'Namespace' || o.kind === 'Node' ? `${o.kind} ${o.value.name}` : `${o.kind} ${o.value.namespace}/${o.value.name}`;
}

/** What makes two objects the same object (kind, namespace, name). */
export const objectKey = (o: ParsedObject): string =>
  o.kind === 'Namespace' || o.kind === 'Node' ? `${o.kind}\0${o.value.name}` : `${o.kind}\0${o.value.namespace}\0${o.value.name}`;

/** One line: "a.yaml document 2 item 0: NetworkPolicy x/y: spec.ingress[0]: must be a list". */
export function formatManifestError(e: ManifestError): string {
  const where = [e.file ?? '(directory)'];
  if (e.document !== null) where.push(`document ${e.document}`);
  if (e.item !== null) where.push(`item ${e.item}`);
  const parts = [where.join(' ')];
  if (e.object !== null) parts.push(e.object);
  if (e.field !== null && e.field !== '') parts.push(e.field);
  parts.push(e.message);
  return parts.join(': ');
}

const firstLine = (s: string): string => s.split('\n', 1)[0]!.trim().replace(/:$/, '');
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Every object of one file's text, and what could not be read, document by document. */
export function parseManifests(file: string, text: string): { objects: LocatedObject[]; errors: ManifestError[] } {
  const objects: LocatedObject[] = [];
  const errors: ManifestError[] = [];
  const at = (document: number | null, item: number | null) => ({ file, document, item });
  const take = (raw: unknown, document: number, item: number | null): void => {
    try {
      objects.push({ obj: parseObject(raw), document, item });
    } catch (e) {
      if (e instanceof ObjectError) {
        errors.push({ ...at(document, item), object: e.object, field: e.field === '' ? null : e.field, message: e.reason });
      } else {
        errors.push({ ...at(document, item), object: null, field: null, message: messageOf(e) });
      }
    }
  };
  const document = (raw: unknown, i: number): void => {
    if (raw === null || raw === undefined) return; // an empty document, e.g. after a trailing ---
    if (isList(raw)) {
      const items = raw.items;
      if (items === null || items === undefined) return;
      if (!Array.isArray(items)) {
        errors.push({ ...at(i, null), object: raw.kind, field: 'items', message: 'must be a list' });
        return;
      }
      items.forEach((it, j) => take(it, i, j));
      return;
    }
    take(raw, i, null);
  };
  // JSON (what the lab, the benches and `kubectl -o json` write) is one document; the
  // YAML parser reads it too, but two hundred times slower, which is most of the
  // time 10,000 Services take to load. Anything JSON.parse refuses is YAML's to
  // read, and to explain.
  const json = parseJson(text);
  if (json !== NOT_JSON) {
    document(json, 0);
    return { objects, errors };
  }
  const docs = parseAllDocuments(text, { prettyErrors: true });
  docs.forEach((doc, i) => {
    const yamlError = doc.errors[0];
    if (yamlError !== undefined) {
      errors.push({ ...at(i, null), object: null, field: null, message: `not valid YAML: ${firstLine(yamlError.message)}` });
      return;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      errors.push({ ...at(i, null), object: null, field: null, message: firstLine(messageOf(e)) });
      return;
    }
    document(raw, i);
  });
  return { objects, errors };
}

const NOT_JSON = Symbol('not JSON');

/** text as JSON when it is an object or array that JSON.parse takes, else NOT_JSON. */
function parseJson(text: string): unknown {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return NOT_JSON;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

// kubectl prints `kind: List`; the API server's own lists are PodList, NamespaceList...
function isList(raw: unknown): raw is { kind: string; items: unknown } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  const kind = (raw as { kind?: unknown }).kind;
  return typeof kind === 'string' && kind.endsWith('List') && 'items' in raw;
}
