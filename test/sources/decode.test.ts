import test from 'ava';
import sharp from 'sharp';
import { FerError } from '../../agent/core/errors.js';
import { decodeFrame, downscaleRaw } from '../../agent/sources/decode.js';
import { colourJpeg, noiseJpeg } from './helpers.js';

const enc = (bytes: Uint8Array, seq = 3) => ({ seq, monoMs: 12.5, wallMs: 1_700_000_000_000, bytes });

test('a JPEG decodes to tightly packed RGB with the frame metadata kept', async (t) => {
  const f = await decodeFrame('cam1', enc(await colourJpeg(12, 64, 48)));
  t.like(f, { cameraId: 'cam1', seq: 3, monoMs: 12.5, wallMs: 1_700_000_000_000, width: 64, height: 48, channels: 3 });
  t.is(f.data.length, 64 * 48 * 3);
  // Solid colour (120, 80, 160) within JPEG error.
  t.true(Math.abs(f.data[0] - 120) <= 3 && Math.abs(f.data[1] - 80) <= 3 && Math.abs(f.data[2] - 160) <= 3, `got ${f.data.subarray(0, 3).join(',')}`);
});

test('grayscale JPEGs and PNGs with alpha also come out as 3-channel RGB', async (t) => {
  const gray = await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 90, g: 90, b: 90 } } }).grayscale().jpeg().toBuffer();
  const g = await decodeFrame('c', enc(gray));
  t.is(g.channels, 3);
  t.is(g.data.length, 20 * 10 * 3);
  t.true(Math.abs(g.data[0] - g.data[2]) <= 1);
  const png = await sharp({ create: { width: 8, height: 6, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 1 } } }).png().toBuffer();
  const p = await decodeFrame('c', enc(png));
  t.is(p.data.length, 8 * 6 * 3);
  t.deepEqual([...p.data.subarray(0, 3)], [10, 20, 30]);
});

test('maxWidth downscales keeping the aspect ratio and never enlarges', async (t) => {
  const jpg = await noiseJpeg(1, 200, 100);
  const small = await decodeFrame('c', enc(jpg), 50);
  t.like(small, { width: 50, height: 25 });
  t.is(small.data.length, 50 * 25 * 3);
  const same = await decodeFrame('c', enc(jpg), 400);
  t.like(same, { width: 200, height: 100 });
});

async function corrupt(t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const err = await t.throwsAsync(decodeFrame('cam9', enc(bytes, 41)), { instanceOf: FerError });
  t.is((err as FerError).reason, 'frame_corrupt');
  t.regex(err!.message, /camera cam9 frame 41/);
  t.regex(err!.message, pattern);
}

test('empty bytes are frame_corrupt: empty', async (t) => {
  await corrupt(t, new Uint8Array(0), /empty \(0 bytes\)/);
});

test('truncated JPEGs are frame_corrupt: truncated', async (t) => {
  const jpg = await noiseJpeg(2);
  await corrupt(t, jpg.subarray(0, Math.floor(jpg.length / 2)), /truncated/);
  await corrupt(t, jpg.subarray(0, jpg.length - 2), /truncated/); // only the EOI missing
});

test('random bytes are frame_corrupt: not a decodable image', async (t) => {
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 256);
  await corrupt(t, bytes, /not a decodable image \(300 bytes, starts 0b 30 55 7a\)/);
});

test('a header claiming more than 40 MP is refused before decoding', async (t) => {
  const jpg = Buffer.from(await colourJpeg(1, 16, 16));
  // Patch the SOF0 frame header to claim 8000x6000.
  const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
  t.true(sof > 0);
  jpg.writeUInt16BE(6000, sof + 5);
  jpg.writeUInt16BE(8000, sof + 7);
  await corrupt(t, jpg, /8000x6000 \(48\.0 MP\), over the 40 MP limit/);
});

test('downscaleRaw scales raw RGB frames and leaves small ones alone', async (t) => {
  const frame = { cameraId: 'c', seq: 1, monoMs: 0, wallMs: 0, width: 40, height: 20, channels: 3 as const, data: new Uint8Array(40 * 20 * 3).fill(77) };
  const s = await downscaleRaw(frame, 10);
  t.like(s, { width: 10, height: 5, seq: 1 });
  t.is(s.data.length, 10 * 5 * 3);
  t.is(s.data[7], 77);
  t.is(await downscaleRaw(frame, 40), frame);
});
