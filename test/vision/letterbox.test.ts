import test from 'ava';
import { clipBox, faceToFrame, letterbox, roundUpTo } from '../../agent/vision/letterbox.js';

test('input sides round up to multiples of 32 and the frame fits with its aspect kept', (t) => {
  t.is(roundUpTo(300, 32), 320);
  t.is(roundUpTo(320, 32), 320);
  t.is(roundUpTo(0, 32), 32);
  t.deepEqual(letterbox(640, 480, 320, 240), { inputWidth: 320, inputHeight: 256, contentWidth: 320, contentHeight: 240, scale: 0.5 });
  t.deepEqual(letterbox(512, 512, 320, 256), { inputWidth: 320, inputHeight: 256, contentWidth: 256, contentHeight: 256, scale: 0.5 });
  const wide = letterbox(1920, 1080, 320, 256);
  t.is(wide.contentWidth, 320);
  t.is(wide.contentHeight, 180);
  const small = letterbox(160, 120, 320, 256);
  t.is(small.scale, 2);
  t.deepEqual([small.contentWidth, small.contentHeight], [320, 240]);
});

test('faces map back to frame pixels and are clipped to the frame', (t) => {
  const lb = letterbox(640, 480, 320, 256);
  const f = faceToFrame({ box: { x: 300, y: 200, width: 40, height: 60 }, score: 0.8, landmarks: [[310, 220]] }, lb, 640, 480);
  t.deepEqual(f.box, { x: 600, y: 400, width: 40, height: 80 });
  t.deepEqual(f.landmarks, [[620, 440]]);
  t.is(f.score, 0.8);
  t.deepEqual(clipBox({ x: -5, y: -5, width: 10, height: 10 }, 100, 100), { x: 0, y: 0, width: 5, height: 5 });
  t.deepEqual(clipBox({ x: 120, y: 10, width: 10, height: 10 }, 100, 100), { x: 100, y: 10, width: 0, height: 10 });
});
