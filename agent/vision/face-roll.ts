/**
 * Head roll from a detector's landmarks (pure): the angle of the line through the two eyes, for turning the
 * classifier's crop so that the eyes come out level (emotion/preprocess.ts). The expression net trains on faces
 * rotated by up to 12 degrees and loses accuracy past that (docs/model.md, "Tilted heads").
 */
import type { DetectionConfig } from '../config/types.js';
import type { DetectedFace } from '../core/types.js';

/**
 * Tilts under this are left alone by default (detection.roll_align_min_deg): the net trains on faces turned by up to
 * 12 degrees, so turning a small tilt gains nothing and adds the landmarks' own error (docs/model.md, "Tilted heads":
 * chosen on Validation frames).
 */
export const MIN_ROLL_DEG = 10;
/** Beyond this the landmarks are more likely wrong than the head that tilted (CenterFace is trained on upright faces). */
export const MAX_ROLL_DEG = 50;

/**
 * The face's roll in radians (positive: the eye on the image's right is lower, y growing downwards), or 0 when the
 * face has no landmarks (face-api's detectors) or its tilt is under MIN_ROLL_DEG or beyond MAX_ROLL_DEG.
 * CenterFace's first two landmarks are the eyes; they are ordered by x here, so either labelling works.
 */
export function faceRoll(face: Pick<DetectedFace, 'landmarks'>, minDeg = MIN_ROLL_DEG, maxDeg = MAX_ROLL_DEG): number {
  const lm = face.landmarks;
  if (!lm || lm.length < 2) return 0;
  const [a, b] = lm[0]![0] <= lm[1]![0] ? [lm[0]!, lm[1]!] : [lm[1]!, lm[0]!];
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  if (!Number.isFinite(dx) || !Number.isFinite(dy) || (dx === 0 && dy === 0)) return 0;
  const roll = Math.atan2(dy, dx);
  const deg = Math.abs((roll * 180) / Math.PI);
  return deg < minDeg || deg > maxDeg ? 0 : roll;
}

/** Each face's crop roll for Preprocessor.run, or undefined (plain crops) when `detection.roll_align` is off. */
export function cropRolls(faces: readonly Pick<DetectedFace, 'landmarks'>[], cfg: Pick<DetectionConfig, 'roll_align' | 'roll_align_min_deg'>): number[] | undefined {
  return cfg.roll_align ? faces.map((f) => faceRoll(f, cfg.roll_align_min_deg)) : undefined;
}
