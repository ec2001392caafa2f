/** Follow regions, the pure part: where regions go, when the whole frame is searched, how region results are joined. */
import test from 'ava';
import fc from 'fast-check';
import type { Box, DetectedFace } from '../../agent/core/types.js';
import { MIN_REGION_SIDE, REGION_SCALE, mergeRegionFaces, planDetection, regionAround, regionsFoundAll, type FollowedFace, type RegionPlanOptions } from '../../agent/vision/region-plan.js';
import { check, runs } from '../helpers/property.js';

const W = 640;
const H = 480;
const opts: RegionPlanOptions = { fullIntervalMs: 500, regionInput: 128, fullInputPixels: 480 * 352 };
const face = (x: number, y: number, s = 80, missed = 0): FollowedFace => ({ box: { x, y, width: s, height: s * 1.25 }, missed });
const det = (box: Box, score = 0.9): DetectedFace => ({ box, score });

test('a region is a square of REGION_SCALE x the face around its centre, in integer pixels', (t) => {
  const r = regionAround({ x: 300, y: 200, width: 40, height: 50 }, W, H);
  const side = REGION_SCALE * 50;
  t.is(r.width, side);
  t.is(r.height, r.width);
  t.deepEqual([r.x, r.y], [Math.round(320 - side / 2), Math.round(225 - side / 2)]);
  // A near-zero box (possible with min_face_px 0) still gets a region the resizer can read.
  const tiny = regionAround({ x: 10, y: 10, width: 0.1, height: 0.1 }, W, H);
  t.is(tiny.width, MIN_REGION_SIDE);
  t.true(tiny.x >= 0 && tiny.y >= 0);
});

test('property: a region lies inside the frame, is square and holds the face centre', (t) => {
  check(
    t,
    fc.property(fc.integer({ min: 16, max: 1920 }), fc.integer({ min: 16, max: 1080 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 1, max: 2000, noNaN: true }), (w, h, fx, fy, s) => {
      const box = { x: fx * w - s / 2, y: fy * h - s / 2, width: s, height: s };
      const r = regionAround(box, w, h);
      if (r.x < 0 || r.y < 0 || r.x + r.width > w || r.y + r.height > h) throw new Error(`region ${JSON.stringify(r)} leaves the ${w}x${h} frame`);
      if (r.width !== r.height || !Number.isInteger(r.x) || !Number.isInteger(r.width)) throw new Error(`region ${JSON.stringify(r)} is not an integer square`);
      const cx = fx * w;
      const cy = fy * h;
      if (cx < r.x - 1 || cx > r.x + r.width + 1 || cy < r.y - 1 || cy > r.y + r.height + 1) throw new Error(`centre ${cx},${cy} outside ${JSON.stringify(r)}`);
    }),
    runs(300),
  );
});

test('the whole frame is searched with no face followed, after a miss, every full interval and when regions cost too much', (t) => {
  t.deepEqual(planDetection([], W, H, 0, opts), { kind: 'full', reason: 'no_faces' });
  t.deepEqual(planDetection([face(100, 100), face(300, 100, 80, 1)], W, H, 0, opts), { kind: 'full', reason: 'missed' });
  t.deepEqual(planDetection([face(100, 100)], W, H, 500, opts), { kind: 'full', reason: 'interval' });
  t.deepEqual(planDetection([face(100, 100)], W, H, Number.POSITIVE_INFINITY, opts), { kind: 'full', reason: 'interval' });
  // 7 regions of 128x128 are 115k input pixels: over 60% of a 480x352 search (101k); 6 are 98k.
  const seven = Array.from({ length: 7 }, (_, i) => face(10 + i * 90, 100, 60));
  t.deepEqual(planDetection(seven, W, H, 0, opts), { kind: 'full', reason: 'costly' });
  t.is(planDetection(seven.slice(0, 6), W, H, 0, opts).kind, 'regions');
  t.deepEqual(planDetection([face(100, 100)], W, H, 0, { ...opts, fullIntervalMs: 0 }), { kind: 'full', reason: 'interval' });
});

test('faces found on the last frame, within the interval: one region per face', (t) => {
  const plan = planDetection([face(100, 100), face(400, 200, 60)], W, H, 120, opts);
  if (plan.kind !== 'regions') return t.fail(`expected regions, got ${JSON.stringify(plan)}`);
  t.is(plan.regions.length, 2);
  t.deepEqual(plan.regions[0], regionAround(face(100, 100).box, W, H));
  t.deepEqual(plan.regions[1], regionAround(face(400, 200, 60).box, W, H));
});

test("a face cut by a region's inner edge is dropped; one at the frame's edge is kept; a face found twice is kept once", (t) => {
  const a: Box = { x: 100, y: 100, width: 200, height: 200 };
  const b: Box = { x: 250, y: 100, width: 200, height: 200 };
  const whole = det({ x: 170, y: 150, width: 60, height: 80 });
  const cut = det({ x: 270, y: 150, width: 30, height: 80 }, 0.6); // the neighbour, half inside region a
  const again = det({ x: 172, y: 151, width: 59, height: 80 }, 0.8);
  const merged = mergeRegionFaces([[whole, cut], [again]], [a, b], W, H, 0.4);
  t.deepEqual(merged, [whole]);
  const corner: Box = { x: 0, y: 0, width: 200, height: 200 };
  const atFrameEdge = det({ x: 0, y: 20, width: 50, height: 60 });
  t.deepEqual(mergeRegionFaces([[atFrameEdge]], [corner], W, H, 0.4), [atFrameEdge]);
});

test('a region search counts only when every followed face was found again', (t) => {
  const followed = [face(100, 100), face(400, 100)];
  t.true(regionsFoundAll(followed, [det({ x: 104, y: 102, width: 80, height: 100 }), det({ x: 396, y: 99, width: 80, height: 100 })]));
  t.false(regionsFoundAll(followed, [det({ x: 104, y: 102, width: 80, height: 100 })]));
  t.true(regionsFoundAll([], []));
});
