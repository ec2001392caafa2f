/**
 * Idle gating on scripted frame sequences (640x480, generated): a still room with sensor noise is skipped except
 * every idle interval; a person entering and lights switched on run the detector on that very frame; a followed
 * face keeps it running.
 */
import test from 'ava';
import fc from 'fast-check';
import { MotionGate, changedCells, thumbnail } from '../../agent/vision/motion-gate.js';
import { room } from './rooms.js';

test('a still, noisy room is skipped; the detector still runs every idle interval', (t) => {
  const gate = new MotionGate({ idleIntervalMs: 2000 });
  const decisions: string[] = [];
  for (let i = 0; i < 50; i++) decisions.push(gate.decide(room({ seed: i + 1, noise: 6 }), false, i * 100).reason);
  t.is(decisions[0], 'first');
  // 50 frames at 10 fps = 5 s: the first frame, then one run per 2 s.
  t.deepEqual(decisions.map((d, i) => (d === 'still' ? null : i)).filter((i) => i !== null), [0, 20, 40]);
  t.is(gate.skipped, 47);
});

test('a person entering runs the detector on the first frame they appear in', (t) => {
  const gate = new MotionGate({ idleIntervalMs: 60_000 });
  const seen: string[] = [];
  for (let i = 0; i < 20; i++) {
    const person = i >= 12 ? { x: 20 + 15 * (i - 12), y: 200 } : undefined;
    seen.push(gate.decide(room({ seed: 100 + i, noise: 5, ...(person ? { person } : {}) }), false, i * 100).reason);
  }
  t.true(seen.slice(1, 12).every((d) => d === 'still'), seen.join(','));
  t.is(seen[12], 'motion');
  t.true(seen.slice(13).every((d) => d === 'motion'), 'a moving person keeps it running');
});

test('a far person (a small figure) is motion too; lights switched on run it once, then the new room is still', (t) => {
  const gate = new MotionGate({ idleIntervalMs: 60_000 });
  gate.decide(room({ seed: 1, noise: 4 }), false, 0);
  t.is(gate.decide(room({ seed: 9, noise: 4, person: { x: 300, y: 100, w: 24, h: 40 } }), false, 50).reason, 'motion', 'a 24x40 figure');
  t.is(gate.decide(room({ seed: 2, noise: 4, light: 70 }), false, 100).reason, 'motion');
  t.is(gate.decide(room({ seed: 3, noise: 4, light: 70 }), false, 200).reason, 'still');
  t.is(gate.decide(room({ seed: 4, noise: 4, light: 70 }), false, 300).reason, 'still');
  t.is(gate.decide(room({ seed: 5, noise: 4, light: 0 }), false, 400).reason, 'motion', 'and off again');
});

test('while a face is followed the detector never skips', (t) => {
  const gate = new MotionGate({ idleIntervalMs: 60_000 });
  gate.decide(room({ seed: 1 }), false, 0);
  for (let i = 1; i < 10; i++) t.is(gate.decide(room({ seed: 1 }), true, i * 100).decision, 'run');
  t.is(gate.decide(room({ seed: 1 }), false, 1000).decision, 'skip');
});

test('thumbnails: identical frames have no changed cells; noise up to 8 levels per pixel changes none', (t) => {
  t.notThrows(() => fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 8 }), (seed, noise) => {
      const a = thumbnail(room({ seed, noise }));
      const b = thumbnail(room({ seed: seed + 7, noise }));
      return changedCells(a, a, 0) === 0 && changedCells(a, b, 12) < 4;
    }),
    { numRuns: 20 },
  ));
});
