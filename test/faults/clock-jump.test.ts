/**
 * Wall-clock jumps (NTP correction, RTC reset on a Pi without battery, DST mistakes) must not change debouncing:
 * durations come from the monotonic clock. The same frames through the real pipeline, once with a steady wall clock
 * and once with a wall clock that jumps back an hour and forward a day, give the same events at the same monotonic
 * times; only the wall timestamps differ, and they follow the wall clock.
 */
import test from 'ava';
import { ManualClock } from '../helpers/clock.js';
import type { EmotionEvent } from '../../agent/core/types.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { sampleJpegs, soakPipeline } from '../soak/support.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Script {
  /** Wall-clock jumps applied before frame i. */
  jumps: Record<number, number>;
}

/** 20 face frames (200 ms apart), then no frames for 2.6 s (idle ticks), then 12 more face frames and 10 empty ones. */
async function play(s: Script): Promise<{ events: EmotionEvent[]; frameWall: number[] }> {
  const jpegs = sampleJpegs();
  const faces = jpegs.filter((j) => j.faces === 1);
  const empty = jpegs.filter((j) => j.faces === 0);
  const clock = new ManualClock();
  const p = await soakPipeline('onnxruntime', 'centerface', clock, { 'debounce.min_confidence': 0.3 });
  const frameWall: number[] = [];
  try {
    let i = 0;
    const frame = async (bytes: Buffer): Promise<void> => {
      clock.advance(200);
      if (s.jumps[i] !== undefined) clock.wallOffset += s.jumps[i]!;
      frameWall.push(clock.wall());
      await p.pipeline.process(await decodeFrame('cam', { seq: i++, monoMs: clock.mono(), wallMs: clock.wall(), bytes }));
    };
    for (let k = 0; k < 20; k++) await frame(faces[k % 12]!.bytes);
    // The camera stalls: only the agent's idle timer runs (every 250 ms), the wall clock jumps meanwhile.
    for (let k = 0; k < 10; k++) {
      clock.advance(260);
      if (k === 3) clock.wallOffset -= DAY;
      p.pipeline.idleTick();
    }
    for (let k = 0; k < 12; k++) await frame(faces[12 + (k % 12)]!.bytes);
    for (let k = 0; k < 10; k++) await frame(empty[k % empty.length]!.bytes);
  } finally {
    await p.dispose();
  }
  return { events: p.events, frameWall };
}

const monoView = (e: EmotionEvent) => ({ type: e.eventType, previous: e.previous, track: e.trackId, mono: e.monoMs, held: e.heldMs });

test('debouncing follows the monotonic clock through wall-clock jumps', async (t) => {
  t.timeout(60_000);
  const steady = await play({ jumps: {} });
  const jumpy = await play({ jumps: { 5: -HOUR, 12: +DAY, 25: -7 * DAY } });
  t.log(steady.events.map((e) => `${e.monoMs} ${e.eventType} (track ${e.trackId}, held ${e.heldMs} ms)`));

  const emotions = steady.events.filter((e) => e.eventType !== 'face_lost');
  const lost = steady.events.filter((e) => e.eventType === 'face_lost');
  t.true(emotions.length >= 2, 'an emotion event for each of the two faces');
  t.is(lost.length, 2, 'face_lost once when the camera stalls and once when the face leaves');
  // Emotions need min_duration_ms (1000) of monotonic time; face_lost needs absence_timeout_ms (2000).
  t.true(emotions.every((e) => e.heldMs >= 1000));
  t.deepEqual(jumpy.events.map(monoView), steady.events.map(monoView), 'same events at the same monotonic times');

  // Wall timestamps follow the wall clock, jumps included (what people see), never feed the timing.
  const shifted = jumpy.events.map((e, i) => e.wallMs - steady.events[i]!.wallMs);
  t.true(shifted.some((d) => d !== 0), 'the jumps show in the wall timestamps');
  for (const e of jumpy.events.filter((x) => x.eventType !== 'face_lost')) t.true(jumpy.frameWall.includes(e.wallMs), 'an emotion event carries its frame\'s wall time');
});
