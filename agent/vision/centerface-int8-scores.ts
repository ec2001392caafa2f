/**
 * CenterFace's int8 heat map (u8s8r: 7-bit weights, the same integers on every x86 class) scores faces lower than the
 * float32 one: at a threshold of 0.3 it found 63.0 % of the faces where float32 found 70.1 % (700 generated frames of
 * Validation faces). `detection.score_threshold` is meant on float32's scale, so the int8 model is compared with the
 * threshold mapped through the fit of the two: logit(float32) = a * logit(int8) + b at each face's peak
 * (agent/assets/centerface/fit_int8_scores.py). The fit belongs to one int8 file: `sha256` names it, and a test fails
 * when the bundled file changes without a new fit.
 */
export interface Int8ScoreFit {
  sha256: string;
  a: number;
  b: number;
}

/** `python3 agent/assets/centerface/fit_int8_scores.py /tmp/fer-frames-val` (684 faces, 480x352). */
export const CENTERFACE_INT8_SCORES: Int8ScoreFit = {
  sha256: '3781a323c6ac30da51fbaf086f056bb5a0b2ec97f4d712db53f99077b563afe6',
  a: 0.8579,
  b: 0.3153,
};

/** The int8 score that stands for float32's `threshold` (0 and 1 stay as they are). */
export function int8ScoreThreshold(threshold: number, fit: Int8ScoreFit = CENTERFACE_INT8_SCORES): number {
  if (!(threshold > 0 && threshold < 1)) return threshold;
  const z = (Math.log(threshold / (1 - threshold)) - fit.b) / fit.a;
  return 1 / (1 + Math.exp(-z));
}
