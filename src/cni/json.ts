// Shape checks shared by the config and result parsers. Kept tiny and dependency-free
// because the plugin binary imports it on every call.

export type JsonObject = Record<string, unknown>;

/** A JSON object: not null, not an array. */
export const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON type name used in error messages ("got array", "got null"). */
export const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

export const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

export const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Stdin or a child's stdout as text; a Buffer is read as UTF-8 like the Go tools do. */
export const asText = (data: string | Buffer): string => (typeof data === 'string' ? data : data.toString('utf8'));
