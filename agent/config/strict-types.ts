/**
 * Values from a config file or `--set` must already have their key's type: a string where a number belongs
 * (`"min_duration_ms": "1s"`) is an error naming the key, not a number convict reads as 1. Unknown keys get the
 * nearest known key as a suggestion. (Environment variables are strings by nature; convict converts those.)
 */
import { nearest } from '../core/nearest.js';

type Node = Record<string, unknown>;

function isLeaf(n: unknown): n is { format: unknown; default: unknown } {
  return typeof n === 'object' && n !== null && 'default' in n && 'format' in n;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every dotted key of the schema. */
export function schemaKeys(schema: Node, prefix = ''): string[] {
  return Object.entries(schema).flatMap(([k, v]) => (isLeaf(v) ? [prefix + k] : isPlainObject(v) ? schemaKeys(v, `${prefix}${k}.`) : []));
}

/** The known key nearest to `key` (edit distance on the dotted name), if it is close enough to be a typo. */
export const nearestKey = nearest;

function expected(format: unknown): { ok: (v: unknown) => boolean; what: string } | null {
  if (format === String) return { ok: (v) => typeof v === 'string', what: 'a string' };
  if (Array.isArray(format)) return { ok: (v) => typeof v === 'string', what: `one of ${format.join(', ')}` };
  if (typeof format !== 'string') return null;
  if (format === 'bool') return { ok: (v) => typeof v === 'boolean', what: 'true or false' };
  if (format === 'cameras') return { ok: Array.isArray, what: 'a list of cameras: [{"id": ..., "source": {...}}, ...]' };
  if (format === 'string-array' || format === 'group-list') return { ok: Array.isArray, what: 'a list of strings' };
  if (['nat', 'int', 'port', 'unit'].includes(format) || format.startsWith('int[') || format.startsWith('number[')) {
    return { ok: (v) => typeof v === 'number', what: 'a number' };
  }
  return null;
}

function fail(key: string, value: unknown, what: string): never {
  throw new Error(`${key} = ${JSON.stringify(value)} is invalid: expected ${what}`);
}

function checkLeaf(key: string, leaf: { format: unknown }, value: unknown): void {
  const e = expected(leaf.format);
  if (e && !e.ok(value)) fail(key, value, e.what);
}

function unknownKey(key: string, schema: Node): never {
  const near = nearestKey(key, schemaKeys(schema));
  throw new Error(`${key}: unknown configuration key${near ? ` (did you mean ${near}?)` : ''}`);
}

/** Checks a parsed config file (nested JSON) against the schema. */
export function checkFileTypes(value: Record<string, unknown>, schema: Node, prefix = '', root: Node = schema): void {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix + k;
    // Own keys only: `constructor`, `toString` or `__proto__` must not resolve to Object.prototype's members.
    const node = Object.hasOwn(schema, k) ? schema[k] : undefined;
    if (node === undefined) unknownKey(key, root);
    if (isLeaf(node)) checkLeaf(key, node, v);
    else if (isPlainObject(node)) {
      if (!isPlainObject(v)) fail(key, v, `an object with the keys ${Object.keys(node).join(', ')}`);
      checkFileTypes(v, node, `${key}.`, root);
    }
  }
}

/** Checks dotted overrides (`--set key=value`, flags) against the schema. */
export function checkOverrideTypes(overrides: Record<string, unknown>, schema: Node): void {
  for (const [key, v] of Object.entries(overrides)) {
    let node: unknown = schema;
    for (const part of key.split('.')) node = isPlainObject(node) && !isLeaf(node) && Object.hasOwn(node, part) ? node[part] : undefined;
    if (node === undefined) unknownKey(key, schema);
    if (isLeaf(node)) checkLeaf(key, node, v);
    else if (isPlainObject(node) && isPlainObject(v)) checkFileTypes(v, node as Node, `${key}.`, schema);
    else fail(key, v, 'an object');
  }
}
