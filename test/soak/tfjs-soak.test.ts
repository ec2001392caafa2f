/**
 * No leaks on the tfjs path: face-api's tiny detector and the bundle's LayersModel on tfjs-wasm. Every frame must
 * leave `tf.memory().numTensors` exactly where it was after warm-up (a single leaked tensor per frame shows), and
 * RSS (wasm heap included) must stay within a bound.
 * Short (120 frames) in the normal suite; `npm run test:soak` runs 3,000.
 */
import test from 'ava';
import { ManualClock } from '../helpers/clock.js';
import * as tf from '@tensorflow/tfjs-core';
import { decodeFrame } from '../../agent/sources/decode.js';
import { LONG, frameCount, rssMiB, sampleJpegs, soakPipeline } from './support.js';

const FRAMES = frameCount(120, 3_000);
const WARMUP = Math.min(20, Math.floor(FRAMES / 3));
const BOUND_MIB = 48;

test(`tfjs-wasm + face-api tiny: ${FRAMES} frames with tf.memory().numTensors flat`, async (t) => {
  t.timeout(LONG ? 3_600_000 : 120_000);
  const jpegs = sampleJpegs();
  const clock = new ManualClock();
  const p = await soakPipeline('tfjs-wasm', 'tiny', clock);
  t.teardown(() => p.dispose());
  t.is(p.engine, 'tfjs-wasm');
  t.is(p.detector.name, 'tiny');
  t.is(tf.getBackend(), 'wasm');

  let tensors0 = -1;
  let rss0 = 0;
  const drift: string[] = [];
  let faces = 0;
  let faceFramesWithFace = 0;
  for (let i = 0; i < FRAMES; i++) {
    clock.advance(300);
    const j = jpegs[i % jpegs.length]!;
    const frame = await decodeFrame('soak', { seq: i, monoMs: clock.mono(), wallMs: clock.wall(), bytes: j.bytes });
    const r = await p.pipeline.process(frame);
    faces += r.faces.length;
    if (j.faces > 0 && r.faces.length > 0) faceFramesWithFace++;
    const n = tf.memory().numTensors;
    if (i + 1 === WARMUP) {
      tensors0 = n;
      rss0 = rssMiB();
    } else if (i + 1 > WARMUP && n !== tensors0 && drift.length < 5) {
      drift.push(`frame ${i}: ${n} tensors (after warm-up ${tensors0})`);
    }
  }
  const rss1 = rssMiB();
  t.log(`${tf.memory().numTensors} tensors, ${(tf.memory().numBytes / 1024 / 1024).toFixed(1)} MiB in tensors; RSS ${rss0.toFixed(1)} → ${rss1.toFixed(1)} MiB; ${faces} faces`);
  t.deepEqual(drift, [], 'no tensor is left behind by any frame');
  t.true(faceFramesWithFace > 0, 'the tiny detector still finds faces');
  t.true(rss1 - rss0 <= BOUND_MIB, `RSS grew ${(rss1 - rss0).toFixed(1)} MiB after warm-up (bound ${BOUND_MIB})`);
});
