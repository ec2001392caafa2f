/** The published JSON Schemas (agent/events/schemas), compiled once: every sink's output is checked against them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { packageRoot } from '../../agent/core/paths.js';

const ajv = new Ajv2020({ strict: true, allErrors: true });
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
const load = (name: string) => ajv.compile(JSON.parse(readFileSync(path.join(packageRoot, 'agent/events/schemas', name), 'utf8')) as object);
const validators = { event: load('event.v1.json'), state: load('state.v1.json') };

/** Problems of `value` against the event or state schema, or [] when it conforms. */
export function schemaProblems(kind: 'event' | 'state', value: unknown): string[] {
  const v = validators[kind];
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
