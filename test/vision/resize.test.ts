import test from 'ava';
import fc from 'fast-check';
import { PlanarResizer, type PlanarTarget } from '../../agent/vision/resize.js';
import { check, runs } from '../helpers/property.js';

function target(pw: number, ph: number, cw: number, ch: number, order: 'rgb' | 'bgr' = 'rgb', fill = -1): PlanarTarget {
  return { data: new Float32Array(3 * pw * ph).fill(fill), planeWidth: pw, planeHeight: ph, contentWidth: cw, contentHeight: ch, order };
}

const at = (t: PlanarTarget, c: number, x: number, y: number): number => t.data[c * t.planeWidth * t.planeHeight + y * t.planeWidth + x]!;

test('an exact 2x shrink averages 2x2 blocks per channel into planes; padding is left alone', (t) => {
  // 4x2 RGB: pixel (x, y) = (10x + y, 100 + x, 200 - y)
  const src = new Uint8Array(4 * 2 * 3);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) src.set([10 * x + y, 100 + x, 200 - y], (y * 4 + x) * 3);
  const dst = target(4, 2, 2, 1);
  new PlanarResizer().resize(src, 4, 2, 3, dst);
  t.is(at(dst, 0, 0, 0), (0 + 1 + 10 + 11) / 4);
  t.is(at(dst, 0, 1, 0), (20 + 21 + 30 + 31) / 4);
  t.is(at(dst, 1, 1, 0), (102 + 103) / 2);
  t.is(at(dst, 2, 0, 0), 199.5);
  t.is(at(dst, 0, 2, 0), -1, 'right padding untouched');
  t.is(at(dst, 1, 0, 1), -1, 'bottom padding untouched');
});

test('bgr order swaps the first and last planes; gray fills all three', (t) => {
  const src = new Uint8Array([10, 20, 30]);
  const rgb = target(1, 1, 1, 1, 'rgb');
  const bgr = target(1, 1, 1, 1, 'bgr');
  new PlanarResizer().resize(src, 1, 1, 3, rgb);
  new PlanarResizer().resize(src, 1, 1, 3, bgr);
  t.deepEqual([...rgb.data], [10, 20, 30]);
  t.deepEqual([...bgr.data], [30, 20, 10]);
  const gray = target(2, 2, 2, 2);
  new PlanarResizer().resize(new Uint8Array([1, 2, 3, 4]), 2, 2, 1, gray);
  t.deepEqual([...gray.data], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
});

test('enlarging is bilinear: a horizontal ramp stays a monotonic ramp within the source range', (t) => {
  const src = new Uint8Array([0, 100, 200]);
  const dst = target(9, 1, 9, 1);
  new PlanarResizer().resize(src, 3, 1, 1, dst);
  const row = [...dst.data.subarray(0, 9)];
  for (let i = 1; i < row.length; i++) t.true(row[i]! >= row[i - 1]!, `monotonic at ${i}`);
  t.is(row[0], 0);
  t.is(row[8], 200);
  t.is(row[4], 100);
});

test('property: any size change keeps a constant image constant and values within [min, max] of the source', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.integer({ min: 0, max: 1000 }),
      (w, h, ow, oh, v, gray, seed) => {
        const ch = gray ? 1 : 3;
        const r = new PlanarResizer();
        const flat = new Uint8Array(w * h * ch).fill(v);
        const d1 = target(ow, oh, ow, oh);
        r.resize(flat, w, h, ch, d1);
        if (d1.data.some((x) => Math.abs(x - v) > 1e-3)) return false;
        const noisy = new Uint8Array(w * h * ch).map((_, i) => (i * 7919 + seed * 104729) % 256);
        const lo = Math.min(...noisy);
        const hi = Math.max(...noisy);
        const d2 = target(ow, oh, ow, oh);
        r.resize(noisy, w, h, ch, d2);
        return d2.data.every((x) => x >= lo - 1e-3 && x <= hi + 1e-3);
      },
    ),
  );
  t.pass();
});

test('a frame whose buffer is too short is refused', (t) => {
  t.throws(() => new PlanarResizer().resize(new Uint8Array(5), 2, 1, 3, target(2, 1, 2, 1)), { instanceOf: RangeError });
});

test('property: resizing a crop equals resizing the cropped image; a batch offset writes only its own planes', (t) => {
  check(
    t,
    fc.property(
      fc.integer({ min: 2, max: 24 }),
      fc.integer({ min: 2, max: 24 }),
      fc.constantFrom(1 as const, 3 as const),
      fc.integer({ min: 1, max: 20 }),
      fc.nat(),
      (w, h, channels, out, seed) => {
        let x = seed;
        const next = (n: number): number => (x = (x * 1103515245 + 12345) >>> 0) % n;
        const src = Uint8Array.from({ length: w * h * channels }, () => next(256));
        const cw = 1 + next(w);
        const ch = 1 + next(h);
        const cx = next(w - cw + 1);
        const cy = next(h - ch + 1);
        const cut = new Uint8Array(cw * ch * channels);
        for (let y = 0; y < ch; y++) cut.set(src.subarray(((cy + y) * w + cx) * channels, ((cy + y) * w + cx + cw) * channels), y * cw * channels);
        const item = 3 * out * out;
        const batch: PlanarTarget = { data: new Float32Array(2 * item).fill(-1), planeWidth: out, planeHeight: out, contentWidth: out, contentHeight: out, order: 'rgb', offset: item };
        new PlanarResizer().resize(src, w, h, channels, batch, { x: cx, y: cy, width: cw, height: ch });
        const alone = target(out, out, out, out);
        new PlanarResizer().resize(cut, cw, ch, channels, alone);
        if (!batch.data.subarray(0, item).every((v) => v === -1)) throw new Error('wrote outside its batch item');
        const mine = batch.data.subarray(item);
        for (let i = 0; i < item; i++) if (Math.abs(mine[i]! - alone.data[i]!) > 1e-3) throw new Error(`value ${i}: ${mine[i]} vs ${alone.data[i]}`);
      },
    ),
    runs(100),
  );
});

test('a crop outside the frame is refused', (t) => {
  const src = new Uint8Array(4 * 4 * 3);
  const err = t.throws(() => new PlanarResizer().resize(src, 4, 4, 3, target(2, 2, 2, 2), { x: 3, y: 0, width: 2, height: 2 }), { instanceOf: RangeError });
  t.true(err!.message.includes('not inside the 4x4 frame'), err!.message);
});
