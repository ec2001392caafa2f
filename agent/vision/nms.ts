/** Greedy non-maximum suppression over axis-aligned boxes (pure). */
import { iou } from '../core/geometry.js';
import type { Box } from '../core/types.js';

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
