import test from 'ava';
import fc from 'fast-check';
import type { Box } from '../../agent/core/types.js';
import { iou } from '../../agent/core/geometry.js';
import { nms } from '../../agent/vision/nms.js';

const box = (x: number, y: number, width: number, height = width): Box => ({ x, y, width, height });

test('iou of identical, disjoint, touching and half-overlapping boxes', (t) => {
  t.is(iou(box(0, 0, 10), box(0, 0, 10)), 1);
  t.is(iou(box(0, 0, 10), box(20, 20, 10)), 0);
  t.is(iou(box(0, 0, 10), box(10, 0, 10)), 0);
  // Overlap 5x10 = 50, union 150.
  t.is(iou(box(0, 0, 10), box(5, 0, 10)), 50 / 150);
  t.is(iou(box(0, 0, 0), box(0, 0, 0)), 0);
});

test('nms keeps the best of an overlapping group and every separate box, best first', (t) => {
  const items = [
    { box: box(0, 0, 10), score: 0.6, id: 'a' },
    { box: box(1, 1, 10), score: 0.9, id: 'b' },
    { box: box(100, 100, 10), score: 0.7, id: 'c' },
    { box: box(2, 0, 10), score: 0.8, id: 'd' },
  ];
  t.deepEqual(nms(items, 0.4).map((i) => i.id), ['b', 'c']);
  t.is(items[0]!.id, 'a', 'input order untouched');
});

test('nms threshold: boxes overlapping exactly at the threshold both stay', (t) => {
  const a = { box: box(0, 0, 10), score: 0.9 };
  const b = { box: box(5, 0, 10), score: 0.8 }; // IoU 1/3
  t.is(nms([a, b], 1 / 3).length, 2);
  t.is(nms([a, b], 0.3).length, 1);
});

test('nms property: kept boxes never overlap above the threshold; every dropped box overlaps a better kept one', (t) => {
  const arbBox = fc.record({
    box: fc.record({ x: fc.integer({ min: 0, max: 100 }), y: fc.integer({ min: 0, max: 100 }), width: fc.integer({ min: 1, max: 40 }), height: fc.integer({ min: 1, max: 40 }) }),
    score: fc.double({ min: 0, max: 1, noNaN: true }),
  });
  fc.assert(
    fc.property(fc.array(arbBox, { maxLength: 30 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (items, thr) => {
      const kept = nms(items, thr);
      for (let i = 0; i < kept.length; i++) {
        for (let j = i + 1; j < kept.length; j++) if (iou(kept[i]!.box, kept[j]!.box) > thr) return false;
        if (i > 0 && kept[i - 1]!.score < kept[i]!.score) return false;
      }
      for (const item of items) {
        if (kept.includes(item)) continue;
        if (!kept.some((k) => k.score >= item.score && iou(k.box, item.box) > thr)) return false;
      }
      return true;
    }),
  );
  t.pass();
});
