/**
 * Per-track probability smoothing: an exponential moving average, so one odd frame (blink, motion blur, half-turned
 * head) does not swing a track's emotion.
 */
import { FerError } from '../core/errors.js';

/** Checks the EMA weight (`tracking.smoothing`): the newest frame's share, in (0, 1]; 1 means no smoothing. */
export function checkSmoothingWeight(weight: number): void {
  if (!Number.isFinite(weight) || weight <= 0 || weight > 1) {
    throw new FerError('config_invalid', `tracking.smoothing = ${String(weight)} is invalid: expected a number in (0, 1]`);
  }
}

/**
 * `weight * next + (1 - weight) * prev`, as a new array. Without a usable previous value (a new track, or a model
 * swap that changed the number of labels) the average restarts at `next`.
 */
export function smoothProbs(prev: Float32Array | undefined, next: Float32Array, weight: number): Float32Array {
  const out = new Float32Array(next.length);
  if (prev === undefined || prev.length !== next.length) {
    out.set(next);
    return out;
  }
  for (let i = 0; i < next.length; i++) out[i] = weight * next[i] + (1 - weight) * prev[i];
  return out;
}
