import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { decodeCenterFace, type CenterFaceMaps } from '../../agent/vision/centerface-decode.js';
import { nms } from '../../agent/vision/nms.js';

const W = 8;
const H = 6;
const N = W * H;

function emptyMaps(): CenterFaceMaps {
  return { width: W, height: H, heatmap: new Float32Array(N), scale: new Float32Array(2 * N), offset: new Float32Array(2 * N), landmarks: new Float32Array(10 * N) };
}

/** Writes one cell's prediction: box height/width in pixels, centre offset (y, x) in cells, landmarks as (y, x) fractions. */
function put(m: CenterFaceMaps, cx: number, cy: number, score: number, h: number, w: number, off: [number, number], lm: Array<[number, number]>): void {
  const i = cy * W + cx;
  m.heatmap[i] = score;
  m.scale[i] = Math.log(h / 4);
  m.scale[N + i] = Math.log(w / 4);
  m.offset[i] = off[0];
  m.offset[N + i] = off[1];
  lm.forEach(([ly, lx], k) => {
    m.landmarks[2 * k * N + i] = ly;
    m.landmarks[(2 * k + 1) * N + i] = lx;
  });
}

const LM: Array<[number, number]> = [[0.3, 0.25], [0.3, 0.75], [0.55, 0.5], [0.8, 0.3], [0.8, 0.7]];

test('one cell decodes to the box around (cell + offset + 0.5) * 4 with exp(scale) * 4 sides, landmarks from its corner', (t) => {
  const m = emptyMaps();
  put(m, 3, 2, 0.9, 40, 20, [0.25, -0.5], LM);
  const faces = decodeCenterFace(m, 0.5);
  t.is(faces.length, 1);
  const f = faces[0]!;
  t.true(Math.abs(f.score - 0.9) < 1e-6);
  // centre y = (2 + 0.25 + 0.5) * 4 = 11, centre x = (3 - 0.5 + 0.5) * 4 = 12
  t.true(Math.abs(f.box.x - 2) < 1e-4, `x ${f.box.x}`);
  t.true(Math.abs(f.box.y - -9) < 1e-4, `y ${f.box.y}`);
  t.true(Math.abs(f.box.width - 20) < 1e-4);
  t.true(Math.abs(f.box.height - 40) < 1e-4);
  t.is(f.landmarks!.length, 5);
  const [lx, ly] = f.landmarks![4]!;
  t.true(Math.abs(lx - (2 + 0.7 * 20)) < 1e-4 && Math.abs(ly - (-9 + 0.8 * 40)) < 1e-4, `landmark ${lx},${ly}`);
});

test('scores at or below the threshold are dropped', (t) => {
  const m = emptyMaps();
  put(m, 1, 1, 0.5, 16, 16, [0, 0], LM);
  put(m, 5, 4, 0.49, 16, 16, [0, 0], LM);
  put(m, 6, 1, 0.51, 16, 16, [0, 0], LM);
  const faces = decodeCenterFace(m, 0.5);
  t.is(faces.length, 1);
  t.true(Math.abs(faces[0]!.box.x - (6.5 * 4 - 8)) < 1e-4);
});

test('a blob of neighbouring cells predicting one face collapses to one face after NMS; a second face survives', (t) => {
  const m = emptyMaps();
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      // Neighbours point back at the same centre through their offsets.
      put(m, 2 + dx, 2 + dy, dx === 0 && dy === 0 ? 0.95 : 0.7, 20, 16, [-dy, -dx], LM);
    }
  }
  put(m, 7, 5, 0.8, 12, 12, [0, 0], LM);
  const candidates = decodeCenterFace(m, 0.5);
  t.is(candidates.length, 10);
  const kept = nms(candidates, 0.4);
  t.is(kept.length, 2);
  t.true(Math.abs(kept[0]!.score - 0.95) < 1e-6);
});

test('maps shorter than their declared size are a model_shape_mismatch', (t) => {
  const m = { ...emptyMaps(), landmarks: new Float32Array(5 * N) };
  const err = t.throws(() => decodeCenterFace(m, 0.5), { instanceOf: FerError });
  t.is(err?.reason, 'model_shape_mismatch');
  t.regex(err?.message ?? '', /landmarks/);
});
