/**
 * Flags shared by the subcommands. Flags are the last configuration layer: they become overrides on top of
 * configs/default.json → --config → FER_* environment.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FerError } from '../core/errors.js';
import { nearest } from '../core/nearest.js';

export const commonOptions = {
  config: { type: 'string', short: 'c' },
  engine: { type: 'string' },
  model: { type: 'string' },
  threads: { type: 'string' },
  'log-level': { type: 'string' },
  'agent-id': { type: 'string' },
  'mqtt-url': { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export type Parsed = { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };

/** A mistake on the command line (unknown flag, missing value): main prints it with a hint and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parse(argv: string[], extra: ParseArgsConfig['options'] = {}): Parsed {
  return parseFlags(argv, { ...commonOptions, ...extra });
}

/** Strict parsing of exactly `options`; a mistake is a UsageError (main prints it with a hint and exits 2). */
export function parseFlags(argv: string[], options: NonNullable<ParseArgsConfig['options']>): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const msg = err instanceof Error ? err.message : String(err);
    // node's own messages suggest quoting tricks ("-- \"--bogus\""): say plainly what is wrong instead.
    const opt = /option '([^']+)'/.exec(msg)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && opt) {
      const near = nearest(opt, Object.keys(options).map((k) => `--${k}`));
      throw new UsageError(`unknown option ${opt}${near ? ` (did you mean ${near}?)` : ''}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && opt) throw new UsageError(`option ${opt.split(' ')[0]} needs a value`);
    throw new UsageError(msg);
  }
}

/** Turns the common flags into dotted config overrides. `--set key=value` takes JSON values or plain strings. */
export function overridesFrom(values: Parsed['values']): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (typeof values.engine === 'string') o.engine = values.engine;
  if (typeof values.model === 'string') o['model.path'] = values.model;
  if (typeof values.threads === 'string') {
    const t = Number(values.threads);
    if (!Number.isInteger(t) || t < 1) throw new FerError('config_invalid', `--threads = ${JSON.stringify(values.threads)} is invalid: expected a positive integer`);
    o.threads = t;
  }
  if (typeof values['log-level'] === 'string') o.log_level = values['log-level'];
  if (typeof values['agent-id'] === 'string') o.agent_id = values['agent-id'];
  if (typeof values['mqtt-url'] === 'string') o['mqtt.url'] = values['mqtt-url'];
  for (const kv of (values.set as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new FerError('config_invalid', `--set ${JSON.stringify(kv)} is invalid: expected key=value`);
    const raw = kv.slice(i + 1);
    let v: unknown = raw;
    try {
      v = JSON.parse(raw);
    } catch {
      // plain string
    }
    o[kv.slice(0, i)] = v;
  }
  return o;
}
