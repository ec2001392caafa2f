import test from 'ava';
import sharp from 'sharp';
import type { SnapshotConfig } from '../../agent/config/schema.js';
import type { Frame } from '../../agent/core/types.js';
import { encodeSnapshot } from '../../agent/vision/snapshot.js';

const cfg: SnapshotConfig = { enabled: true, kind: 'face', max_width: 640, quality: 80, max_bytes: 200_000 };

/** A 640x480 gray frame with noise (so JPEG sizes are realistic). */
function frame(): Frame {
  const data = new Uint8Array(640 * 480 * 3);
  let x = 12345;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) % 2 ** 31) % 256;
  return { cameraId: 'c', seq: 0, monoMs: 0, wallMs: 0, width: 640, height: 480, channels: 3, data };
}

test('face: the face with half its size of margin on each side, clamped to the frame', async (t) => {
  const jpeg = await encodeSnapshot(frame(), { x: 300, y: 200, width: 100, height: 120 }, [], cfg);
  const m = await sharp(jpeg!).metadata();
  t.is(m.format, 'jpeg');
  t.deepEqual([m.width, m.height], [200, 240]);
  const corner = await sharp((await encodeSnapshot(frame(), { x: 0, y: 0, width: 100, height: 100 }, [], cfg))!).metadata();
  t.deepEqual([corner.width, corner.height], [150, 150], 'clamped at the frame edge');
});

test('frame: the whole frame, scaled to max_width', async (t) => {
  const jpeg = await encodeSnapshot(frame(), { x: 300, y: 200, width: 100, height: 120 }, [{ x: 300, y: 200, width: 100, height: 120 }], { ...cfg, kind: 'frame', max_width: 320 });
  const m = await sharp(jpeg!).metadata();
  t.deepEqual([m.width, m.height], [320, 240]);
});

test('over max_bytes it is re-encoded smaller until it fits, or not sent at all', async (t) => {
  const big = await encodeSnapshot(frame(), { x: 0, y: 0, width: 10, height: 10 }, [], { ...cfg, kind: 'frame', max_bytes: 4_000_000 });
  const capped = await encodeSnapshot(frame(), { x: 0, y: 0, width: 10, height: 10 }, [], { ...cfg, kind: 'frame', max_bytes: Math.round(big!.length / 3) });
  t.truthy(capped);
  t.true(capped!.length <= big!.length / 3);
  t.is(await encodeSnapshot(frame(), { x: 0, y: 0, width: 10, height: 10 }, [], { ...cfg, kind: 'frame', max_bytes: 100 }), null);
});
