// parseObject as the model tests use it: the error a raw object is refused with, or
// the value of the one kind it must parse as.
import { ObjectError, parseObject, type ParsedObject } from '../../src/policy/model.js';

export function parseErrorOf(raw: unknown): ObjectError {
  try {
    parseObject(raw);
  } catch (e) {
    if (e instanceof ObjectError) return e;
    throw e;
  }
  throw new Error('parsed without error');
}

type ValueOf<K extends ParsedObject['kind']> = Extract<ParsedObject, { kind: K }> extends { value: infer V } ? V : never;

export function parsedAs<K extends ParsedObject['kind']>(kind: K, raw: unknown): ValueOf<K> {
  const o = parseObject(raw);
  if (o.kind !== kind) throw new Error(`parsed as ${o.kind}, not ${kind}`);
  return o.value as ValueOf<K>;
}
