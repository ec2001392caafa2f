/**
 * Follow regions, pure: while faces are followed, the detector searches only a small square around each one (its
 * predicted box, `REGION_SCALE` times its side) instead of the whole frame. A 128x128 region costs CenterFace about a
 * tenth of a 480x352 frame, and a face moves little between two frames, so most frames with faces need no full search.
 *
 * The whole frame is still searched
 *  - when no face is followed (idle gating may skip that run; see motion-gate.ts),
 *  - when a followed face was missed on the last frame (it may have moved far or be hidden: look everywhere),
 *  - at least every `fullIntervalMs` (a second person who walks in while the first is followed is found then),
 *  - when the regions together would cost more than `maxCostRatio` of a full search (many faces),
 *  - and on the same frame when a region search comes back with fewer faces than it looked for (pipeline).
 */
import { center, iou, side } from '../core/geometry.js';
import type { Box, DetectedFace } from '../core/types.js';
import { nms } from './nms.js';

/**
 * A region's side over its face's side: room for the face to move half its size in any direction between two frames
 * (a region that loses its face costs one full search on that frame). At 2 and a 128-pixel input the face is about
 * 64 pixels there: boxes within IoU 0.8 of the full search's on the test scenes, at a sixth of its input pixels.
 */
export const REGION_SCALE = 2;

/** The smallest region side (frame pixels). */
export const MIN_REGION_SIDE = 16;

/** A face followed by the tracker, as the planner sees it. */
export interface FollowedFace {
  /** Where the tracker expects the face on this frame (frame pixels). */
  box: Box;
  /** Frames in a row the face was not detected (0: it was found on the last frame). */
  missed: number;
}

export interface RegionPlanOptions {
  /** Search the whole frame at least this often while faces are followed (ms). */
  fullIntervalMs: number;
  /** Side of each region's detector input (pixels). */
  regionInput: number;
  /** Input pixels of a full search (detector input width x height): the cost regions must beat. */
  fullInputPixels: number;
  /** Regions are used only while their input pixels stay below this share of a full search (default 0.6). */
  maxCostRatio?: number;
}

export type FullReason = 'no_faces' | 'missed' | 'interval' | 'costly';
export type DetectionPlan = { kind: 'full'; reason: FullReason } | { kind: 'regions'; regions: Box[] };

/** The square of REGION_SCALE x the face's larger side around its centre, moved inside the frame (integer pixels). */
export function regionAround(box: Box, frameWidth: number, frameHeight: number): Box {
  // At least MIN_REGION_SIDE (a near-zero box with min_face_px 0 must not become an empty crop), at most the frame.
  const s = Math.round(Math.min(Math.max(REGION_SCALE * Math.max(box.width, box.height), MIN_REGION_SIDE), frameWidth, frameHeight));
  const { cx, cy } = center(box);
  const x = Math.round(Math.min(Math.max(cx - s / 2, 0), frameWidth - s));
  const y = Math.round(Math.min(Math.max(cy - s / 2, 0), frameHeight - s));
  return { x, y, width: s, height: s };
}

/** What to search on this frame; `sinceFullMs`: time since the last full search. */
export function planDetection(followed: readonly FollowedFace[], frameWidth: number, frameHeight: number, sinceFullMs: number, o: RegionPlanOptions): DetectionPlan {
  if (followed.length === 0) return { kind: 'full', reason: 'no_faces' };
  if (followed.some((f) => f.missed > 0)) return { kind: 'full', reason: 'missed' };
  if (!(sinceFullMs < o.fullIntervalMs)) return { kind: 'full', reason: 'interval' };
  if (followed.length * o.regionInput * o.regionInput > (o.maxCostRatio ?? 0.6) * o.fullInputPixels) return { kind: 'full', reason: 'costly' };
  const regions = followed.filter((f) => side(f.box) > 0).map((f) => regionAround(f.box, frameWidth, frameHeight));
  if (regions.length < followed.length) return { kind: 'full', reason: 'missed' };
  return { kind: 'regions', regions };
}

/** Whether `box` reaches within `margin` of one of the region's edges that lies inside the frame. */
function touchesInnerEdge(box: Box, region: Box, frameWidth: number, frameHeight: number, margin: number): boolean {
  return (
    (region.x > 0 && box.x <= region.x + margin) ||
    (region.y > 0 && box.y <= region.y + margin) ||
    (region.x + region.width < frameWidth && box.x + box.width >= region.x + region.width - margin) ||
    (region.y + region.height < frameHeight && box.y + box.height >= region.y + region.height - margin)
  );
}

/**
 * Joins the faces found in each region (frame pixels): a face cut by a region's edge is dropped (the region was
 * placed around another face; its own region or the next full search sees it whole), faces found by two overlapping
 * regions are kept once (NMS at `nmsIou`).
 */
export function mergeRegionFaces(perRegion: readonly (readonly DetectedFace[])[], regions: readonly Box[], frameWidth: number, frameHeight: number, nmsIou: number): DetectedFace[] {
  const all: DetectedFace[] = [];
  perRegion.forEach((faces, i) => {
    const region = regions[i]!;
    const margin = 0.02 * region.width;
    for (const f of faces) if (!touchesInnerEdge(f.box, region, frameWidth, frameHeight, margin)) all.push(f);
  });
  return nms(all, nmsIou);
}

/** Whether every followed face has a found face overlapping it: otherwise the frame needs a full search. */
export function regionsFoundAll(followed: readonly FollowedFace[], found: readonly DetectedFace[]): boolean {
  return followed.every((f) => found.some((d) => iou(d.box, f.box) > 0));
}
