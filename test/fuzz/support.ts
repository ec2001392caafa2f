/** Shared by the fuzz tests: run counts (FER_SOAK=1 runs many more) and helpers to inspect rejections. */
import { FerError, type ReasonCode } from '../../agent/core/errors.js';

export { LONG, check, runs } from '../helpers/property.js';

/** What a call did: returned, or threw (and what). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; err: unknown };

export function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, err };
  }
}

export async function attemptAsync<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, err };
  }
}

/** Describes an unexpected throw for a property failure message. */
export function describe(err: unknown): string {
  if (err instanceof FerError) return `FerError(${err.reason}): ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `non-error thrown: ${String(err)}`;
}

/** True when `err` is a FerError with one of the reasons and a message that is not empty. */
export function isFerError(err: unknown, ...reasons: ReasonCode[]): err is FerError {
  return err instanceof FerError && reasons.includes(err.reason) && err.message.trim().length > 0;
}

/** Every key (at any depth) of a JSON value. */
export function keysOf(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) keysOf(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(k);
      keysOf(x, out);
    }
  }
  return out;
}
