/**
 * The whole agent on the bundled sample frames and the bundled model (real CenterFace, real classifier):
 * debounced events come out, two cameras run side by side, and a hot swap between frames drops nothing.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import test from 'ava';
import { waitFor } from '../helpers/wait.js';
import { loadConfig } from '../../agent/config/load.js';
import { bundledModelDir, sampleFramesDir } from '../../agent/core/paths.js';
import { silentLogger } from '../../agent/core/log.js';
import { iou } from '../../agent/core/geometry.js';
import type { Box, EmotionEvent, EventSink, FrameResult } from '../../agent/core/types.js';
import { Agent } from '../../agent/pipeline/agent.js';
import { fixtureBundle } from '../models/support.js';

class Collect implements EventSink {
  readonly name = 'collect';
  events: EmotionEvent[] = [];
  frames: FrameResult[] = [];
  onEvent(e: EmotionEvent): void {
    this.events.push(e);
  }
  onFrame(r: FrameResult): void {
    this.frames.push(r);
  }
}

function config(cameras: object[]) {
  return loadConfig({
    env: {},
    overrides: {
      'mqtt.url': '',
      'sinks.stdout.enabled': false,
      cameras,
      'debounce.min_duration_ms': 400,
      'debounce.absence_timeout_ms': 600,
      'debounce.cooldown_ms': 500,
    },
  });
}

test('sample frames produce a debounced emotion event and face_lost, once each per appearance', async (t) => {
  const sink = new Collect();
  const agent = new Agent(config([{ id: 'demo', source: { type: 'dir', loop: false }, fps: 10 }]), silentLogger, { sinks: [sink] });
  await agent.start();
  await agent.run(); // a non-looping dir ends by itself
  await agent.stop();
  t.true(sink.frames.length >= 30, `${sink.frames.length} frames processed`);
  const emotions = sink.events.filter((e) => e.eventType !== 'face_lost');
  const lost = sink.events.filter((e) => e.eventType === 'face_lost');
  t.true(emotions.length >= 1, JSON.stringify(sink.events));
  t.true(lost.length >= 1, 'the no-face frames end the first track');
  for (const e of emotions) {
    t.true(agent.model.labels.includes(e.eventType));
    t.true(e.confidence >= 0.5 && e.heldMs >= 400);
  }
  const withFaces = sink.frames.filter((f) => f.faces.length > 0).length;
  t.true(withFaces >= 20 && withFaces <= 26, `${withFaces} frames with a face (24 have one)`);
  // Every stage is timed: decoding a JPEG is real work, not the 0 ms the pipeline once reported.
  t.true(sink.frames.every((f) => f.timings.decodeMs > 0 && f.timings.detectMs > 0), JSON.stringify(sink.frames[0]?.timings));
});

test('two cameras in one agent each produce their own events', async (t) => {
  const sink = new Collect();
  const agent = new Agent(config([
    { id: 'door', source: { type: 'dir', loop: false }, fps: 10 },
    { id: 'hall', source: { type: 'dir', loop: false }, fps: 10, debounce: { min_duration_ms: 200 } },
  ]), silentLogger, { sinks: [sink] });
  await agent.start();
  await agent.run();
  await agent.stop();
  for (const id of ['door', 'hall']) t.true(sink.events.some((e) => e.cameraId === id && e.eventType !== 'face_lost'), `no event from ${id}`);
  t.deepEqual([...new Set(sink.frames.map((f) => f.cameraId))].sort(), ['door', 'hall']);
});

test('hot swap between frames: frames keep flowing and the model event announces the new bundle', async (t) => {
  const sink = new Collect();
  const agent = new Agent(config([{ id: 'demo', source: { type: 'dir', loop: true }, fps: 20 }]), silentLogger, { sinks: [sink] });
  await agent.start();
  const models: Array<{ name: string; sha256: string }> = [];
  agent.bus.on('model', (m) => models.push({ name: m.name, sha256: m.sha256 }));
  const running = agent.run();
  await waitFor('10 frames', () => sink.frames.length >= 10, 20_000);
  const before = sink.frames.length;
  // Another bundle (the tiny parity-fixture network), so the swap is visible: the same bundle again proved nothing.
  const other = fixtureBundle();
  await agent.activateModel(other);
  await waitFor('10 more frames after the swap', () => sink.frames.length >= before + 10, 20_000);
  await agent.stop();
  await running;
  const otherSha = createHash('sha256').update(await readFile(path.join(other, 'manifest.json'))).digest('hex');
  t.deepEqual(models, [{ name: 'parity-fixture', sha256: otherSha }], 'the model event announces the new bundle');
  t.not(otherSha, createHash('sha256').update(await readFile(path.join(bundledModelDir, 'manifest.json'))).digest('hex'));
  t.true(sink.frames.length >= before + 10, 'frames continue after the swap');
  const seqs = sink.frames.map((f) => f.seq);
  t.true(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'frame order kept');
});

test('opt-in snapshots: one JPEG per emotion event of a camera that enables them, with the event id; none for face_lost or other cameras', async (t) => {
  const sink = new Collect();
  const agent = new Agent(config([
    { id: 'snap', source: { type: 'dir', loop: false }, fps: 10, snapshot: { enabled: true } },
    { id: 'plain', source: { type: 'dir', loop: false }, fps: 10 },
  ]), silentLogger, { sinks: [sink] });
  const snaps: Array<{ cameraId: string; eventId: string | undefined; eventType: string; jpeg: Buffer }> = [];
  agent.bus.on('snapshot', (s) => snaps.push(s));
  await agent.start();
  await agent.run();
  const emotions = sink.events.filter((e) => e.cameraId === 'snap' && e.eventType !== 'face_lost');
  t.true(emotions.length >= 1);
  await waitFor('a snapshot per emotion event', () => snaps.length >= emotions.length, 20_000);
  await agent.stop();
  t.deepEqual(snaps.map((s) => s.eventId), emotions.map((e) => e.eventId), 'the same ids, in event order');
  t.true(snaps.every((s) => s.cameraId === 'snap' && s.eventType !== 'face_lost'));
  for (const s of snaps) {
    const m = await sharp(s.jpeg).metadata();
    t.is(m.format, 'jpeg');
    t.true(s.jpeg.length <= 200_000);
  }
});

test('a 1920x1080 camera is scaled to detection.max_frame_width as it is decoded, and its faces are still found', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-wide-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const small = await readFile(path.join(sampleFramesDir, '0001.jpg'));
  writeFileSync(path.join(dir, 'big.jpg'), await sharp(small).resize(1920, 1080, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer());
  const boxes: Box[] = [];
  for (const [max, width] of [[960, 960], [0, 1920]] as const) {
    const sink = new Collect();
    const cfg = config([{ id: 'wide', source: { type: 'file', path: path.join(dir, 'big.jpg'), loop: false }, fps: 10 }]);
    // float32, not auto: auto picks int8 or float32 by timing this machine, and int8 scores a star of the stretched
    // flag at 0.205 against its mapped threshold of 0.201 (float32: 0.137 against 0.3), so the face count would
    // depend on the machine. What is tested here is the scaling.
    const detection = { ...cfg.detection, max_frame_width: max, precision: 'fp32' as const };
    const agent = new Agent({ ...cfg, detection }, silentLogger, { sinks: [sink] });
    await agent.start();
    await agent.run();
    await agent.stop();
    t.true(sink.frames.length >= 1, `max_frame_width ${max}: a frame was processed`);
    t.like(sink.frames[0], { width, height: (width * 9) / 16 }, `max_frame_width ${max}`);
    t.is(sink.frames[0]!.faces.length, 1, `max_frame_width ${max}: the face is found`);
    const box = sink.frames[0]!.faces[0]!.box;
    const toFull = 1920 / width;
    boxes.push({ x: box.x * toFull, y: box.y * toFull, width: box.width * toFull, height: box.height * toFull });
  }
  t.true(iou(boxes[0]!, boxes[1]!) >= 0.8, `the same face at both widths, in full-frame pixels: ${JSON.stringify(boxes)}`);
});
