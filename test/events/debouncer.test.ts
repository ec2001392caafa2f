import test from 'ava';
import fc from 'fast-check';
import { FerError } from '../../agent/core/errors.js';
import type { EmotionEvent } from '../../agent/core/types.js';
import { EmotionDebouncer, FACE_LOST } from '../../agent/events/debouncer.js';
import { debounce, LABELS, probs, rng, tracked, type Label } from '../tracking/faces.js';

const WALL0 = Date.UTC(2026, 10, 25, 12, 0, 0);

/** One scripted frame: time, and the smoothed probabilities of track 1 (null: the face is not in this frame). */
type Row = [number, Float32Array | null];

function run(rows: Row[], d = new EmotionDebouncer('cam', debounce)): { events: EmotionEvent[]; d: EmotionDebouncer } {
  const events: EmotionEvent[] = [];
  for (const [time, p] of rows) events.push(...d.observe(p ? [tracked(1, p)] : [], time, WALL0 + time).events);
  return { events, d };
}

/** `p` every `step` ms from `from` (inclusive) to `to` (exclusive). */
function hold(from: number, to: number, p: Float32Array | null, step = 100): Row[] {
  const rows: Row[] = [];
  for (let time = from; time < to; time += step) rows.push([time, p]);
  return rows;
}

const HAPPY = probs({ happy: 0.8 });
const SAD = probs({ sad: 0.8 });

test('a steady emotion fires exactly once, after min_duration_ms', (t) => {
  const { events, d } = run(hold(0, 10_000, HAPPY));
  t.is(events.length, 1);
  const [e] = events;
  t.like(e, { cameraId: 'cam', trackId: 1, eventType: 'happy', previous: 'none', heldMs: 1000, monoMs: 1000, wallMs: WALL0 + 1000 });
  t.true(Math.abs(e.confidence - 0.8) < 1e-6);
  t.like(d.states()[0], { trackId: 1, emotion: 'happy', sinceMonoMs: 1000 });
});

test('nothing fires below min_confidence, or when the emotion holds less than min_duration_ms', (t) => {
  t.deepEqual(run(hold(0, 10_000, probs({ happy: 0.45 }))).events, []);
  t.deepEqual(run([...hold(0, 900, HAPPY), ...hold(900, 10_000, probs({ neutral: 0.4 }))]).events, []);
  // Interrupted for one frame: the hold starts again.
  const rows = [...hold(0, 900, HAPPY), [900, SAD] as Row, ...hold(1000, 1900, HAPPY), ...hold(1900, 5000, probs({ neutral: 0.4 }))];
  t.deepEqual(run(rows).events, []);
});

test('a table of frames: neutral, then happy, then sad, each held long enough', (t) => {
  const table: Array<[number, Partial<Record<Label, number>>]> = [
    [0, { neutral: 0.9 }], [500, { neutral: 0.9 }], [1000, { neutral: 0.9 }], // neutral qualifies at 1000
    [1500, { happy: 0.7 }], [2500, { happy: 0.7 }], [3500, { happy: 0.7 }], [4000, { happy: 0.7 }], // happy at 4000 (cooldown ends)
    [4500, { sad: 0.6 }], [5500, { sad: 0.6 }], [7000, { sad: 0.6 }], // sad qualified at 5500, fires at 7000 (cooldown)
  ];
  const { events } = run(table.map(([time, p]) => [time, probs(p)]));
  t.deepEqual(events.map((e) => [e.monoMs, e.eventType, e.previous, e.heldMs]), [
    [1000, 'neutral', 'none', 1000],
    [4000, 'happy', 'neutral', 2500],
    [7000, 'sad', 'happy', 2500],
  ]);
});

test('hysteresis keeps the state while its probability stays above min_confidence − hysteresis', (t) => {
  const rows = [
    ...hold(0, 2000, HAPPY),
    // happy weakens to 0.42 (floor is 0.4); nothing else reaches min_confidence
    ...hold(2000, 8000, probs({ happy: 0.42, sad: 0.3 })),
  ];
  const { events, d } = run(rows);
  t.deepEqual(events.map((e) => e.eventType), ['happy']);
  t.like(d.states()[0], { emotion: 'happy', sinceMonoMs: 1000 });
  t.true(Math.abs(d.states()[0].confidence - 0.42) < 1e-6);

  // Below the floor the state is released (no event) ...
  run(hold(8000, 9000, probs({ happy: 0.35, sad: 0.3 })), d);
  t.like(d.states()[0], { emotion: 'none', confidence: 0, sinceMonoMs: 8000 });
  // ... and coming back to happy restores it quietly: nothing changed for consumers.
  const back = run(hold(9000, 12_000, HAPPY), d);
  t.deepEqual(back.events, []);
  t.like(d.states()[0], { emotion: 'happy', sinceMonoMs: 10_000 });
  // A different emotion after the uncertain spell is a change from happy.
  const next = run(hold(12_000, 14_000, SAD), d);
  t.deepEqual(next.events.map((e) => [e.eventType, e.previous]), [['sad', 'happy']]);
});

