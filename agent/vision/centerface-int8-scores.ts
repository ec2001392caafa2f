/**
 * CenterFace's int8 heat map (u8s8r: 7-bit weights, the same integers on every x86 class) scores faces lower than the
 * float32 one, by an amount that depends on the input size: at a threshold of 0.3 and 480x352 it found 63.0 % of the
 * faces where float32 found 70.1 % (700 generated frames of Validation faces). `detection.score_threshold` is meant
 * on float32's scale, so the int8 model is compared with the threshold mapped through a fit of the two at six input
 * sizes (agent/assets/centerface/fit_int8_scores.py): logit(float32) = a logit(int8) + b, with a and b interpolated
 * between the sizes fitted, linearly in ln(width x height), and the nearest end's outside them. The fit belongs to
 * one int8 file: `sha256` names it, and a test fails when the bundled file changes without a new fit.
 */
import { roundUpTo } from './letterbox.js';

export interface Int8ScoreFit {
  sha256: string;
  /** One fit per input size (width x height), smallest first. */
  sizes: ReadonlyArray<{ readonly pixels: number; readonly a: number; readonly b: number }>;
}

/** `python3 agent/assets/centerface/fit_int8_scores.py /tmp/fer-frames-valall` (2,725 frames, one per Validation face). */
export const CENTERFACE_INT8_SCORES: Int8ScoreFit = {
  sha256: '3781a323c6ac30da51fbaf086f056bb5a0b2ec97f4d712db53f99077b563afe6',
  sizes: [
    { pixels: 49_152, a: 0.9931, b: 0.2087 }, // 256x192
    { pixels: 81_920, a: 0.9876, b: 0.2249 }, // 320x256
    { pixels: 133_120, a: 0.9939, b: 0.3835 }, // 416x320
    { pixels: 168_960, a: 0.9568, b: 0.4744 }, // 480x352
    { pixels: 307_200, a: 0.9034, b: 0.508 }, // 640x480
    { pixels: 486_400, a: 0.886, b: 0.4018 }, // 800x608
  ],
};

/** a and b at an input of `pixels` (width x height). */
function fitAt(fit: Int8ScoreFit, pixels: number): { a: number; b: number } {
  const s = fit.sizes;
  const first = s[0];
  const last = s[s.length - 1];
  if (!first || !last) throw new Error('int8 score fit has no sizes');
  if (pixels <= first.pixels) return first;
  if (pixels >= last.pixels) return last;
  const i = s.findIndex((e) => e.pixels >= pixels);
  const lo = s[i - 1]!;
  const hi = s[i]!;
  const f = Math.log(pixels / lo.pixels) / Math.log(hi.pixels / lo.pixels);
  return { a: lo.a + f * (hi.a - lo.a), b: lo.b + f * (hi.b - lo.b) };
}

/**
 * The int8 score that stands for float32's `threshold` on an input of `width` x `height` (rounded up to multiples of
 * 32, as CenterFace runs it). 0 and 1 stay as they are.
 */
export function int8ScoreThreshold(threshold: number, width: number, height: number, fit: Int8ScoreFit = CENTERFACE_INT8_SCORES): number {
  if (!(threshold > 0 && threshold < 1)) return threshold;
  const { a, b } = fitAt(fit, roundUpTo(width, 32) * roundUpTo(height, 32));
  const z = (Math.log(threshold / (1 - threshold)) - b) / a;
  return 1 / (1 + Math.exp(-z));
}
