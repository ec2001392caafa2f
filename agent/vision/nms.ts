/** Greedy non-maximum suppression over axis-aligned boxes (pure). */
import type { Box } from '../core/types.js';

/** Intersection over union of two boxes; 0 when either has no area. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Keeps the highest-scoring box of every group whose overlap with a kept box exceeds `iouThreshold`.
 * Returns the kept items, best score first; the input array is not modified.
 */
export function nms<T extends { box: Box; score: number }>(items: readonly T[], iouThreshold: number): T[] {
  const order = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const cand of order) {
    let suppressed = false;
    for (const k of kept) {
      if (iou(k.box, cand.box) > iouThreshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push(cand);
  }
  return kept;
}