test('another emotion that qualifies takes over even while the state is above the floor', (t) => {
  const rows = [...hold(0, 4000, HAPPY), ...hold(4000, 8000, probs({ happy: 0.45, sad: 0.5 }))];
  const { events } = run(rows);
  t.deepEqual(events.map((e) => [e.monoMs, e.eventType, e.previous]), [
    [1000, 'happy', 'none'],
    [5000, 'sad', 'happy'],
  ]);
});

test('cooldown defers a change, it does not lose it', (t) => {
  const { events } = run([...hold(0, 1500, HAPPY), ...hold(1500, 6000, SAD)]);
  t.deepEqual(events.map((e) => [e.monoMs, e.eventType, e.heldMs]), [
    [1000, 'happy', 1000],
    [4000, 'sad', 2500], // qualified at 2500, cooldown until 1000 + 3000
  ]);
});

test('a change that stops holding during the cooldown is dropped', (t) => {
  const { events, d } = run([...hold(0, 1500, HAPPY), ...hold(1500, 3000, SAD), ...hold(3000, 8000, HAPPY)]);
  t.deepEqual(events.map((e) => e.eventType), ['happy']);
  t.is(d.states()[0].emotion, 'happy');
});

test('face_lost fires after absence_timeout_ms, not before, with the last state and the time present', (t) => {
  const d = new EmotionDebouncer('cam', debounce);
  run(hold(0, 5100, HAPPY), d); // last seen at 5000
  t.deepEqual(d.observe([], 6900, WALL0 + 6900).events, [], 'absent 1.9 s: not yet');
  t.deepEqual(d.tick(6999, WALL0 + 6999).events, []);
  const { events, expired } = d.tick(7000, WALL0 + 7000);
  t.deepEqual(expired, [1]);
  t.is(events.length, 1);
  t.like(events[0], { eventType: 'face_lost', previous: 'happy', trackId: 1, heldMs: 5000, monoMs: 7000, wallMs: WALL0 + 7000 });
  t.true(Math.abs(events[0].confidence - 0.9) < 1e-6, 'the detector score at the last sighting');
  t.deepEqual(d.states(), []);
  t.deepEqual(d.tick(20_000, WALL0 + 20_000).events, [], 'only once');
});

test('a face back within the absence timeout is not lost', (t) => {
  const { events } = run([...hold(0, 3000, HAPPY), ...hold(3000, 4900, null), ...hold(4900, 6000, HAPPY), ...hold(6000, 7900, null)]);
  t.deepEqual(events.map((e) => e.eventType), ['happy']);
});

test('a face that never settled on an emotion expires without face_lost', (t) => {
  const d = new EmotionDebouncer('cam', debounce);
  run(hold(0, 3000, probs({ happy: 0.3 })), d);
  const r = d.tick(10_000, WALL0 + 10_000);
  t.deepEqual(r.events, []);
  t.deepEqual(r.expired, [1]);
});

test('flush ends every track at once', (t) => {
  const d = new EmotionDebouncer('cam', debounce);
  for (let time = 0; time <= 1500; time += 100) d.observe([tracked(1, HAPPY), tracked(2, SAD), tracked(3, probs({ happy: 0.2 }))], time, WALL0 + time);
  const r = d.flush(1600, WALL0 + 1600);
  t.deepEqual(r.events.map((e) => [e.trackId, e.eventType, e.previous]), [[1, 'face_lost', 'happy'], [2, 'face_lost', 'sad']]);
  t.deepEqual(r.expired, [1, 2, 3]);
});

test('flapping every frame raises no events at all', (t) => {
  const rows: Row[] = [];
  for (let time = 0; time < 60_000; time += 100) rows.push([time, (time / 100) % 2 === 0 ? HAPPY : SAD]);
  t.deepEqual(run(rows).events, []);
});

test('noise around the threshold: hysteresis keeps the state steady', (t) => {
  const rand = rng(7);
  const d = new EmotionDebouncer('cam', debounce);
  const { events } = run(hold(0, 1500, HAPPY), d);
  for (let time = 1500; time < 60_000; time += 100) {
    const h = 0.52 + (rand() - 0.5) * 0.16; // 0.44..0.60: often below min_confidence, never below the floor
    events.push(...d.observe([tracked(1, probs({ happy: h, sad: 0.2 }))], time, WALL0 + time).events);
    t.is(d.states()[0].emotion, 'happy', `state at ${time}`);
  }
  t.deepEqual(events.map((e) => e.eventType), ['happy']);
});

