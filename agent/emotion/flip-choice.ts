/**
 * `model.flip_tta: auto`, decided on the device: classify each face twice (as seen and mirrored) only where both
 * halves of the bargain are measured. Accuracy: the bundle's own Validation figures (carved from Training rows;
 * PublicTest decides nothing) must show a gain for the form that runs. Speed: two passes of that form must cost no
 * more than one pass of the float model on this CPU (the timings `precision: auto` measured), so flip TTA never makes
 * the classifier slower than the float model alone. A bundle whose release found two passes of its net too slow for the
 * speed target (manifest `runtime.flip_tta: off`: a wider net) keeps auto off. Pure: the figures come from the caller.
 */
import type { Precision } from '../config/types.js';

export type FlipTtaSetting = 'auto' | boolean;

export interface FlipTtaInput {
  setting: FlipTtaSetting;
  /** The bundle's own word (manifest `runtime.flip_tta`): 'off' keeps auto off; absent or 'auto' leaves it to the figures. */
  bundle?: 'auto' | 'off';
  /** The form that runs. */
  precision: Precision;
  /** The bundle's Validation accuracy without and with flip TTA for that form (0-1); absent when it has none. */
  validation?: { plain: number; flip: number };
  /** Median ms per timed batch on this CPU (from `precision: auto`); absent when the precision was not measured. */
  timing?: { fp32Ms: number; int8Ms: number };
}

export interface FlipTtaChoice {
  on: boolean;
  why: string;
}

export function chooseFlipTta(i: FlipTtaInput): FlipTtaChoice {
  if (i.setting !== 'auto') return { on: i.setting, why: `model.flip_tta ${i.setting} (set)` };
  if (i.bundle === 'off') return { on: false, why: "the bundle's release keeps it off (runtime.flip_tta off: two passes of this net miss the speed target)" };
  if (!i.validation) return { on: false, why: `the bundle reports no Validation accuracy with flip TTA for its ${i.precision} form` };
  const gain = (i.validation.flip - i.validation.plain) * 100;
  const acc = `Validation ${(i.validation.plain * 100).toFixed(2)} % → ${(i.validation.flip * 100).toFixed(2)} % with flip TTA`;
  if (!(gain > 0)) return { on: false, why: `no gain on Validation (${acc})` };
  if (!i.timing) return { on: false, why: `${acc}, but its cost was not measured on this CPU (model.precision is not auto here)` };
  const twice = 2 * (i.precision === 'int8' ? i.timing.int8Ms : i.timing.fp32Ms);
  const cost = `two ${i.precision} passes ${twice.toFixed(2)} ms against one fp32 pass ${i.timing.fp32Ms.toFixed(2)} ms`;
  if (!(twice <= i.timing.fp32Ms)) return { on: false, why: `too slow here: ${cost} (${acc})` };
  return { on: true, why: `${acc}; ${cost}` };
}

/** The bundle's Validation figures for one form, from its manifest's `training.metrics` (fer_train.evaluate writes them). */
export function validationFlipFigures(training: unknown, precision: Precision): { plain: number; flip: number } | undefined {
  const metrics = typeof training === 'object' && training !== null ? (training as { metrics?: unknown }).metrics : undefined;
  if (typeof metrics !== 'object' || metrics === null) return undefined;
  const m = metrics as Record<string, unknown>;
  const form = precision === 'int8' ? '_int8' : '';
  const plain = m[`validation_accuracy${form}`];
  const flip = m[`validation_accuracy${form}_flip_tta`];
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 1;
  return ok(plain) && ok(flip) ? { plain, flip } : undefined;
}
