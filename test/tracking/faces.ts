/** Test data builders for tracking and debouncing: faces, probabilities, a seeded random source. */
import type { Box, ClassifiedFace, TrackedFace } from '../../agent/core/types.js';

export const LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type Label = (typeof LABELS)[number];

/** Probabilities with the given labels set and the rest of the mass spread evenly over the others. */
export function probs(set: Partial<Record<Label, number>>): Float32Array {
  const out = new Float32Array(LABELS.length);
  const given = Object.values(set).reduce((a, b) => a + (b ?? 0), 0);
  const others = LABELS.filter((l) => set[l] === undefined);
  LABELS.forEach((l, i) => {
    out[i] = set[l] ?? Math.max(0, 1 - given) / others.length;
  });
  return out;
}

export function box(x: number, y: number, size: number, height = size): Box {
  return { x, y, width: size, height };
}

export function classified(b: Box, p: Float32Array = probs({ neutral: 0.9 }), score = 0.9): ClassifiedFace {
  return { box: b, score, emotion: { labels: LABELS, probs: p } };
}

/** A tracked face as the debouncer sees it, with `p` as the smoothed probabilities. */
export function tracked(trackId: number, p: Float32Array, score = 0.9): TrackedFace {
  return { box: box(0, 0, 50), score, emotion: { labels: LABELS, probs: p }, trackId, smoothed: p, age: 1 };
}

/** Mulberry32: small, seeded, reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const tracking = { iou_threshold: 0.3, max_missed_frames: 5, smoothing: 0.4 };
export const debounce = { min_confidence: 0.5, min_duration_ms: 1000, hysteresis: 0.1, cooldown_ms: 3000, absence_timeout_ms: 2000 };
