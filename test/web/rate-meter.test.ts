import test from 'ava';
import { RateMeter } from '../../agent/web/rate-meter.js';

const t0 = { totalMs: 40, waitMs: 5, processMs: 35, detectMs: 30, classifyMs: 5 };

test('a steady 5 fps camera reads 5 fps and its mean latency', (t) => {
  const m = new RateMeter(5000);
  for (let i = 0; i < 20; i++) m.add(1000 + i * 200, { totalMs: 40 + (i % 2) * 20, waitMs: (i % 2) * 20, processMs: 40, detectMs: 30, classifyMs: 5 });
  const s = m.snapshot(1000 + 19 * 200 + 50);
  t.true(Math.abs(s.fps - 5) < 1e-9, `fps ${s.fps}`);
  t.is(s.latencyMs, 50);
  t.is(s.frameAgeMs, 10, 'the wait before work, apart');
  t.is(s.processMs, 40, 'and the work');
  t.is(s.detectMs, 30);
  t.is(s.samples, 20);
});

test('a camera that stalls decays towards 0 fps, then reads 0 with no latency once the window is empty', (t) => {
  const m = new RateMeter(5000);
  for (let i = 0; i < 10; i++) m.add(i * 100, t0);
  t.true(Math.abs(m.snapshot(950).fps - 10) < 1e-9);
  const stalled = m.snapshot(3000).fps;
  t.true(stalled < 4, `fps ${stalled} after a 2 s stall`);
  const gone = m.snapshot(20_000);
  t.deepEqual(gone, { fps: 0, latencyMs: null, frameAgeMs: null, processMs: null, detectMs: null, classifyMs: null, samples: 0 });
});

test('one result is no rate yet; memory stays bounded', (t) => {
  const m = new RateMeter(10_000, 50);
  m.add(0, t0);
  t.is(m.snapshot(10).fps, 0);
  for (let i = 1; i < 500; i++) m.add(i, t0);
  t.is(m.snapshot(500).samples, 50);
});