test('emotions swapping every 1.2 s are held to one event per cooldown', (t) => {
  const rand = rng(11);
  const rows: Row[] = [];
  for (let time = 0; time < 60_000; time += 100) {
    const p = 0.7 + (rand() - 0.5) * 0.1;
    rows.push([time, Math.floor(time / 1200) % 2 === 0 ? probs({ happy: p }) : probs({ sad: p })]);
  }
  const emotions = run(rows).events;
  t.true(emotions.length >= 10, `${emotions.length} events: changes still get through`);
  t.true(emotions.length <= 60_000 / debounce.cooldown_ms + 1, `${emotions.length} events`);
  for (let i = 1; i < emotions.length; i++) t.true(emotions[i].monoMs - emotions[i - 1].monoMs >= debounce.cooldown_ms);
});

test('two tracks are debounced independently', (t) => {
  const d = new EmotionDebouncer('cam', debounce);
  const events: EmotionEvent[] = [];
  for (let time = 0; time < 3000; time += 100) {
    events.push(...d.observe([tracked(1, HAPPY), tracked(2, time < 500 ? HAPPY : SAD)], time, WALL0 + time).events);
  }
  t.deepEqual(events.map((e) => [e.trackId, e.eventType, e.monoMs]), [[1, 'happy', 1000], [2, 'sad', 1500]]);
  t.deepEqual(d.states().map((s) => [s.trackId, s.emotion]), [[1, 'happy'], [2, 'sad']]);
});

test('time going backwards does not produce negative durations', (t) => {
  const { events } = run([[5000, HAPPY], [4000, HAPPY], [6000, HAPPY]]);
  t.deepEqual(events.map((e) => [e.monoMs, e.heldMs]), [[6000, 1000]]);
});

test('invalid debounce settings are config errors naming the key', (t) => {
  for (const [bad, key] of [
    [{ ...debounce, min_confidence: 1.5 }, 'debounce.min_confidence'],
    [{ ...debounce, hysteresis: -0.1 }, 'debounce.hysteresis'],
    [{ ...debounce, cooldown_ms: Number.NaN }, 'debounce.cooldown_ms'],
  ] as const) {
    const err = t.throws(() => new EmotionDebouncer('cam', bad), { instanceOf: FerError });
    t.is(err?.reason, 'config_invalid');
    t.true(err?.message.includes(key));
  }
});

// Any input: per track, emotion events ≤ duration / cooldown + 1, spaced by the cooldown, and chained (each event's
// previous is the track's previous event type), with face_lost last.
test('property: no event storm for any sequence', (t) => {
  const frame = fc.record({
    dt: fc.integer({ min: 1, max: 400 }),
    faces: fc.array(
      fc.record({ trackId: fc.integer({ min: 1, max: 3 }), weights: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: LABELS.length, maxLength: LABELS.length }) }),
      { maxLength: 3 },
    ),
  });
  const config = fc.record({
    min_confidence: fc.double({ min: 0, max: 0.9, noNaN: true }),
    min_duration_ms: fc.integer({ min: 0, max: 2000 }),
    hysteresis: fc.double({ min: 0, max: 0.3, noNaN: true }),
    cooldown_ms: fc.integer({ min: 1, max: 5000 }),
    absence_timeout_ms: fc.integer({ min: 0, max: 3000 }),
  });
  fc.assert(
    fc.property(config, fc.array(frame, { minLength: 1, maxLength: 300 }), (cfg, frames) => {
      const d = new EmotionDebouncer('cam', cfg);
      const events: EmotionEvent[] = [];
      let time = 0;
      for (const f of frames) {
        time += f.dt;
        const seen = new Map<number, Float32Array>();
        for (const face of f.faces) {
          const sum = face.weights.reduce((a, b) => a + b, 0) || 1;
          seen.set(face.trackId, Float32Array.from(face.weights, (w) => w / sum));
        }
        events.push(...d.observe([...seen].map(([id, p]) => tracked(id, p)), time, WALL0 + time).events);
      }
      const duration = time;
      for (const id of [1, 2, 3]) {
        const mine = events.filter((e) => e.trackId === id);
        const emotions = mine.filter((e) => e.eventType !== FACE_LOST);
        if (emotions.length > duration / cfg.cooldown_ms + 1) return false;
        for (let i = 1; i < emotions.length; i++) if (emotions[i].monoMs - emotions[i - 1].monoMs < cfg.cooldown_ms) return false;
        let previous = 'none';
        for (const e of mine) {
          if (e.previous !== previous || e.eventType === previous) return false;
          if (e.heldMs < (e.eventType === FACE_LOST ? 0 : cfg.min_duration_ms)) return false;
          previous = e.eventType === FACE_LOST ? 'none' : e.eventType; // a lost track's id may come back as new
        }
      }
      return true;
    }),
    { numRuns: 300, seed: 20261125 },
  );
  t.pass();
});
