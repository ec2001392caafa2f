/**
 * Idle gating on a shrink-on-load preview decides as it does on the full decode: the generated rooms, encoded as a
 * camera would (JPEG), go through two gates, one fed decodeFrame's 640x480 pixels and one fed decodePreview's
 * GRID x GRID_ROWS ones; every decision (still, motion, interval, first) must be the same, frame by frame.
 */
import test from 'ava';
import sharp from 'sharp';
import type { Frame } from '../../agent/core/types.js';
import { decodeFrame, decodePreview } from '../../agent/sources/decode.js';
import { GRID, GRID_ROWS, MotionGate, type GateReason } from '../../agent/vision/motion-gate.js';
import { room } from './rooms.js';

async function jpeg(f: Frame, quality = 80): Promise<Buffer> {
  return sharp(Buffer.from(f.data), { raw: { width: f.width, height: f.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

/** The reasons both gates give for each frame, on the full decode and on the preview. */
async function reasons(frames: readonly Frame[], idleIntervalMs: number, tracksAlive: (i: number) => boolean = () => false): Promise<{ full: GateReason[]; preview: GateReason[] }> {
  const full = new MotionGate({ idleIntervalMs });
  const prev = new MotionGate({ idleIntervalMs });
  const out = { full: [] as GateReason[], preview: [] as GateReason[] };
  for (const [i, f] of frames.entries()) {
    const enc = { seq: i, monoMs: i * 100, wallMs: 0, bytes: await jpeg(f) };
    const p = await decodePreview('c', enc, GRID, GRID_ROWS);
    out.full.push(full.decide(await decodeFrame('c', enc), tracksAlive(i), i * 100).reason);
    out.preview.push(prev.decide(p, tracksAlive(i), i * 100).reason);
  }
  return out;
}

test('the preview is GRID x GRID_ROWS whatever the frame size', async (t) => {
  const bytes = await sharp({ create: { width: 1920, height: 1080, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  const p = await decodePreview('c', { seq: 0, monoMs: 0, wallMs: 0, bytes }, GRID, GRID_ROWS);
  t.deepEqual([p.width, p.height, p.channels, p.data.length], [GRID, GRID_ROWS, 3, GRID * GRID_ROWS * 3]);
});

test('a still, noisy room: the same frames are skipped on the preview as on the full decode', async (t) => {
  const frames = Array.from({ length: 25 }, (_, i) => room({ seed: i + 1, noise: 6 }));
  const r = await reasons(frames, 1000);
  t.deepEqual(r.preview, r.full);
  t.is(r.preview.filter((x) => x === 'still').length, 22, r.preview.join(','));
});

test('a person entering, a far figure, lights on and off: motion on the same frames as the full decode', async (t) => {
  const frames: Frame[] = [];
  for (let i = 0; i < 6; i++) frames.push(room({ seed: 10 + i, noise: 5 }));
  for (let i = 0; i < 4; i++) frames.push(room({ seed: 20 + i, noise: 5, person: { x: 20 + 15 * i, y: 200 } }));
  frames.push(room({ seed: 30, noise: 5 }), room({ seed: 31, noise: 5 }));
  frames.push(room({ seed: 32, noise: 4, person: { x: 300, y: 100, w: 24, h: 40 } }));
  frames.push(room({ seed: 33, noise: 4 }), room({ seed: 34, noise: 4 }));
  frames.push(room({ seed: 35, noise: 4, light: 70 }), room({ seed: 36, noise: 4, light: 70 }), room({ seed: 37, noise: 4, light: 0 }));
  const r = await reasons(frames, 60_000);
  t.deepEqual(r.preview, r.full);
  const at = (reason: GateReason): number[] => r.preview.flatMap((x, i) => (x === reason ? [i] : []));
  // 6: the person appears; 10: they are gone; 12: the far figure; 13: gone; 15: lights on; 17: off.
  t.deepEqual(at('motion'), [6, 7, 8, 9, 10, 12, 13, 15, 17]);
});

test('a followed face keeps the detector running on the preview too', async (t) => {
  const frames = Array.from({ length: 8 }, () => room({ seed: 1, noise: 2 }));
  const r = await reasons(frames, 60_000, (i) => i >= 2 && i < 6);
  t.deepEqual(r.preview, r.full);
  t.deepEqual(r.preview, ['first', 'still', 'tracks', 'tracks', 'tracks', 'tracks', 'still', 'still']);
});

test('a truncated JPEG fails the preview decode as frame_corrupt, as the full decode does', async (t) => {
  const whole = await jpeg(room({ seed: 1 }));
  const enc = { seq: 3, monoMs: 0, wallMs: 0, bytes: whole.subarray(0, Math.floor(whole.length / 2)) };
  const e = await t.throwsAsync(decodePreview('hall', enc, GRID, GRID_ROWS));
  t.is((e as { reason?: string }).reason, 'frame_corrupt');
  t.regex(e!.message, /camera hall frame 3 is truncated/);
});
