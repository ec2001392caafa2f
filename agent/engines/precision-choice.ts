/**
 * `precision: auto`, decided on the device: int8 only where it computes what float32 computes and is clearly
 * faster here. On an AVX-512 VNNI x86 core the int8 classifier runs about 2.9x its float form; on an AVX2-only host
 * it was not faster at all, and an int8 form can even be slower than float32 where the CPU lacks the kernels it
 * was made for. Pure: the timings and the agreement come from the caller.
 */
import type { CpuClass } from '../core/cpu-class.js';
import { argmax, lead } from '../core/probabilities.js';

/** int8 must save at least this fraction of float32's time to be chosen. */
export const INT8_MIN_GAIN = 0.1;

export interface PrecisionMeasurement {
  /** Median milliseconds per run, same input, same threads. */
  fp32Ms: number;
  int8Ms: number;
  /** int8 picks float32's top class on every check input where that class is clear (`int8AgreesWhereClear`). */
  agrees: boolean;
}

export interface PrecisionDecision extends PrecisionMeasurement {
  precision: 'fp32' | 'int8';
  why: string;
  /** What the decision holds for: the cache key's parts. */
  key: string;
  decidedAt: string;
}

/**
 * Whether int8 picks float32's top class on each of `n` check inputs (probabilities, `k` per input) wherever
 * float32's answer is clear: its lead over the runner-up is more than `margin`. A near tie may fall either way without
 * int8 computing anything else (the self-test's own rule, with `margin` twice its tolerance).
 */
export function int8AgreesWhereClear(fp32: ArrayLike<number>, int8: ArrayLike<number>, n: number, k: number, margin: number): boolean {
  for (let i = 0; i < n; i++) {
    if (argmax(fp32, i * k, k) !== argmax(int8, i * k, k) && lead(fp32, i * k, k) > margin) return false;
  }
  return true;
}

export function choosePrecision(m: PrecisionMeasurement): { precision: 'fp32' | 'int8'; why: string } {
  const gain = 1 - m.int8Ms / m.fp32Ms;
  const timing = `int8 ${m.int8Ms.toFixed(2)} ms, fp32 ${m.fp32Ms.toFixed(2)} ms (${gain >= 0 ? `${(gain * 100).toFixed(0)} % faster` : `${(-gain * 100).toFixed(0)} % slower`})`;
  if (!m.agrees) return { precision: 'fp32', why: `int8 disagrees with fp32 on this CPU; ${timing}` };
  if (!(m.int8Ms <= (1 - INT8_MIN_GAIN) * m.fp32Ms)) return { precision: 'fp32', why: `int8 is not ${INT8_MIN_GAIN * 100} % faster here: ${timing}` };
  return { precision: 'int8', why: timing };
}

/** Where decisions are kept between runs (the state folder); the wiring supplies it. */
export interface PrecisionCache {
  get(key: string): PrecisionDecision | null;
  save(d: PrecisionDecision): Promise<void>;
}

/** Decides from a measurement, or takes the cached decision for the same key. */
export async function decidePrecision(key: string, measure: () => Promise<PrecisionMeasurement>, cache: PrecisionCache | null): Promise<PrecisionDecision> {
  const hit = cache?.get(key);
  if (hit) return hit;
  const m = await measure();
  const d: PrecisionDecision = { ...m, ...choosePrecision(m), key, decidedAt: new Date().toISOString() };
  await cache?.save(d);
  return d;
}

/** A decision holds for one model (by digest), one CPU, one onnxruntime and one thread count; any change re-measures. */
/** Bumped when the rule itself changes, so a decision cached under an older rule is made again. */
const DECISION_RULE = 'rule 2';

export function precisionKey(what: string, modelDigest: string, cpu: CpuClass, runtime: string, threads: number): string {
  return [what, modelDigest, cpu.name, cpu.model, runtime, `threads ${threads}`, DECISION_RULE].join(' | ');
}
