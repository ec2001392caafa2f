import test from 'ava';
import type { Frame } from '../../agent/core/types.js';
import type { ModelSpec } from '../../agent/emotion/classifier.js';
import { Preprocessor, cropRegion } from '../../agent/emotion/preprocess.js';

const spec = (over: Partial<ModelSpec> = {}): ModelSpec => ({
  labels: ['a', 'b'],
  input: { width: 4, height: 4, channels: 1 },
  preprocessing: { scale: 1 / 255, mean: [0.5], std: [0.25] },
  output: 'probabilities',
  faceCrop: { margin: 0, square: false },
  precision: 'fp32',
  onnxFile: 'model.onnx',
  tfjsFile: 'tfjs/model.json',
  ...over,
});

function frame(width: number, height: number, channels: 1 | 3, px: (x: number, y: number, c: number) => number): Frame {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = px(x, y, c);
  return { cameraId: 't', seq: 0, monoMs: 0, wallMs: 0, width, height, channels, data };
}

test('cropRegion grows by the margin on each side and squares around the centre', (t) => {
  t.deepEqual(cropRegion({ x: 10, y: 20, width: 10, height: 20 }, 0.5, false), { x: 5, y: 10, width: 20, height: 40 });
  t.deepEqual(cropRegion({ x: 10, y: 20, width: 10, height: 20 }, 0, true), { x: 5, y: 20, width: 20, height: 20 });
});

test('a same-size gray crop is the exact pixels, normalised as the manifest says', (t) => {
  const f = frame(4, 4, 1, (x, y) => x * 10 + y * 40);
  const out = new Preprocessor(spec()).run(f, [{ x: 0, y: 0, width: 4, height: 4 }]);
  t.is(out.length, 16);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) t.true(Math.abs(out[y * 4 + x]! - ((x * 10 + y * 40) / 255 - 0.5) / 0.25) < 1e-5);
});

test('RGB frames become gray with ITU-R 601 luma for 1-channel models', (t) => {
  const f = frame(4, 4, 3, (_x, _y, c) => [200, 100, 50][c]!);
  const out = new Preprocessor(spec({ preprocessing: { scale: 1, mean: [0], std: [1] } })).run(f, [{ x: 0, y: 0, width: 4, height: 4 }]);
  t.true(Math.abs(out[5]! - (0.299 * 200 + 0.587 * 100 + 0.114 * 50)) < 1e-3);
});

test('3-channel models get planar RGB with per-channel mean/std; batches are laid out back to back', (t) => {
  const f = frame(8, 8, 3, (x, _y, c) => (x < 4 ? [10, 20, 30][c]! : [110, 120, 130][c]!));
  const p = new Preprocessor(spec({ input: { width: 2, height: 2, channels: 3 }, preprocessing: { scale: 1, mean: [0, 10, 20], std: [1, 2, 5] } }));
  const out = p.run(f, [{ x: 0, y: 0, width: 4, height: 8 }, { x: 4, y: 0, width: 4, height: 8 }]);
  t.is(out.length, 2 * 3 * 4);
  t.true(Math.abs(out[0]! - 10) < 1e-3); // R plane, first face
  t.true(Math.abs(out[4]! - (20 - 10) / 2) < 1e-3); // G plane
  t.true(Math.abs(out[8]! - (30 - 20) / 5) < 1e-3); // B plane
  t.true(Math.abs(out[12]! - 110) < 1e-3); // second face, R plane
});

test('boxes reaching outside the frame are edge-clamped, never out of bounds', (t) => {
  const f = frame(4, 4, 1, () => 255);
  const out = new Preprocessor(spec({ preprocessing: { scale: 1, mean: [0], std: [1] } })).run(f, [{ x: -10, y: -10, width: 40, height: 40 }]);
  t.true(out.every((v) => Math.abs(v - 255) < 1e-3));
});

test('downscaling averages several taps, so a fine checkerboard becomes mid-gray', (t) => {
  const f = frame(64, 64, 1, (x, y) => ((x + y) % 2 ? 255 : 0));
  const out = new Preprocessor(spec({ preprocessing: { scale: 1, mean: [0], std: [1] } })).run(f, [{ x: 0, y: 0, width: 64, height: 64 }]);
  for (const v of out) t.true(Math.abs(v - 127.5) < 20, `sample ${v} is not near mid-gray`);
});

const plain = { scale: 1, mean: [0], std: [1] };

test('a turned crop at roll 0 (or none) is the plain crop, and a hair of roll changes nothing that matters', (t) => {
  const f = frame(40, 30, 3, (x, y, c) => (x * 7 + y * 13 + c * 50) % 256);
  const p = new Preprocessor(spec({ input: { width: 8, height: 8, channels: 1 }, preprocessing: plain }));
  const boxes = [{ x: 3, y: 2, width: 30, height: 25 }, { x: -5, y: 10, width: 20, height: 20 }];
  const a = Array.from(p.run(f, boxes));
  t.deepEqual(Array.from(p.run(f, boxes, [0, 0])), a);
  t.deepEqual(Array.from(p.run(f, boxes, [])), a);
  t.deepEqual(Array.from(p.run(f, boxes, [Number.NaN, Number.POSITIVE_INFINITY])), a, 'a non-finite roll cuts the face upright, never NaN');
  // The turned path (taps placed one by one) equals the axis path (taps shared per row and column) at roll ~0.
  const b = Array.from(p.run(f, boxes, [1e-12, -1e-12]));
  for (let i = 0; i < a.length; i++) t.true(Math.abs(a[i]! - b[i]!) < 1e-6, `sample ${i}: ${a[i]} vs ${b[i]}`);
});

test('a quarter turn samples along the turned axes: output x runs down the frame', (t) => {
  const f = frame(4, 4, 1, (x, y) => 10 * y + x);
  const out = new Preprocessor(spec({ preprocessing: plain })).run(f, [{ x: 0, y: 0, width: 4, height: 4 }], [Math.PI / 2]);
  // output(x, y) = frame(col 3 - y, row x)
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) t.true(Math.abs(out[y * 4 + x]! - (10 * x + (3 - y))) < 1e-9, `(${x}, ${y}): ${out[y * 4 + x]}`);
});

test('a tilted bar comes out level when the crop is turned by its roll, only one face of two being turned', (t) => {
  const roll = (25 * Math.PI) / 180;
  // A bright bar through (32, 32) along (cos, sin) on a dark frame: the eye line of a head tilted by 25 degrees.
  const f = frame(64, 64, 1, (x, y) => (Math.abs(-(x - 32) * Math.sin(roll) + (y - 32) * Math.cos(roll)) < 2 ? 255 : 0));
  const p = new Preprocessor(spec({ input: { width: 32, height: 32, channels: 1 }, preprocessing: plain }));
  const box = { x: 16, y: 16, width: 32, height: 32 };
  const out = p.run(f, [box, box], [roll, 0]);
  const rowsLit = (face: number): number[] => {
    const rows: number[] = [];
    for (let y = 0; y < 32; y++) {
      let lit = 0;
      for (let x = 4; x < 28; x++) if (out[face * 1024 + y * 32 + x]! > 128) lit++;
      if (lit > 0) rows.push(y);
    }
    return rows;
  };
  t.true(rowsLit(0).length <= 5, `turned: the bar lies on rows ${rowsLit(0).join(',')}`);
  t.true(rowsLit(1).length >= 10, `plain: the bar still slopes across rows ${rowsLit(1).join(',')}`);
});
